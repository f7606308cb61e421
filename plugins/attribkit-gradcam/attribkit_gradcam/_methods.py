"""The bridged pytorch-grad-cam methods, each a thin :class:`PgcAttributor` naming the library's class."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from pytorch_grad_cam import (
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
)

from attribkit.errors import OptionError

from attribkit_gradcam._bridge import PgcAttributor
from attribkit_gradcam._quiet import quiet_score_cam


class PgcGradCAM(PgcAttributor):
    """Grad-CAM (Selvaraju et al., ICCV 2017): channel weights are the spatial mean of the gradient."""

    cam_class = GradCAM


class PgcGradCAMPlusPlus(PgcAttributor):
    """Grad-CAM++ (Chattopadhay et al., WACV 2018): weights from second- and third-order terms of the
    gradient (approximated by its powers), so several instances of a class all count."""

    cam_class = GradCAMPlusPlus


class PgcXGradCAM(PgcAttributor):
    """XGrad-CAM (Fu et al., BMVC 2020): gradient weighted by the normalised activation (axiom-based)."""

    cam_class = XGradCAM


class PgcLayerCAM(PgcAttributor):
    """LayerCAM (Jiang et al., IEEE TIP 2021): each location weighted by its own positive gradient."""

    cam_class = LayerCAM


class PgcHiResCAM(PgcAttributor):
    """HiResCAM (Draelos & Carin 2020): gradient times activation element-wise, summed over channels."""

    cam_class = HiResCAM


class PgcEigenCAM(PgcAttributor):
    """EigenCAM (Muhammad & Yeasin, IJCNN 2020): the first principal component of the activations.

    It uses no gradient and no class: every target gives the same map.
    """

    cam_class = EigenCAM


class PgcScoreCAM(PgcAttributor):
    """Score-CAM (Wang et al., CVPR-W 2020): each channel weighted by the softmax over channels of the
    class score of the input masked by that channel's upsampled, min-max scaled activation.

    Costs one forward pass per channel of the layer per image and class (512 for a ResNet-18's
    ``layer4``), in batches of ``batch_size``.

    Parameters
    ----------
    batch_size
        Masked copies per forward pass (the library's default is 16).
    progress
        Show the library's ``tqdm`` bar per image and class (off by default; see ``_quiet.py``).
    """

    cam_class = ScoreCAM

    def __init__(self, model: torch.nn.Module, *, layer: str | None = None, aug_smooth: bool = False,
                 eigen_smooth: bool = False, batch_size: int = 16, progress: bool = False) -> None:
        super().__init__(model, layer=layer, aug_smooth=aug_smooth, eigen_smooth=eigen_smooth)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise OptionError(f"batch_size must be a positive integer; got {batch_size!r}")
        self.batch_size, self.progress = batch_size, progress

    def _configure(self, cam: Any) -> None:
        cam.batch_size = self.batch_size  # read by ScoreCAM.get_cam_weights when present

    @contextmanager
    def _calling(self) -> Iterator[None]:
        with nullcontext() if self.progress else quiet_score_cam():
            yield

    def attribute(self, inputs: torch.Tensor, target: Any = None, *, top_k: int | None = None,
                  additional_forward_args: tuple[Any, ...] | None = None) -> torch.Tensor:
        """As :meth:`PgcAttributor.attribute`, without ``additional_forward_args``.

        Raises
        ------
        OptionError
            ``additional_forward_args`` given: the library runs the model on batches of masked copies
            of one image, which per-image arguments would not match.
        """
        if additional_forward_args:
            raise OptionError("pgc:scorecam cannot pass additional_forward_args: pytorch-grad-cam runs the "
                              "model on masked copies of one image at a time")
        return super().attribute(inputs, target, top_k=top_k)
