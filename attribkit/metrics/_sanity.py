"""Sanity checks for saliency maps (Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, NeurIPS 2018).

A map that explains the *model* must change when the model's learned weights are destroyed. The
*model-parameter randomisation test* (section 3 of the paper) re-initialises layers of a trained model,
from the logits down ("cascading", cumulative) or one at a time ("independent"), recomputes the maps and
compares them with the trained model's maps; the *data randomisation test* (section 4) compares the maps
of a model trained on the real labels with those of the same architecture trained on randomly permuted
labels. A method that passes shows falling similarity; one that does not (guided backpropagation in the
paper, or an edge detector, which needs no model at all) keeps its maps.

Similarity is measured as in the paper's figures: Spearman rank correlation of the signed maps (the
channel sum, the paper's "diverging" visualisation) and of the absolute maps (the channel sum of
absolute values), the structural similarity index (SSIM) and the Pearson correlation of histograms of
oriented gradients (HOG) of the absolute maps normalised to ``[0, 1]`` at their 99th percentile (the
"absolute grayscale" visualisation of the authors' code).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from attribkit._core.guards import frozen, model_device
from attribkit._core.inputs import check_inputs
from attribkit._core.interfaces import Attributor, TargetType
from attribkit._core.outputs import class_scores
from attribkit._core.targets import resolve_targets
from attribkit.attribution._cam import find_layer
from attribkit.errors import InputError, OptionError, TargetError

AttributorFactory = Callable[[torch.nn.Module], Attributor]
Mode = Literal["cascading", "independent"]

#: The similarity measures, in the order of the paper's figures.
MEASURES = ("spearman", "spearman_abs", "ssim", "hog")


@dataclass(frozen=True)
class MapSimilarity:
    """Per-input similarity of two sets of maps of the same inputs; each field is ``[N]``.

    ``spearman`` and ``spearman_abs`` are in ``[-1, 1]``, ``ssim`` in ``[-1, 1]``, ``hog`` in ``[-1, 1]``;
    1 means the same map. A correlation with a constant map (no ranks, no HOG variance) is 0 when only
    one of the two maps is constant and NaN when both are.
    """

    spearman: np.ndarray
    """Spearman rank correlation of the signed maps (channel sum)."""
    spearman_abs: np.ndarray
    """Spearman rank correlation of the absolute maps (channel sum of absolute values)."""
    ssim: np.ndarray
    """SSIM of the normalised absolute maps (:func:`skimage.metrics.structural_similarity`)."""
    hog: np.ndarray
    """Pearson correlation of the HOG features of the normalised absolute maps (:func:`skimage.feature.hog`)."""

    def means(self) -> dict[str, float]:
        """Each measure averaged over the inputs (NaNs left out; NaN when every input is NaN)."""
        return {name: float(_nanmean(getattr(self, name))) for name in MEASURES}


@dataclass(frozen=True)
class Randomisation:
    """The model-parameter randomisation test: similarity to the trained model's maps, layer by layer.

    Step ``l`` has randomised ``layers[: l + 1]`` (cascading) or only ``layers[l]`` (independent).
    """

    mode: str
    """``"cascading"`` or ``"independent"``."""
    layers: tuple[str, ...]
    """``[L]`` the module randomised at each step (names of ``model.named_modules()``), top layer first."""
    spearman: np.ndarray
    """``[L]`` mean over inputs of :attr:`MapSimilarity.spearman`."""
    spearman_abs: np.ndarray
    """``[L]`` mean over inputs of :attr:`MapSimilarity.spearman_abs`."""
    ssim: np.ndarray
    """``[L]`` mean over inputs of :attr:`MapSimilarity.ssim`."""
    hog: np.ndarray
    """``[L]`` mean over inputs of :attr:`MapSimilarity.hog`."""
    targets: np.ndarray
    """``[N]`` the class explained for each input (resolved once, on the trained model)."""
    per_input: dict[str, np.ndarray] = field(default_factory=dict)
    """Each measure ``[L, N]`` per step and input (for intervals over inputs)."""


def _nanmean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean over ``axis`` leaving NaNs out; NaN (without a warning) where every value is NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice"
        return np.asarray(np.nanmean(values, axis=axis))


def _as_maps(attributions: torch.Tensor | np.ndarray, name: str) -> np.ndarray:
    """``[N, C, H, W]`` (or ``[N, H, W]``, one channel) as float64 numpy ``[N, C, H, W]``."""
    arr = np.asarray(attributions.detach().cpu() if isinstance(attributions, torch.Tensor) else attributions,
                     dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise InputError(f"{name} must be [N, C, H, W] or [N, H, W] attributions; got shape {arr.shape}")
    return arr


def _normalised(absolute: np.ndarray) -> np.ndarray:
    """The authors' absolute grayscale: divided by its 99th percentile and clipped to ``[0, 1]``."""
    top = np.percentile(absolute, 99)
    if top <= 0:
        top = absolute.max()
    return np.clip(absolute / top, 0.0, 1.0) if top > 0 else np.zeros_like(absolute)


