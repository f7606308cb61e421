"""ROAD's linear imputation solved on the tensors' own device: a batched, Jacobi-preconditioned conjugate
gradient on the 8-neighbour stencil, for many images and removal fractions at once.

The system (ROAD, Rong et al. ICML 2022, section 5; the authors' ``NoisyLinearImputer.setup_sparse_system``
in github.com/tleemann/road_evaluation, ``road/imputations.py``): one unknown per removed pixel ``u``,

    ``d_u x_u - sum_{v removed} w_uv x_v = sum_{v kept} w_uv x_v``,

with ``w_uv`` the weights of :data:`NEIGHBOURS` over the in-image neighbours and
``d_u = sum_v w_uv`` over all of them (the authors write the same rows with both sides negated). The matrix
is ``L_UU``, the rows and columns of the removed pixels in the weighted graph Laplacian ``L = D - W`` of the
8-neighbour pixel grid. It is **symmetric** (``w_uv = w_vu``: every offset's opposite has the same weight)
and **positive definite** whenever at least one pixel is kept: ``L`` is positive semi-definite with the
constants as its only null space on the connected grid, so ``p^T L_UU p = p'^T L p'`` (``p'`` = ``p`` on
the removed pixels, 0 on the kept ones) vanishes only when ``p'`` is constant, i.e. zero. Conjugate
gradients therefore converge for every such system (in exact arithmetic in at most ``|U|`` steps), with the
error in the ``L_UU``-norm falling at least by ``2 ((sqrt k - 1) / (sqrt k + 1))^i`` after ``i`` steps,
``k`` the condition number: it grows with the square of the width of the largest removed region, so a
10%-kept 227 x 227 photo needs some hundreds of steps. The Jacobi preconditioner is ``d_u`` (1 inside the
image, less on its border).

The matrix is never formed: ``L_UU p`` is the 3 x 3 stencil applied to ``p`` (zero outside the image and
on kept pixels), which is the same few element-wise operations for a whole batch on any device. The
solver works in float64 (the scipy reference does) and stops when every system's residual is below
``rtol`` times its right-hand side; at the default :data:`RTOL` the solution is within
:data:`TOLERANCE` of :func:`scipy.sparse.linalg.spsolve`'s on 227 x 227 photos (``bench/road.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from attribkit.errors import InputError

#: Relative residual at which the conjugate gradient stops (``||r|| <= RTOL ||b||`` for every system).
RTOL = 1e-9
#: The largest ``|device - scipy|`` of an imputed pixel, in the image's units, that the tests accept and
#: ``bench/road.py`` checks on ILSVRC photos (the largest measured at :data:`RTOL` is far below it).
TOLERANCE = 1e-6
#: The residual is read back (one device synchronisation) once every this many steps.
CHECK_EVERY = 10


#: (row offset, column offset, weight): the 8-neighbourhood of the reference implementation; sums to 1.
NEIGHBOURS = (
    (0, 1, 1 / 6), (0, -1, 1 / 6), (1, 0, 1 / 6), (-1, 0, 1 / 6),
    (1, 1, 1 / 12), (1, -1, 1 / 12), (-1, 1, 1 / 12), (-1, -1, 1 / 12),
)


def _neighbour_sum(p: torch.Tensor) -> torch.Tensor:
    """``sum_v w_uv p_v`` over the in-image neighbours ``v`` of every pixel ``u``: ``p`` ``[B, H, W]``."""
    height, width = p.shape[-2:]
    padded = F.pad(p, (1, 1, 1, 1))     # neighbours outside the image are dropped: they contribute 0
    out = torch.zeros_like(p)
    for dy, dx, weight in NEIGHBOURS:
        out.add_(padded[..., 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width], alpha=weight)
    return out


def max_steps(height: int, width: int) -> int:
    """The step limit of :func:`linear_imputation`: far above what any measured mask needed (the count
    grows with the width of the largest removed region: 870 steps for a 227 x 227 photo with one
    corner pixel or only a 72 x 72 corner kept), far below ``|U|``."""
    return 10 * (height + width) + 500


def linear_imputation(
    images: torch.Tensor, removed: torch.Tensor, *, rtol: float = RTOL, max_iter: int | None = None
) -> torch.Tensor:
    """Fill the removed pixels of every image by ROAD's linear system (no noise), on the images' device.

    Parameters
    ----------
    images
        ``[B, C, H, W]`` values (any units); ``B`` pairs of an image and a removal mask, e.g. every image
        at every fraction.
    removed
        ``[B, H, W]`` booleans on the same device: the pixels to impute (all channels). Each image must
        keep at least one pixel; an image with none removed comes back unchanged.
    rtol
        Stop once every system's residual norm is at most ``rtol`` times its right-hand side's.
    max_iter
        Step limit (default :func:`max_steps`).

    Returns
    -------
    torch.Tensor
        ``[B, C, H, W]`` float64 on ``images.device``: kept pixels unchanged, removed pixels the solution.

    Raises
    ------
    InputError
        Shapes or devices that do not match, or an image with every pixel removed.
        (also a ``ValueError``).
    RuntimeError
        The residual did not fall below ``rtol`` within ``max_iter`` steps: not seen on any mask (the
        system is positive definite), so a bug rather than a user's mistake.
    """
    if images.ndim != 4 or removed.shape != (images.shape[0], *images.shape[2:]):
        raise InputError(f"need images [B, C, H, W] and removed [B, H, W]; got {tuple(images.shape)} "
                         f"and {tuple(removed.shape)}")
    if removed.device != images.device:
        raise InputError(f"images on {images.device} but removed on {removed.device}")
    batch, channels, height, width = images.shape
    if bool(removed.flatten(1).all(dim=1).any()):
        raise InputError("every pixel is removed: nothing to impute from")
    # Every (image, channel) is its own system with its own step sizes; the channels share the matrix.
    mask = removed.to(torch.float64).repeat_interleave(channels, dim=0)
    kept = images.detach().to(torch.float64).reshape(batch * channels, height, width) * (1 - mask)
    degree = _neighbour_sum(torch.ones(1, height, width, dtype=torch.float64, device=images.device))

    def apply(p: torch.Tensor) -> torch.Tensor:
        return mask * (degree * p - _neighbour_sum(p))

    b = mask * _neighbour_sum(kept)
    solution = torch.zeros_like(b)
    residual = b.clone()
    limit = rtol * b.square().sum(dim=(1, 2)).sqrt()
    z = residual / degree
    direction = z.clone()
    rz = (residual * z).sum(dim=(1, 2))
    steps = max_steps(height, width) if max_iter is None else max_iter
    for step in range(steps + 1):
        if step % CHECK_EVERY == 0 or step == steps:
            if bool((residual.square().sum(dim=(1, 2)).sqrt() <= limit).all()):
                break
            if step == steps:
                raise RuntimeError(f"linear imputation did not converge in {steps} conjugate-gradient steps")
        a_direction = apply(direction)
        curvature = (direction * a_direction).sum(dim=(1, 2))
        # A converged (or empty) system has zero residual and direction: its step stays 0, not 0/0.
        alpha = torch.where(curvature > 0, rz / curvature.clamp_min(torch.finfo(torch.float64).tiny), 0.0)
        solution.addcmul_(alpha[:, None, None], direction)
        residual.addcmul_(alpha[:, None, None], a_direction, value=-1.0)
        z = residual / degree
        rz_next = (residual * z).sum(dim=(1, 2))
        beta = torch.where(rz > 0, rz_next / rz.clamp_min(torch.finfo(torch.float64).tiny), 0.0)
        rz = rz_next
        direction = z + beta[:, None, None] * direction
    return (kept + solution).reshape(batch, channels, height, width)
