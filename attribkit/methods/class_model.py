"""Built-in plugin ``class_model``: class model visualisation (Simonyan et al. 2013, section 2).

Registers three visualisers built by one factory, so the paper's images and the modern ones can be
compared side by side with the same code path:

- ``class_model`` — the paper's regularised ascent from the zero image (``mode="paper"`` by default; any
  mode and option can be passed);
- ``class_model_yosinski`` — the same with Yosinski et al. (2015)'s priors (jitter, blur, clipping);
- ``class_model_fourier`` — Olah et al. (2017)'s decorrelated Fourier parametrisation.
"""

from __future__ import annotations

from dataclasses import fields
from functools import partial

from attribkit.hookspecs import Registrar, hookimpl
from attribkit.visualise import AscentSettings, ClassModel

#: ClassModel's own arguments, then any field of the ascent's settings (they override the mode's).
OPTIONS = ("mode", "seed", "progress", "size", "eval_mode", *(f.name for f in fields(AscentSettings)))


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    registry.add_visualiser(
        "class_model",
        ClassModel,
        description="argmax_I S_c(I) - λ||I||² by gradient ascent from the zero image (paper section 2)",
        options=OPTIONS,
    )
    registry.add_visualiser(
        "class_model_yosinski",
        partial(ClassModel, mode="yosinski"),
        description="class model with jitter, blur and pixel clipping (Yosinski et al. 2015)",
        options=OPTIONS,
    )
    registry.add_visualiser(
        "class_model_fourier",
        partial(ClassModel, mode="fourier"),
        description="class model in a decorrelated Fourier parametrisation (Olah et al. 2017)",
        options=OPTIONS,
    )
