"""The shared adapter: attribkit's ``attribute()`` contract on top of one pytorch-grad-cam CAM class.

pytorch-grad-cam explains one class per image per call (a ``ClassifierOutputTarget`` each), so ``[N, K]``
targets and ``top_k`` cost K calls (the loop of :class:`attribkit.attribution.PerClassAttributor`).
Each call builds the library's CAM object, which hooks the layer on construction; the hooks are released
in ``finally``, also after an exception (the library's own ``__exit__`` would swallow an ``IndexError``,
so it is not used).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from attribkit import class_scores
from attribkit.attribution import Explainer, PerClassAttributor, feature_layout, find_layer, prefix_tokens
from attribkit.errors import OptionError


class ClassScores(torch.nn.Module):
    """``model`` seen as a function of the input alone returning class scores ``[N, C]``.

    pytorch-grad-cam calls ``model(x)`` and indexes the result; this lets models returning a tuple, a dict
    or a ``ModelOutput`` (:func:`attribkit.class_scores`), or needing extra arguments, work as with the
    built-ins.
    """

    def __init__(self, model: torch.nn.Module, extra: tuple[Any, ...] = ()) -> None:
        super().__init__()
        self.model = model
        self.extra = extra
        self.completed = 0  # forward passes that returned: tells a failing model from an unused layer

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        scores = class_scores(self.model, inputs, *self.extra)
        self.completed += 1
        return scores


@contextmanager
def kept_grads(model: torch.nn.Module) -> Iterator[None]:
    """Give the parameters back their ``.grad`` on exit: the library calls ``model.zero_grad()``."""
    saved = [(p, p.grad) for p in model.parameters()]
    try:
        yield
    finally:
        for p, grad in saved:
            p.grad = grad


class PgcAttributor(PerClassAttributor):
    """Base of the bridged CAM methods: :class:`attribkit.attribution.PerClassAttributor` (input checks,
    target resolution, the K loop) with the library's CAM object and the layer's layout.

    A subclass names the library's class in :attr:`cam_class` and may adjust the CAM object in
    :meth:`_configure`.

    Parameters
    ----------
    model
        A classifier returning unnormalised class scores ``[N, num_classes]``.
    layer
        Dotted name of the layer to explain; ``None`` picks attribkit's default for the model
        (:func:`attribkit.attribution.default_layer_name`: the same layer as the built-in ``gradcam`` and
        ``captum:gradcam``).
    aug_smooth, eigen_smooth
        pytorch-grad-cam's test-time augmentation smoothing and first-principal-component smoothing.

    Raises
    ------
    OptionError
        ``layer`` names no submodule, or the model has no default layer.
    """

    #: The pytorch-grad-cam class (``BaseCAM`` subclass) this attributor calls.
    cam_class: Callable[..., Any]

    def __init__(self, model: torch.nn.Module, *, layer: str | None = None, aug_smooth: bool = False,
                 eigen_smooth: bool = False) -> None:
        super().__init__(model, eval_mode=True)
        self.layer_name, self.layer = find_layer(self.model, layer)
        self.aug_smooth, self.eigen_smooth = aug_smooth, eigen_smooth

    #: The library hooks the layer (its hooks would act on other threads' forward passes too) and clears
    #: the model's ``.grad``: calls on a model shared by threads take turns.
    exclusive = True

    def _configure(self, cam: Any) -> None:
        """Adjust the library's CAM object before it is called (e.g. Score-CAM's batch size)."""

    @contextmanager
    def _calling(self) -> Iterator[None]:
        """Context around the library's calls (e.g. Score-CAM's progress bars)."""
        yield

    def _reshape(self, image: tuple[int, int]) -> Callable[[torch.Tensor], torch.Tensor]:
        """pytorch-grad-cam's ``reshape_transform``: the layer's output as ``[N, D, h, w]`` (tokens and
        channels-last maps are put on their grid by attribkit's rules, prefix tokens left out)."""
        prefix = prefix_tokens(self.model)

        def to_spatial(out: torch.Tensor) -> torch.Tensor:
            layout = feature_layout(out, self.layer_name, layer=self.layer, image=image, prefix=prefix)
            return layout.to_spatial(out)

        return to_spatial

    @contextmanager
    def explaining(self, inputs: torch.Tensor, extra: tuple[Any, ...]) -> Iterator[Explainer]:
        """The library's CAM object for one call (its hooks released in ``finally``); each class is one
        library call: ``[N, 1, H, W]`` maps, each scaled by the library to ``[0, 1]`` (min-max per map) and
        resized with OpenCV's bilinear ``cv2.resize``, in the input's dtype and on its device.

        Raises
        ------
        OptionError
            The layer is not run by the forward pass or returns no feature map.
        """
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        scorer = ClassScores(self.model, extra)
        image = (int(inputs.shape[-2]), int(inputs.shape[-1]))
        with kept_grads(self.model):
            with torch.no_grad():
                scores = scorer(inputs)
            # The parameters need no gradient inside frozen(): the input does, or the layer's output
            # would not require grad and the library would record no gradient.
            x = inputs.clone().requires_grad_(True)
            cam = self.cam_class(scorer, [self.layer], reshape_transform=self._reshape(image))
            try:
                self._configure(cam)

                def one_class(target: torch.Tensor) -> torch.Tensor:
                    chosen = [ClassifierOutputTarget(int(c)) for c in target.tolist()]
                    with torch.enable_grad(), self._calling():
                        maps = self._call(cam, scorer, x, chosen)
                    return maps.unsqueeze(1).to(device=inputs.device, dtype=inputs.dtype)

                yield scores, one_class
            finally:
                cam.activations_and_grads.release()

    def _call(self, cam: Any, scorer: ClassScores, x: torch.Tensor, chosen: list[Any]) -> torch.Tensor:
        """One library call: ``[N, H, W]`` maps of class ``chosen[i]`` for image ``i``."""
        before = scorer.completed
        try:
            result = cam(input_tensor=x, targets=chosen, aug_smooth=self.aug_smooth,
                         eigen_smooth=self.eigen_smooth)
        except OptionError:
            raise
        except Exception:
            if scorer.completed > before and not cam.activations_and_grads.activations:
                raise OptionError(f"layer {self.layer_name!r} was not run by the forward pass; pass layer= "
                                  "naming another layer") from None
            raise
        return torch.from_numpy(result)
