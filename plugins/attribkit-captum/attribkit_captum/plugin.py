"""The ``captum`` plugin (entry point of group ``attribkit``): registers the ``captum:*`` attributors."""

from __future__ import annotations

from attribkit import Registrar, hookimpl
from attribkit_captum._methods import (
    CaptumGradCam,
    CaptumInputXGradient,
    CaptumIntegratedGradients,
    CaptumOcclusion,
    CaptumSmoothGrad,
)

#: attribkit name -> (factory, one-line description shown by ``attribkit plugins``).
METHODS = {
    "captum:gradcam": (CaptumGradCam, "Captum LayerGradCam, upsampled to the input (layer=...)"),
    "captum:input_x_gradient": (CaptumInputXGradient, "Captum InputXGradient: x * dS_c/dx"),
    "captum:integrated_gradients": (CaptumIntegratedGradients, "Captum IntegratedGradients from a 0 baseline"),
    "captum:occlusion": (CaptumOcclusion, "Captum Occlusion, 16-pixel window, stride 8"),
    "captum:smoothgrad": (CaptumSmoothGrad, "Captum NoiseTunnel(Saliency), SmoothGrad, 25 samples"),
}


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    for name, (factory, description) in METHODS.items():
        registry.add_attributor(name, factory, description=description)
