"""Faithfulness: the deletion and insertion curves of Petsiuk, Das & Saenko (2018, "RISE", section 4.1).

*Deletion* removes pixels from the image, most salient first, and records the class score after each
step: a faithful map makes it fall fast (low area under the curve is good). *Insertion* starts from a
blurred copy and puts the original pixels back, most salient first: a faithful map makes the score rise
fast (high area is good). All perturbed copies of a batch go through the model in chunks of
``batch_size`` on the model's device, so on a GPU a whole curve costs a few forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

import torch

from attribkit._core.guards import frozen
from attribkit._core.inputs import check_inputs
from attribkit._core.interfaces import TargetType
from attribkit._core.outputs import class_scores
from attribkit._core.targets import resolve_targets
from attribkit.errors import InputError, OptionError, TargetError

#: What replaces (deletion) or precedes (insertion) the image: a constant in the model's input space,
#: ``"blur"`` (a Gaussian blur of the image, kernel 11, sigma 5, as in the RISE code), or a tensor
#: broadcastable to the inputs.
Substrate = Union[float, Literal["blur"], torch.Tensor]
Score = Literal["probability", "logit"]


@dataclass(frozen=True)
class PerturbationCurve:
    """Class scores as pixels are deleted or inserted.

    Attributes
    ----------
    fractions
        ``[S + 1]`` fraction of the pixels perturbed after each step, from 0 to 1.
    scores
        ``[N, S + 1]`` the target class's score (softmax probability or logit) at each step.
    targets
        ``[N]`` the class explained for each image.
    """

    fractions: torch.Tensor
    scores: torch.Tensor
    targets: torch.Tensor

    def auc(self) -> torch.Tensor:
        """``[N]`` area under each image's curve (trapezoidal rule over the fractions)."""
        return auc(self.scores, self.fractions)


def auc(scores: torch.Tensor, fractions: torch.Tensor | None = None) -> torch.Tensor:
    """Area under curves ``scores[..., S + 1]`` over ``fractions`` (default: ``S + 1`` even steps of [0, 1]).

    Example
    -------
    >>> auc(torch.tensor([1.0, 0.5, 0.0])).item()
    0.5
    """
    if scores.ndim < 1 or scores.shape[-1] < 2:
        raise InputError(f"a curve needs at least two points; got scores of shape {tuple(scores.shape)}")
    if fractions is None:
        fractions = torch.linspace(0, 1, scores.shape[-1], dtype=scores.dtype, device=scores.device)
    return torch.trapezoid(scores, fractions.to(scores), dim=-1)


