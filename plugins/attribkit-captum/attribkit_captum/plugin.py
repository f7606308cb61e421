"""The ``captum`` plugin (entry point of group ``attribkit``): registers the ``captum:*`` attributors.

Registration does not import Captum (a second or more on a busy machine): each factory imports the
method's class when it is first built, so ``attribkit plugins`` and unrelated methods stay fast.
"""

from __future__ import annotations

from attribkit import Registrar, hookimpl
from attribkit.hookspecs import Deferred

#: attribkit name -> (class in attribkit_captum._methods, one-line description for ``attribkit plugins``,
#: the class's keyword options). The options are declared here, not read from the class, so that
#: registering does not import Captum; a test keeps them equal to the classes' signatures.
METHODS = {
    "captum:gradcam": ("CaptumGradCam", "Captum LayerGradCam, upsampled to the input (layer=...)",
                       ("layer", "relu", "interpolate", "eval_mode")),
    "captum:input_x_gradient": ("CaptumInputXGradient", "Captum InputXGradient: x * dS_c/dx", ("eval_mode",)),
    "captum:integrated_gradients": ("CaptumIntegratedGradients", "Captum IntegratedGradients from a 0 baseline",
                                    ("n_steps", "method", "baseline", "internal_batch_size", "eval_mode")),
    "captum:occlusion": ("CaptumOcclusion", "Captum Occlusion, 16-pixel window, stride 8",
                         ("window", "stride", "baseline", "perturbations_per_eval", "eval_mode")),
}


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    for name, (class_name, description, options) in METHODS.items():
        registry.add_attributor(name, Deferred("attribkit_captum._methods", class_name), description=description,
                                options=options)
