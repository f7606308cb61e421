"""Class model visualisation by regularised gradient ascent on the input (paper section 2), batched.

Find ``I* = argmax_I S_c(I) - λ ||I||²₂`` for K classes at once: the K images form one batch, and since
the network is frozen and in eval mode (batch-norm uses its running statistics) each image's gradient
depends only on its own class score. One ascent step is one forward and one backward pass of the batch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import numpy as np
import torch

from attribkit._core.guards import frozen
from attribkit._core.inputs import check_finite
from attribkit._core.outputs import class_scores
from attribkit._core.reprs import array_summary
from attribkit._core.targets import check_entries, resolve_targets
from attribkit.errors import InputError, ModelError, OptionError, TargetError
from attribkit.models import model_info
from attribkit.visualise._parametrisation import FourierImage, Parametrisation, PixelImage
from attribkit.visualise._regularisers import (
    clip_small_contribution,
    clip_small_norm,
    gaussian_blur,
    jitter,
    total_variation,
)

ClassTarget = int | str
ClassTargets = ClassTarget | Sequence[ClassTarget] | torch.Tensor


@dataclass(frozen=True)
class AscentSettings:
    """Everything that defines one ascent; see ``docs/class_model.md`` for how the defaults were chosen.

    Attributes
    ----------
    steps
        Number of ascent steps (each a forward and a backward pass of the K-image batch).
    lr
        Step size (learning rate) of the optimiser.
    l2
        λ of the paper's penalty ``λ ||I||²₂`` on the image in the model's normalised input space.
    optimiser
        ``"sgd"``: plain gradient ascent ``I ← I + lr ∇`` (the paper); ``"adam"``: Adam (Lucid's choice).
    parametrisation
        ``"pixel"`` (the paper, from the zero image) or ``"fourier"`` (Olah et al. 2017).
    jitter
        Largest random translation in pixels applied before each forward pass (0: none).
    blur_every, blur_sigma
        Gaussian-blur the image every ``blur_every`` steps with standard deviation ``blur_sigma`` pixels
        (0: never; pixel parametrisation only).
    tv
        Weight of the total-variation penalty (0: none).
    clip_norm, clip_contribution
        Percentiles (0–100) below which pixels with a small norm / small contribution are reset to the
        mean colour after each step (0: never; pixel parametrisation only).
    """

    steps: int
    lr: float
    l2: float = 0.0
    optimiser: Literal["sgd", "adam"] = "sgd"
    parametrisation: Literal["pixel", "fourier"] = "pixel"
    jitter: int = 0
    blur_every: int = 0
    blur_sigma: float = 0.5
    tv: float = 0.0
    clip_norm: float = 0.0
    clip_contribution: float = 0.0

    def __post_init__(self) -> None:
        _require(self, "steps", integer=True, low=1)
        _require(self, "lr", low=0, open_low=True)
        for name in ("l2", "tv"):
            _require(self, name, low=0)
        for name in ("jitter", "blur_every"):
            _require(self, name, integer=True, low=0)
        _require(self, "blur_sigma", low=0, open_low=True)
        for name in ("clip_norm", "clip_contribution"):
            _require(self, name, low=0, high=100, kind="a percentile")
        if self.optimiser not in ("sgd", "adam"):
            raise OptionError(f"optimiser must be 'sgd' or 'adam'; got {self.optimiser!r}")
        if self.parametrisation not in ("pixel", "fourier"):
            raise OptionError(f"parametrisation must be 'pixel' or 'fourier'; got {self.parametrisation!r}")
        pixel_only = [n for n in ("blur_every", "clip_norm", "clip_contribution") if getattr(self, n)]
        if self.parametrisation != "pixel" and pixel_only:
            raise OptionError(
                f"{', '.join(pixel_only)} act on pixels and need parametrisation='pixel'"
            )


def _require(
    settings: AscentSettings,
    name: str,
    *,
    integer: bool = False,
    low: float,
    open_low: bool = False,
    high: float | None = None,
    kind: str | None = None,
) -> None:
    """Refuse a setting that is not a finite number (an int where ``integer``) in its range.

    The range is ``[low, high)``, or ``(low, high)`` with ``open_low``; NaN and infinities are refused
    everywhere, since every setting enters the ascent's arithmetic (a NaN ``lr`` turns the image to NaN
    at the first step).
    """
    value = getattr(settings, name)
    kind = kind or ("an int" if integer else "a finite number")
    lower = f"> {low:g}" if open_low else f">= {low:g}"
    wanted = f"{kind} in [{low:g}, {high:g})" if high is not None else f"{kind} {lower}"
    number = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, number) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
    if ok:
        ok = (value > low if open_low else value >= low) and (high is None or value < high)
    if not ok:
        raise OptionError(f"class-model option {name} must be {wanted}; got {value!r}")


#: The named presets. ``paper`` is the paper's method; the others are the modern ones to compare with.
MODES: dict[str, AscentSettings] = {
    # Plain gradient ascent from the zero image with the L2 penalty (Simonyan et al. 2013, section 2).
    # lr, l2 and steps were measured on EfficientNet-Lite0 (docs/class_model.md): the paper gives no values
    # that transfer to another network.
    "paper": AscentSettings(steps=30, lr=10.0, l2=1e-3),
    # Yosinski et al. (2015): L2 decay, blur every few steps, clipping of weak pixels; plus jitter. Blur and
    # clipping undo part of each step, so it needs more steps: at 30 only 3 of the demo's 8 classes were
    # the displayed image's top-1, at 90 all 8 (docs/class_model.md).
    "yosinski": AscentSettings(
        steps=90, lr=10.0, l2=1e-3, jitter=4, blur_every=4, blur_sigma=0.5,
        clip_norm=10.0, clip_contribution=10.0,
    ),
    # Olah et al. (2017): decorrelated Fourier parametrisation, jitter, Adam (Lucid's lr); no penalty.
    "fourier": AscentSettings(steps=40, lr=0.05, optimiser="adam", parametrisation="fourier", jitter=8),
}


def settings_for(mode: str = "paper", **overrides: Any) -> AscentSettings:
    """The preset ``mode`` with some fields replaced (``None`` values are ignored).

    Example
    -------
    >>> settings_for("paper", steps=10).steps
    10
    """
    if mode not in MODES:
        raise OptionError(f"unknown class-model mode {mode!r}; known: {', '.join(MODES)}")
    known = {f.name for f in fields(AscentSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise OptionError(f"unknown class-model option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return replace(MODES[mode], **{k: v for k, v in overrides.items() if v is not None})


#: What to try when the ascent diverges.
_ADVICE = "lower lr ({s.lr:g}) or raise l2 ({s.l2:g})"


def _check_scores(scores: torch.Tensor, index: torch.Tensor, step: int, settings: AscentSettings) -> None:
    """Stop the ascent when a class score is no longer finite (the image has diverged or the model
    overflows): every later step would only carry NaN along."""
    finite = torch.isfinite(scores)
    if bool(finite.all()):
        return
    k = int((~finite).nonzero()[0, 0])
    raise InputError(
        f"class-model ascent diverged: the score of class {int(index[k, 0])} is {float(scores[k])} at step "
        f"{step + 1} of {settings.steps}; {_ADVICE.format(s=settings)}"
    )


@dataclass(frozen=True, repr=False)
class Ascent:
    """The result of one batched ascent."""

    rgb: torch.Tensor
    """``[K, 3, H, W]`` displayable RGB in ``[0, 1]`` (the mean image added back)."""
    inputs: torch.Tensor
    """``[K, 3, H, W]`` the final images in the model's normalised input space (not clipped)."""
    scores: torch.Tensor
    """``[steps, K]`` each image's target score S_c before each update."""
    targets: torch.Tensor
    """``[K]`` the class indices."""
    settings: AscentSettings

    def __repr__(self) -> str:
        final = ", ".join(f"{v:.3g}" for v in self.scores[-1].tolist()) if len(self.scores) else ""
        return (f"Ascent(targets={self.targets.tolist()}, rgb={array_summary(self.rgb)}, "
                f"final scores=[{final}], settings={self.settings})")