def _undefined(a: np.ndarray, b: np.ndarray) -> float:
    """A correlation with a constant map: 0 when only one is constant (it ranks nothing, so it shares no
    ranking with the other: a randomised model whose units all died gives a zero gradient, which has
    certainly changed), NaN when both are."""
    return float("nan") if np.ptp(a) == 0 and np.ptp(b) == 0 else 0.0


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return _undefined(a, b)
    return float(spearmanr(a.ravel(), b.ravel()).statistic)


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    # skimage's 7x7 window, shrunk (odd) for maps smaller than it.
    side = min(7, min(a.shape) - (1 - min(a.shape) % 2))
    if side < 3:
        return float("nan")
    return float(structural_similarity(a, b, data_range=1.0, win_size=side))


def _hog(image: np.ndarray) -> np.ndarray:
    from skimage.feature import hog

    # skimage's defaults (9 orientations, 8-pixel cells, 3x3-cell blocks), with smaller cells for maps
    # under 24 pixels a side so that one block fits.
    cell = max(1, min(8, min(image.shape) // 3))
    if min(image.shape) < 3:
        return np.zeros(0)
    return np.asarray(hog(image, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(3, 3)))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2:
        return float("nan")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return _undefined(a, b)
    return float(np.corrcoef(a, b)[0, 1])


def map_similarity(
    reference: torch.Tensor | np.ndarray,
    other: torch.Tensor | np.ndarray,
) -> MapSimilarity:
    """How alike two sets of attributions of the same inputs are, by the measures of Adebayo et al. (2018).

    Parameters
    ----------
    reference, other
        ``[N, C, H, W]`` attributions (or ``[N, H, W]`` maps), e.g. of a trained and a randomised model.

    Returns
    -------
    MapSimilarity
        Spearman rank correlation of the signed channel sums and of the absolute channel sums (scipy),
        SSIM and HOG correlation of the absolute maps normalised to ``[0, 1]`` at their 99th percentile
        (scikit-image), each ``[N]``.

    Raises
    ------
    InputError
        Shapes that differ or are not ``[N, C, H, W]``/``[N, H, W]`` (a ``ValueError`` too).

    Example
    -------
    >>> a = torch.randn(2, 3, 32, 32)
    >>> map_similarity(a, a).means()["spearman"]
    1.0
    """
    ref, oth = _as_maps(reference, "reference"), _as_maps(other, "other")
    if ref.shape[0] != oth.shape[0] or ref.shape[2:] != oth.shape[2:]:
        raise InputError(f"reference and other must hold maps of the same inputs; got {ref.shape} and {oth.shape}")
    scores: dict[str, list[float]] = {name: [] for name in MEASURES}
    for r, o in zip(ref, oth):
        r_abs, o_abs = np.abs(r).sum(axis=0), np.abs(o).sum(axis=0)
        r_img, o_img = _normalised(r_abs), _normalised(o_abs)
        scores["spearman"].append(_spearman(r.sum(axis=0), o.sum(axis=0)))
        scores["spearman_abs"].append(_spearman(r_abs, o_abs))
        scores["ssim"].append(_ssim(r_img, o_img))
        scores["hog"].append(_pearson(_hog(r_img), _hog(o_img)))
    return MapSimilarity(**{name: np.asarray(v) for name, v in scores.items()})


def parameter_layers(model: torch.nn.Module, inputs: torch.Tensor, *, blocks: int | None = None) -> tuple[str, ...]:
    """Names of ``model``'s modules that hold parameters of their own, top (logits) first.

    The order is the reverse of the order in which one forward pass over ``inputs[:1]`` enters them (so
    a model whose modules are registered out of execution order is still randomised from the top);
    modules that the forward pass never runs are left out.

    With ``blocks=n`` the modules are grouped by name prefix into the coarsest blocks that give at least
    ``n`` steps (or the finest there are): the first ``d`` dot-separated parts of each name, for the least
    depth ``d`` that makes ``n`` distinct names. For a timm EfficientNet that is ``classifier``, ``bn2``,
    ``conv_head``, ``blocks.6``, ..., ``blocks.0``, ``bn1``, ``conv_stem`` (12 steps) rather than every
    convolution; Adebayo et al. (2018, figure 2) randomise Inception v3 block by block in the same way.

    Raises
    ------
    OptionError
        ``blocks`` below 1 (a ``ValueError`` too).
    """
    names = _entered_layers(model, inputs)
    if blocks is None:
        return names
    if blocks < 1:
        raise OptionError(f"blocks must be >= 1; got {blocks}")
    deepest = max((n.count(".") + 1 for n in names), default=1)
    for depth in range(1, deepest + 1):
        grouped = tuple(dict.fromkeys(".".join(n.split(".")[:depth]) for n in names))
        if len(grouped) >= blocks:
            return grouped
    return names


def _entered_layers(model: torch.nn.Module, inputs: torch.Tensor) -> tuple[str, ...]:
    entered: list[str] = []
    handles = []
    for name, module in model.named_modules():
        if next(module.parameters(recurse=False), None) is not None:
            handles.append(module.register_forward_pre_hook(
                lambda _m, _a, name=name: entered.append(name) if name not in entered else None))
    try:
        with frozen(model), torch.no_grad():
            model(inputs[:1].to(model_device(model)))
    finally:
        for handle in handles:
            handle.remove()
    return tuple(reversed(entered))


def _reinitialise(module: torch.nn.Module) -> None:
    """Re-draw every parameter under ``module`` as at construction (``reset_parameters``, which also
    resets batch-norm running statistics); a parameter no module knows how to reset is re-drawn from a
    normal with its own mean and standard deviation."""
    with torch.no_grad():
        for sub in module.modules():
            own = list(sub.parameters(recurse=False))
            if not own:
                continue
            reset = getattr(sub, "reset_parameters", None)
            if callable(reset):
                reset()
                continue
            for p in own:
                std = float(p.std()) if p.numel() > 1 else 0.0
                p.copy_(torch.randn_like(p) * (std or 1.0) + p.mean())


def _attributions(factory: AttributorFactory, model: torch.nn.Module, inputs: torch.Tensor,
                  targets: torch.Tensor) -> np.ndarray:
    out = factory(model).attribute(inputs, targets)
    if out.ndim == 5:
        raise TargetError("the attributor returned [N, K, C, H, W]: the sanity checks explain one class per input")
    return _as_maps(out, "attributions")


def _targets(model: torch.nn.Module, inputs: torch.Tensor, target: TargetType) -> torch.Tensor:
    with frozen(model), torch.no_grad():
        resolved = resolve_targets(target, None, class_scores(model, inputs))
    if not resolved.single:
        raise TargetError("the sanity checks explain one class per input (target None, an int or [N])")
    return resolved.index[:, 0]


def model_randomisation(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    target: TargetType,
    attributor_factory: AttributorFactory,
    *,
    mode: Mode = "cascading",
    layers: Sequence[str] | None = None,
    seed: int = 0,
) -> Randomisation:
    """The model-parameter randomisation test of Adebayo et al. (2018, section 3).

    A deep copy of ``model`` is made (``model`` itself is never changed or run by the attributor); the
    trained copy's attributions are the reference. Then, layer by layer from the top, the copy's
    parameters are re-initialised (``reset_parameters``) and attributions recomputed with a fresh
    attributor from ``attributor_factory``, explaining the classes the trained model was asked about.

    Parameters
    ----------
    model
        The trained classifier (returns unnormalised class scores).
    inputs
        ``[N, C, H, W]`` images in the model's input space (moved to the model's device).
    target
        ``None`` (each input's top-1 class under the trained model), an int or ``[N]``; resolved once.
    attributor_factory
        Builds an attributor for a model, e.g. ``lambda m: attribkit.create_attributor("saliency", m)``;
        its ``attribute(inputs, target)`` must return ``[N, C, H, W]`` (or ``[N, H, W]``).
    mode
        ``"cascading"``: step ``l`` has layers ``0..l`` randomised (the paper's main test);
        ``"independent"``: only layer ``l``, the others trained.
    layers
        Module names (``model.named_modules()``) randomised, in this order; a name may be a block, whose
        every parameter is re-drawn. Default: every module with parameters of its own, top first, in the
        order the forward pass runs them (:func:`parameter_layers`).
    seed
        Seeds the re-initialisation (the global torch generator is saved and restored around it).

    Returns
    -------
    Randomisation
        ``layers``, per-step means over inputs of each measure of :func:`map_similarity`, and
        ``per_input`` ``[L, N]`` arrays.

    Raises
    ------
    OptionError
        A name in ``layers`` that is not a module, or a module without parameters; an unknown ``mode``.
    InputError
        Inputs that are not ``[N, C, H, W]``.
    TargetError
        Targets that are not one class per input (each is also a ``ValueError``).

    Example
    -------
    >>> result = model_randomisation(model, x, None, lambda m: create_attributor("saliency", m))  # doctest: +SKIP
    >>> result.layers[0], result.spearman_abs[-1]                                                  # doctest: +SKIP
    """
    if mode not in ("cascading", "independent"):
        raise OptionError(f"mode must be 'cascading' or 'independent'; got {mode!r}")
    check_inputs(inputs)
    trained = copy.deepcopy(model)
    x = inputs.detach().to(model_device(trained))
    if layers is None:
        names = parameter_layers(trained, x)
    else:
        names = tuple(layers)
        for name in names:
            _, module = find_layer(trained, name)
            if next(module.parameters(), None) is None:
                raise OptionError(f"layer {name!r} of {type(model).__name__} has no parameters to randomise")
    if not names:
        raise OptionError(f"{type(model).__name__} has no layer with parameters to randomise")
    targets = _targets(trained, x, target)
    reference = _attributions(attributor_factory, trained, x, targets)
    steps: list[MapSimilarity] = []
    devices = sorted({p.device.index or 0 for p in trained.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        randomised = trained
        for name in names:
            if mode == "independent":
                randomised = copy.deepcopy(trained)
            _reinitialise(randomised.get_submodule(name))
            steps.append(map_similarity(reference, _attributions(attributor_factory, randomised, x, targets)))
    per_input = {m: np.stack([getattr(s, m) for s in steps]) for m in MEASURES}
    return Randomisation(mode=mode, layers=names, spearman=_nanmean(per_input["spearman"]),
                         spearman_abs=_nanmean(per_input["spearman_abs"]), ssim=_nanmean(per_input["ssim"]),
                         hog=_nanmean(per_input["hog"]), targets=targets.cpu().numpy(), per_input=per_input)


def data_randomisation(
    trained_model: torch.nn.Module,
    random_label_model: torch.nn.Module,
    inputs: torch.Tensor,
    target: TargetType,
    attributor_factory: AttributorFactory,
) -> MapSimilarity:
    """The data randomisation test of Adebayo et al. (2018, section 4): the same method's attributions for
    a model trained on the real labels and for one trained on randomly permuted labels.

    Parameters
    ----------
    trained_model, random_label_model
        Two classifiers of the same classes and input space; ``random_label_model`` was trained on the same
        data with permuted labels (by you: nothing is trained here).
    inputs
        ``[N, C, H, W]`` images (moved to each model's device).
    target
        ``None`` (each input's top-1 class under ``trained_model``), an int or ``[N]``; both models
        explain the same classes.
    attributor_factory
        Builds an attributor for a model, as in :func:`model_randomisation`.

    Returns
    -------
    MapSimilarity
        ``[N]`` per measure; a method that depends on what the model learned scores low.
    """
    check_inputs(inputs)
    x = inputs.detach().to(model_device(trained_model))
    targets = _targets(trained_model, x, target)
    reference = _attributions(attributor_factory, trained_model, x, targets)
    y = inputs.detach().to(model_device(random_label_model))
    other = _attributions(attributor_factory, random_label_model, y, targets.to(y.device))
    return map_similarity(reference, other)
