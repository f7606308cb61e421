"""The named setting lists of ``attribkit evaluate``: the standard comparison and the ablation table.

The ablation is the table of docs/localisation.md: each lever changed alone from the default, then
the paper's literal settings and the baselines. Nothing here depends on a particular photo or class.
"""

from __future__ import annotations

from attribkit.study._evaluate import Setting

STANDARD = [
    Setting("default (saliency+graphcut)"),
    Setting("paper (saliency+graphcut)", preset="paper"),
    Setting("saliency+threshold", localiser="threshold"),
    Setting("centre box", localiser="centre"),
]

ABLATION = STANDARD + [
    # The paper's settings with one lever changed.
    Setting("paper + 10-crop", preset="paper", options={"ten_crop": True}),
    Setting("paper + box of all foreground", preset="paper", options={"component": "all"}),
    Setting("paper + blur 0.05", preset="paper", options={"blur": 0.05}),
    Setting("paper + 5 iterations", preset="paper", options={"iterations": 5}),
    Setting("paper + probable seeds", preset="paper", options={"sure_seeds": False}),
    # The default with one lever put back or pushed further.
    Setting("default, largest component", options={"component": "largest"}),
    Setting("default, no 10-crop", options={"ten_crop": False}),
    Setting("default, bg quantile 0.30", options={"background_quantile": 0.30}),
    Setting("default, bg quantile 0.05", options={"background_quantile": 0.05}),
    Setting("default, fg quantile 0.90", options={"foreground_quantile": 0.90}),
    Setting("default, smoothness 50", options={"smoothness": 50.0}),
    Setting("default, 3 mixture components", options={"components": 3}),
    Setting("default, 3 iterations", options={"iterations": 3}),
    Setting("default, probable seeds", options={"sure_seeds": False}),
    Setting("default, blur 0.01", options={"blur": 0.01}),
    Setting("default, work size 224", options={"work_size": 224}),
    Setting("default, scales 0.75-1.5, no 10-crop", options={"ten_crop": False, "scales": (0.75, 1.0, 1.25, 1.5)}),
    Setting("default, SmoothGrad 8, no 10-crop", options={"ten_crop": False, "smoothgrad": 8}),
    Setting("default, guided backprop maps", attributor="guided_backprop"),
    Setting("default, DeconvNet maps", attributor="deconvnet"),
    Setting("threshold, blur 0.05", localiser="threshold", options={"blur": 0.05}),
]

_NAMED = {"standard": STANDARD, "ablation": ABLATION}


def named_settings(name: str) -> list[Setting]:
    """``"standard"`` or ``"ablation"``."""
    if name not in _NAMED:
        raise KeyError(f"unknown settings {name!r}; known: {', '.join(sorted(_NAMED))}")
    return list(_NAMED[name])