def blur(inputs: torch.Tensor, *, kernel_size: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """The insertion curve's starting image: a Gaussian blur of ``inputs`` ``[N, C, H, W]``.

    Separable, with reflected borders: the same numbers as torchvision's ``gaussian_blur`` (which the
    RISE code used), without importing torchvision on this path.
    """
    if kernel_size < 1 or kernel_size % 2 == 0 or sigma <= 0:
        raise OptionError(f"need an odd kernel_size >= 1 and sigma > 0; got {kernel_size}, {sigma}")
    half = (kernel_size - 1) * 0.5
    taps = torch.linspace(-half, half, kernel_size, dtype=inputs.dtype, device=inputs.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = inputs.shape[1]
    pad = kernel_size // 2
    x = torch.nn.functional.pad(inputs, [pad, pad, pad, pad], mode="reflect")
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return torch.nn.functional.conv2d(x, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def deletion_curve(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    saliency: torch.Tensor,
    target: TargetType = None,
    *,
    steps: int = 32,
    substrate: Substrate = 0.0,
    score: Score = "probability",
    batch_size: int = 64,
) -> PerturbationCurve:
    """Replace the most salient pixels with ``substrate`` step by step and record the class score.

    Parameters
    ----------
    model
        Classifier returning unnormalised class scores; run in eval mode without gradients.
    inputs
        ``[N, C, H, W]`` images in the model's input space.
    saliency
        ``[N, H, W]`` maps (higher = more important); ties are broken by pixel order (row-major).
    target
        ``None`` (each image's top-1 class on the unperturbed input), an int or ``[N]``.
    steps
        Number of steps; step ``s`` perturbs ``round(s * H * W / steps)`` pixels. The RISE paper used
        ``H * W / 224`` steps (224 pixels each); fewer steps estimate the same area more cheaply.
    substrate
        What deleted pixels become: ``0.0`` (the RISE default: zero in the normalised input space, i.e.
        the dataset's mean colour), ``"blur"``, another constant or a tensor.
    score
        ``"probability"`` (softmax, as in the paper) or ``"logit"``.
    batch_size
        Perturbed images per forward pass.

    Returns
    -------
    PerturbationCurve
        ``.scores`` ``[N, steps + 1]``; ``.auc()`` is the deletion score (lower is better).

    Example
    -------
    >>> curve = deletion_curve(model, x, saliency_map(grads), target=285)  # doctest: +SKIP
    >>> curve.auc()                                                          # doctest: +SKIP
    """
    return _curve(model, inputs, saliency, target, steps=steps, substrate=substrate, score=score,
                  batch_size=batch_size, insert=False)


def insertion_curve(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    saliency: torch.Tensor,
    target: TargetType = None,
    *,
    steps: int = 32,
    substrate: Substrate = "blur",
    score: Score = "probability",
    batch_size: int = 64,
) -> PerturbationCurve:
    """Start from ``substrate`` (default: the blurred image) and restore the most salient pixels first.

    Parameters are those of :func:`deletion_curve`; ``.auc()`` of the result is the insertion score
    (higher is better).
    """
    return _curve(model, inputs, saliency, target, steps=steps, substrate=substrate, score=score,
                  batch_size=batch_size, insert=True)


def _substrate(inputs: torch.Tensor, substrate: Substrate) -> torch.Tensor:
    if isinstance(substrate, str):
        if substrate != "blur":
            raise OptionError(f"substrate must be a number, a tensor or 'blur'; got {substrate!r}")
        return blur(inputs)
    if isinstance(substrate, torch.Tensor):
        return substrate.to(inputs).expand_as(inputs)
    return torch.full_like(inputs, float(substrate))


def _curve(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    saliency: torch.Tensor,
    target: TargetType,
    *,
    steps: int,
    substrate: Substrate,
    score: Score,
    batch_size: int,
    insert: bool,
) -> PerturbationCurve:
    check_inputs(inputs)
    n, _, height, width = inputs.shape
    saliency = torch.as_tensor(saliency)
    if saliency.shape != (n, height, width):
        raise InputError(
            f"saliency must be [N, H, W] = {(n, height, width)} to match the inputs; got {tuple(saliency.shape)}"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise OptionError(f"steps must be a positive int; got {steps!r}")
    if score not in ("probability", "logit"):
        raise OptionError(f"score must be 'probability' or 'logit'; got {score!r}")
    if batch_size < 1:
        raise OptionError(f"batch_size must be >= 1; got {batch_size}")
    device = inputs.device
    pixels = height * width
    x = inputs.detach()
    base = _substrate(x, substrate)
    # rank[n, p] = position of pixel p in image n's most-salient-first order (stable: ties by pixel index).
    order = torch.argsort(-saliency.to(device=device, dtype=torch.float64).reshape(n, pixels), dim=1,
                          stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(pixels, device=device).expand(n, -1))
    counts = torch.round(torch.arange(steps + 1, dtype=torch.float64) * pixels / steps).long().to(device)

    with frozen(model), torch.no_grad():
        resolved = resolve_targets(target, None, class_scores(model, x))
        if not resolved.single:
            raise TargetError("deletion and insertion curves explain one class per image (target int or [N])")
        classes = resolved.index[:, 0]
        # Every (image, step) pair is one perturbed copy; they are made and scored in chunks.
        pairs = torch.cartesian_prod(torch.arange(n, device=device), torch.arange(steps + 1, device=device))
        out = torch.empty(n * (steps + 1), dtype=x.dtype, device=device)
        for start in range(0, pairs.shape[0], batch_size):
            img, step = pairs[start : start + batch_size].unbind(1)
            perturbed = (rank[img] < counts[step].unsqueeze(1)).view(-1, 1, height, width)
            batch = torch.where(perturbed, x[img], base[img]) if insert else torch.where(perturbed, base[img], x[img])
            logits = class_scores(model, batch)
            values = logits.softmax(dim=1) if score == "probability" else logits
            out[start : start + batch_size] = values.gather(1, classes[img].unsqueeze(1))[:, 0]
    fractions = counts.to(torch.float64) / pixels
    return PerturbationCurve(fractions.to(x.dtype), out.view(n, steps + 1), classes)
