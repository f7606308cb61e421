"""The ``pgc`` plugin (entry point of group ``attribkit``): registers the ``pgc:*`` attributors.

Registration does not import pytorch-grad-cam (it imports OpenCV, matplotlib and scikit-learn): each
factory imports the method's class when it is first built, so ``attribkit plugins`` stays fast.
"""

from __future__ import annotations

from attribkit import Registrar, hookimpl
from attribkit.hookspecs import Deferred

_CAM = ("layer", "aug_smooth", "eigen_smooth")

#: attribkit name -> (class in attribkit_gradcam._methods, one-line description for ``attribkit plugins``,
#: the class's keyword options). The options are declared here, not read from the class, so that
#: registering does not import the library; a test keeps them equal to the classes' signatures.
METHODS = {
    "pgc:eigencam": ("PgcEigenCAM", "pytorch-grad-cam EigenCAM: first principal component (no class)", _CAM),
    "pgc:gradcam": ("PgcGradCAM", "pytorch-grad-cam GradCAM, scaled to [0, 1] (layer=...)", _CAM),
    "pgc:gradcampp": ("PgcGradCAMPlusPlus", "pytorch-grad-cam GradCAMPlusPlus (Grad-CAM++)", _CAM),
    "pgc:hirescam": ("PgcHiResCAM", "pytorch-grad-cam HiResCAM: gradient x activation per location", _CAM),
    "pgc:layercam": ("PgcLayerCAM", "pytorch-grad-cam LayerCAM: positive gradient per location", _CAM),
    "pgc:scorecam": ("PgcScoreCAM", "pytorch-grad-cam ScoreCAM: one forward pass per channel",
                     (*_CAM, "batch_size", "progress")),
    "pgc:xgradcam": ("PgcXGradCAM", "pytorch-grad-cam XGradCAM", _CAM),
}


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    for name, (class_name, description, options) in METHODS.items():
        registry.add_attributor(name, Deferred("attribkit_gradcam._methods", class_name), description=description,
                                options=options)
