"""ROAD: RemOve And Debias, the removal metric of Rong, Leemann, Nguyen, Fiedler, Rahimi & Kasneci (ICML 2022,
"A Consistent and Efficient Evaluation Strategy for Attribution Methods", arXiv 2202.00449).

Deletion curves (:mod:`attribkit.metrics._faithfulness`) paint removed pixels with a constant: the
*shape* of what was removed is then visible to the model, and the score falls because the image left the
training distribution as much as because evidence was removed (the "class information leakage" of the
paper's section 4). ROAD fills removed pixels by *noisy linear imputation* (section 5): each removed
pixel is the weighted mean of its 8 neighbours (weight 1/6 for the 4 direct ones, 1/12 for the
diagonals), solved jointly as one sparse linear system, plus a little Gaussian noise so that the
imputed region carries no tell-tale smoothness. Removing the most relevant pixels first (MoRF) should
make the score fall fast; removing the least relevant first (LeRF) should keep it.

The system and its weights follow the authors' reference implementation (``imputations.py`` of
github.com/tleemann/road_evaluation, also shipped by pytorch-grad-cam): neighbours outside the image
are dropped and the remaining weights renormalised; noise ``0.01`` in the units of the image given.

Where the system is solved: on the CPU by SciPy's sparse direct solver (the reference); on a CUDA device by
a batched conjugate gradient on the device (:mod:`attribkit.metrics._road_solver`), every image and
fraction of a batch at once, equal to SciPy's solution within
:data:`~attribkit.metrics._road_solver.TOLERANCE`. The noise is drawn by the same NumPy generator in the
same order on both, so a curve is the same on either device up to that tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from attribkit._core.guards import frozen, model_device
from attribkit._core.inputs import check_inputs
from attribkit._core.interfaces import TargetType
from attribkit._core.outputs import class_scores
from attribkit._core.targets import resolve_targets
from attribkit.errors import InputError, OptionError, TargetError
from attribkit.metrics._faithfulness import PerturbationCurve
from attribkit.metrics._road_solver import NEIGHBOURS, linear_imputation

Order = Literal["morf", "lerf"]
RoadScore = Literal["probability", "logit", "accuracy"]

#: The percentages of pixels removed in the paper's figures and in pytorch-grad-cam: 10%, 20%, ..., 90%.
FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

@dataclass(frozen=True)
class RoadCurve(PerturbationCurve):
    """Class scores as the most (MoRF) or least (LeRF) relevant pixels are removed and imputed.

    Attributes
    ----------
    fractions
        ``[S]`` fraction of the pixels removed at each point, in ``[0, 1)``, increasing.
    scores
        ``[N, S]`` the target class's softmax probability, logit, or 1/0 for a right/wrong top-1 class.
    targets
        ``[N]`` the class explained for each image.
    order
        ``"morf"`` or ``"lerf"``.

    ``.auc()`` is the trapezoidal area over ``fractions`` (``[N]``); ``.mean()`` the mean over the
    fractions, the number the paper and pytorch-grad-cam report. Low is good under MoRF, high under LeRF.
    """

    order: str = "morf"

    def mean(self) -> torch.Tensor:
        """``[N]`` each image's score averaged over the fractions."""
        return self.scores.mean(dim=-1)