class ClassModel:
    """The ``class_model`` visualiser: ``visualise(target) -> [K, 3, H, W]`` RGB in ``[0, 1]``.

    Parameters
    ----------
    model
        A classifier returning unnormalised class scores; its :func:`~attribkit.model_info` gives the
        preprocessing (mean image, input size) and class names.
    mode
        ``"paper"`` (default), ``"yosinski"`` or ``"fourier"``; see :data:`MODES`.
    seed
        Seed of the random jitter and Fourier initialisation (the paper mode uses no randomness).
    progress
        Show a progress bar over the steps: ``True``, ``False`` or ``None`` (only on a terminal).
    size
        ``(H, W)`` of the images; defaults to the model's crop size.
    eval_mode
        Run the model in eval mode (its modes and ``requires_grad`` flags are restored afterwards).
    **options
        Any :class:`AscentSettings` field (``steps``, ``lr``, ``l2``, ``jitter``, ...) overriding the mode.

    Example
    -------
    >>> vis = ClassModel(load_model(), steps=20)                       # doctest: +SKIP
    >>> vis.visualise(["goldfish", 130]).shape                          # doctest: +SKIP
    torch.Size([2, 3, 224, 224])
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        mode: str = "paper",
        seed: int = 0,
        progress: bool | None = None,
        size: tuple[int, int] | None = None,
        eval_mode: bool = True,
        **options: Any,
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise ModelError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        self.model = model
        self.mode = mode
        self.settings = settings_for(mode, **options)
        self.seed = seed
        self.progress = progress
        crop = model_info(model).preprocessing.crop
        self.size = size or (crop, crop)
        if (len(self.size) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
                                           for v in self.size)):
            raise OptionError(f"class-model option size must be (height, width) in pixels > 0; got {size!r}")
        self.eval_mode = eval_mode

    def visualise(self, target: ClassTargets, **options: Any) -> torch.Tensor:
        """``[K, 3, H, W]`` RGB images in ``[0, 1]``, one per target class (names or indices).

        ``options`` are those of :meth:`ascend`.
        """
        return self.ascend(target, **options).rgb

    def ascend(
        self,
        target: ClassTargets,
        *,
        seed: int | None = None,
        progress: bool | None = None,
        **options: Any,
    ) -> Ascent:
        """Run the ascent for each target class in one batch and return images and score history.

        Parameters
        ----------
        target
            A class index or name, or a sequence of them (K classes, K images).
        seed, progress
            Override the visualiser's seed and progress setting for this call.
        **options
            :class:`AscentSettings` fields overriding this visualiser's settings for this call.
        """
        settings = replace(self.settings, **{k: v for k, v in options.items() if v is not None}) \
            if options else self.settings
        targets = self.resolve(target)
        first = next(self.model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
        dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
        generator = torch.Generator().manual_seed(self.seed if seed is None else seed)
        image = self._image(settings, len(targets), generator, device, dtype)
        index = targets.to(device).unsqueeze(1)
        optimiser = self._optimiser(settings, image)
        history: list[torch.Tensor] = []
        show = self.progress if progress is None else progress
        # Imported here: tqdm.auto warns at import in a notebook without ipywidgets, and registering the
        # plugins (``list_attributors()``) imports this module.
        from tqdm.auto import tqdm

        steps = tqdm(range(settings.steps), desc=f"class model ({self.mode})", unit="step",
                     disable=None if show is None else not show, leave=False)
        with frozen(self.model, eval_mode=self.eval_mode), torch.enable_grad():
            for step in steps:
                history.append(self._step(settings, image, index, optimiser, step, generator))
        final = image.model_input().detach()
        try:
            check_finite(final, "the class-model image")
        except InputError as exc:
            raise InputError(f"{exc} after the last step; {_ADVICE.format(s=settings)}") from None
        return Ascent(
            rgb=image.rgb(),
            inputs=final,
            scores=torch.stack(history),
            targets=targets,
            settings=settings,
        )

    def resolve(self, target: ClassTargets) -> torch.Tensor:
        """``[K]`` class indices from indices and/or names (unknown names list close matches).

        Raises
        ------
        TargetError
            ``None``, an empty sequence, an entry that is not a class index or name (``1.5``, ``True``),
            or a class the model does not have.
        """
        if target is None:
            raise TargetError("the class model needs target classes (an index, a name, or a sequence of them); "
                              "got None")
        info = model_info(self.model)
        if isinstance(target, (torch.Tensor, np.ndarray)):
            classes: Any = target.reshape(1, -1)
        elif isinstance(target, (list, tuple)):
            if not target:
                raise TargetError("target needs at least one class")
            if any(isinstance(t, (list, tuple)) for t in target):
                raise TargetError(f"the class model takes a flat sequence of classes; got {target!r}")
            check_entries(target, target)
            classes = [list(target)]
        else:
            # One class: the resolver refuses None, floats and bools with the value in the message.
            classes = target
        # Indices are checked against what the model returns, at the first step; names need its names.
        named = isinstance(classes, str) or (isinstance(classes, list) and any(isinstance(t, str) for t in classes[0]))
        resolve = info.targets if named else resolve_targets
        return resolve(classes, batch=1).index[0].cpu()

    def _image(
        self,
        settings: AscentSettings,
        count: int,
        generator: torch.Generator,
        device: torch.device,
        dtype: torch.dtype,
    ) -> Parametrisation:
        preprocessing = model_info(self.model).preprocessing
        if settings.parametrisation == "fourier":
            return FourierImage(count, self.size, preprocessing, generator=generator, device=device, dtype=dtype)
        return PixelImage(count, self.size, preprocessing, device=device, dtype=dtype)

    @staticmethod
    def _optimiser(settings: AscentSettings, image: Parametrisation) -> torch.optim.Optimizer:
        # maximize=True: the optimisers ascend the objective, so the paper's sign convention stays visible.
        if settings.optimiser == "adam":
            return torch.optim.Adam(image.parameters(), lr=settings.lr, maximize=True)
        return torch.optim.SGD(image.parameters(), lr=settings.lr, maximize=True)

    def _step(
        self,
        settings: AscentSettings,
        image: Parametrisation,
        index: torch.Tensor,
        optimiser: torch.optim.Optimizer,
        step: int,
        generator: torch.Generator,
    ) -> torch.Tensor:
        x = image.model_input()
        seen = x
        if settings.jitter:
            dy, dx = torch.randint(-settings.jitter, settings.jitter + 1, (2,), generator=generator).tolist()
            seen = jitter(x, (dy, dx))
        scores = class_scores(self.model, seen)
        if step == 0 and int(index.max()) >= scores.shape[1]:
            raise TargetError(f"class index {int(index.max())} is out of range for a model with "
                             f"{scores.shape[1]} outputs")
        target_scores = scores.gather(1, index).squeeze(1)
        _check_scores(target_scores.detach(), index, step, settings)
        # S_c is the unnormalised score (the logit): maximising the softmax would also be served by
        # pushing the other classes down, which is not what the paper visualises.
        objective = target_scores.sum()
        if settings.l2:
            objective = objective - settings.l2 * x.square().sum()
        if settings.tv:
            objective = objective - settings.tv * total_variation(x)
        optimiser.zero_grad(set_to_none=True)
        objective.backward()
        optimiser.step()
        if isinstance(image, PixelImage):
            self._pixel_priors(settings, image, step)
        return target_scores.detach()

    @staticmethod
    def _pixel_priors(settings: AscentSettings, image: PixelImage, step: int) -> None:
        with torch.no_grad():
            pixels = image.image
            if settings.blur_every and (step + 1) % settings.blur_every == 0:
                pixels.copy_(gaussian_blur(pixels, settings.blur_sigma))
            if settings.clip_norm:
                pixels.copy_(clip_small_norm(pixels, settings.clip_norm))
            if settings.clip_contribution and pixels.grad is not None:
                pixels.copy_(clip_small_contribution(pixels, pixels.grad, settings.clip_contribution))