def noisy_linear_imputation(
    image: np.ndarray | torch.Tensor,
    removed: np.ndarray | torch.Tensor,
    *,
    noise: float = 0.01,
    rng: np.random.Generator | int | None = 0,
) -> np.ndarray:
    """Fill the ``removed`` pixels of ``image`` with the weighted mean of their neighbours, plus noise.

    Every removed pixel ``u`` satisfies ``sum_v w_uv (x_u - x_v) = 0`` over its in-image neighbours
    ``v`` (weights :data:`NEIGHBOURS`); known neighbours move to the right-hand side, and the sparse
    system (one unknown per removed pixel, one right-hand side per channel) is solved with
    :func:`scipy.sparse.linalg.spsolve`. Then ``noise`` times standard normal noise is added to the
    removed pixels (ROAD, Rong et al. 2022, section 5). A linear function of the pixel coordinates is
    reproduced exactly (without noise) wherever every neighbour of a removed pixel lies in the image.

    An ``image`` that is a CUDA tensor is solved on its device instead, by the conjugate gradient of
    :func:`attribkit.metrics._road_solver.linear_imputation` (the system is symmetric positive definite;
    see there), with the same noise from the same generator; only the result is copied to the CPU. It
    equals the SciPy solution within :data:`~attribkit.metrics._road_solver.TOLERANCE` (1e-6 in the
    image's units). :func:`road` keeps its copies on the device throughout.

    Parameters
    ----------
    image
        ``[C, H, W]`` values (any units; the model's input space in :func:`road`).
    removed
        ``[H, W]`` booleans: the pixels to impute (all channels). At least one pixel must be kept.
    noise
        Standard deviation of the Gaussian noise, in the units of ``image`` (the reference uses 0.01).
    rng
        A numpy ``Generator`` or a seed for the noise.

    Returns
    -------
    numpy.ndarray
        ``[C, H, W]`` float64: ``image`` with the removed pixels imputed; kept pixels unchanged.

    Raises
    ------
    InputError
        Shapes that do not match, or every pixel removed.
    OptionError
        ``noise < 0`` (each is also a ``ValueError``).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    if isinstance(image, torch.Tensor) and _solves_on_device(image.device):
        if image.ndim != 3 or tuple(removed.shape) != tuple(image.shape[1:]):
            raise InputError(f"need image [C, H, W] and removed [H, W]; got {tuple(image.shape)} and "
                             f"{tuple(removed.shape)}")
        if noise < 0:
            raise OptionError(f"noise must be >= 0; got {noise}")
        mask = torch.as_tensor(removed, device=image.device).bool()
        if not bool(mask.any()):
            return image.detach().to(torch.float64).cpu().numpy()
        return imputed_on_device(image[None], mask[None], noise=noise, rng=rng)[0].cpu().numpy()
    img = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image, dtype=np.float64)
    mask = np.asarray(removed.detach().cpu() if isinstance(removed, torch.Tensor) else removed, dtype=bool)
    if img.ndim != 3 or mask.shape != img.shape[1:]:
        raise InputError(f"need image [C, H, W] and removed [H, W]; got {img.shape} and {mask.shape}")
    if noise < 0:
        raise OptionError(f"noise must be >= 0; got {noise}")
    channels, height, width = img.shape
    out = img.copy()
    unknown = np.flatnonzero(mask.ravel())
    if unknown.size == 0:
        return out
    if unknown.size == mask.size:
        raise InputError("every pixel is removed: nothing to impute from")
    flat = img.reshape(channels, -1)
    known = ~mask.ravel()
    variable = np.full(mask.size, -1)
    variable[unknown] = np.arange(unknown.size)
    rows, cols = np.divmod(unknown, width)
    diagonal = np.zeros(unknown.size)
    rhs = np.zeros((unknown.size, channels))
    a_rows, a_cols, a_vals = [], [], []
    for dy, dx, weight in NEIGHBOURS:
        r, c = rows + dy, cols + dx
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        eq = np.flatnonzero(inside)
        neighbour = r[inside] * width + c[inside]
        diagonal[eq] += weight
        is_known = known[neighbour]
        rhs[eq[is_known]] += weight * flat[:, neighbour[is_known]].T
        a_rows.append(eq[~is_known])
        a_cols.append(variable[neighbour[~is_known]])
        a_vals.append(np.full(int((~is_known).sum()), -weight))
    idx = np.arange(unknown.size)
    system = coo_matrix(
        (np.concatenate([diagonal, *a_vals]), (np.concatenate([idx, *a_rows]), np.concatenate([idx, *a_cols]))),
        shape=(unknown.size, unknown.size),
    ).tocsc()
    solution = np.asarray(spsolve(system, rhs)).reshape(unknown.size, channels)
    if noise > 0:
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        solution = solution + noise * generator.standard_normal(solution.shape)
    out.reshape(channels, -1)[:, unknown] = solution.T
    return out


def _solves_on_device(device: torch.device) -> bool:
    """Whether ROAD's systems on ``device`` are solved there (by conjugate gradients) rather than by SciPy.

    Only on CUDA: on a CPU SciPy's direct solver is several times faster than the conjugate gradient
    (``bench/road.py``), and other accelerators lack the float64 the solver works in.
    """
    return device.type == "cuda"


def imputed_on_device(
    images: torch.Tensor, removed: torch.Tensor, *, noise: float, rng: np.random.Generator | int | None
) -> torch.Tensor:
    """:func:`noisy_linear_imputation` of a batch, on the images' device: ``[B, C, H, W]`` float64.

    ``images`` ``[B, C, H, W]``, ``removed`` ``[B, H, W]`` booleans on the same device. The noise of pair
    ``b`` is ``rng.standard_normal((k_b, C))`` for its ``k_b`` removed pixels in row-major order, drawn in
    the order of ``b``, exactly as one :func:`noisy_linear_imputation` call per pair draws it; only these
    draws travel from the CPU to the device.
    """
    out = linear_imputation(images, removed)
    if noise == 0:
        return out
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    batch, channels, height, width = out.shape
    flat = removed.reshape(batch, height * width)
    counts = flat.sum(dim=1).tolist()
    if not any(counts):
        return out
    draws = np.concatenate([generator.standard_normal((k, channels)) for k in counts if k > 0])
    dense = torch.zeros(batch, height * width, channels, dtype=torch.float64, device=out.device)
    dense[flat] = torch.as_tensor(draws, device=out.device)   # boolean indexing walks (pair, pixel) row-major
    return out.add_(dense.transpose(1, 2).reshape(out.shape), alpha=noise)


def removal_masks(maps: torch.Tensor, fractions: Sequence[float], *, order: Order = "morf") -> torch.Tensor:
    """Which pixels ROAD removes: ``[N, S, H, W]`` booleans from maps ``[N, H, W]``.

    Point ``s`` removes ``round(fractions[s] * H * W)`` pixels: the highest map values for ``"morf"``,
    the lowest for ``"lerf"``; ties are broken by pixel order (row-major), as in the deletion curve.
    """
    if order not in ("morf", "lerf"):
        raise OptionError(f"order must be 'morf' or 'lerf'; got {order!r}")
    n, height, width = maps.shape
    pixels = height * width
    values = maps.detach().to(dtype=torch.float64).reshape(n, pixels)
    ranking = torch.argsort(-values if order == "morf" else values, dim=1, stable=True)
    rank = torch.empty_like(ranking).scatter_(1, ranking, torch.arange(pixels, device=ranking.device).expand(n, -1))
    counts = torch.round(torch.as_tensor(list(fractions), dtype=torch.float64) * pixels).long().to(rank.device)
    return (rank.unsqueeze(1) < counts.view(1, -1, 1)).view(n, len(counts), height, width)


def road(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    maps: torch.Tensor,
    target: TargetType = None,
    *,
    order: Order = "morf",
    fractions: Sequence[float] = FRACTIONS,
    noise: float = 0.01,
    score: RoadScore = "probability",
    batch_size: int = 64,
    seed: int = 0,
) -> RoadCurve:
    """ROAD (Rong et al. 2022): remove a fraction of the pixels by the map, impute them, score the class.

    For every image and fraction the removed pixels are filled by :func:`noisy_linear_imputation`; the
    copies go through ``model`` in chunks of ``batch_size`` on the model's device, in eval mode without
    gradients. On a CPU each copy is one SciPy sparse solve; on a CUDA device each chunk's copies are
    imputed together on the device by conjugate gradients (:mod:`attribkit.metrics._road_solver`), with
    the same noise draws, so the scores equal the CPU's up to the solver's
    :data:`~attribkit.metrics._road_solver.TOLERANCE` (1e-6 in the inputs' units) and float rounding
    in the model.

    Parameters
    ----------
    model
        Classifier returning unnormalised class scores.
    inputs
        ``[N, C, H, W]`` images in the model's input space.
    maps
        ``[N, H, W]`` attribution maps (higher = more relevant).
    target
        ``None`` (each image's top-1 class on the unperturbed input), an int or ``[N]``.
    order
        ``"morf"`` removes the most relevant pixels first (a faithful map makes the score fall fast),
        ``"lerf"`` the least relevant (a faithful map keeps it).
    fractions
        Fractions of the pixels removed, each in ``[0, 1)``, increasing; default 10%, ..., 90% as in the
        paper.
    noise
        Standard deviation of the imputation noise in the units of ``inputs`` (0.01 in the reference).
    score
        ``"probability"`` (softmax), ``"logit"``, or ``"accuracy"`` (1 when the top-1 class is the
        target, the paper's figures averaged over images).
    batch_size
        Imputed copies per forward pass.
    seed
        Seed of the imputation noise (the same seed gives the same curve).

    Returns
    -------
    RoadCurve
        ``.scores`` ``[N, S]``, ``.auc()``, ``.mean()``.

    Raises
    ------
    InputError
        Maps whose shape does not match the inputs.
    OptionError
        Fractions outside ``[0, 1)`` or removing every pixel, unknown ``order``/``score``.
    TargetError
        Targets that are not one class per image (each is also a ``ValueError``).

    Example
    -------
    >>> curve = road(model, x, saliency_map(grads), target=285, order="morf")  # doctest: +SKIP
    >>> curve.mean()                                                            # doctest: +SKIP
    """
    check_inputs(inputs)
    n, _, height, width = inputs.shape
    maps = torch.as_tensor(maps)
    if maps.shape != (n, height, width):
        raise InputError(f"maps must be [N, H, W] = {(n, height, width)} to match the inputs; got {tuple(maps.shape)}")
    fracs = [float(f) for f in fractions]
    if not fracs or any(not 0.0 <= f < 1.0 for f in fracs) or any(b <= a for a, b in zip(fracs, fracs[1:])):
        raise OptionError(f"fractions must be increasing values in [0, 1); got {list(fractions)}")
    if round(fracs[-1] * height * width) >= height * width:
        raise OptionError(f"fraction {fracs[-1]} removes every pixel of a {height}x{width} image")
    if score not in ("probability", "logit", "accuracy"):
        raise OptionError(f"score must be 'probability', 'logit' or 'accuracy'; got {score!r}")
    if batch_size < 1:
        raise OptionError(f"batch_size must be >= 1; got {batch_size}")
    if noise < 0:
        raise OptionError(f"noise must be >= 0; got {noise}")
    device = model_device(model)
    on_device = _solves_on_device(device)
    x = inputs.detach()
    if on_device:
        masks = removal_masks(maps.to(device), fracs, order=order)
        images = x.to(device)
    else:
        masks = removal_masks(maps, fracs, order=order).cpu().numpy()
        images = x.cpu().numpy()
    rng = np.random.default_rng(seed)
    steps = len(fracs)
    out = torch.empty(n * steps, dtype=x.dtype)
    with frozen(model), torch.no_grad():
        resolved = resolve_targets(target, None, class_scores(model, x.to(device)))
        if not resolved.single:
            raise TargetError("ROAD explains one class per image (target int or [N])")
        classes = resolved.index[:, 0].to(device)
        for start in range(0, n * steps, batch_size):
            pairs = [divmod(p, steps) for p in range(start, min(start + batch_size, n * steps))]
            img = torch.as_tensor([i for i, _ in pairs], device=device)
            if on_device:
                step = torch.as_tensor([s for _, s in pairs], device=device)
                batch = imputed_on_device(images[img], masks[img, step], noise=noise, rng=rng)
            else:
                batch = np.stack([noisy_linear_imputation(images[i], masks[i, s], noise=noise, rng=rng)
                                  for i, s in pairs])
            logits = class_scores(model, torch.as_tensor(batch, dtype=x.dtype, device=device))
            if score == "accuracy":
                values = (logits.argmax(dim=1) == classes[img]).to(x.dtype)
            else:
                chosen = logits.softmax(dim=1) if score == "probability" else logits
                values = chosen.gather(1, classes[img].unsqueeze(1))[:, 0]
            out[start : start + len(pairs)] = values.cpu()
    return RoadCurve(torch.tensor(fracs, dtype=x.dtype), out.view(n, steps), resolved.index[:, 0].cpu(), order)
