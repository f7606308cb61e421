"""A tiny classifier, synthetic photos and a localiser registered in code, for fast study tests."""

from __future__ import annotations

import contextlib
import os
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import attribkit
from attribkit.models import ModelInfo, Preprocessing

CLASSES = tuple(f"class {i}" for i in range(10))
#: Seconds :class:`AboveMean` sleeps per call when its ``delay`` is 0 (set by tests/_study_script.py).
DELAY_VARIABLE = "ATTRIBKIT_TEST_LOCALISER_DELAY"


def tiny_classifier() -> torch.nn.Module:
    """A deterministic float32 conv net on 32x32 crops of 40-pixel photos."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32, len(CLASSES)),
    )
    return attribkit.attach_info(model.eval(), ModelInfo("tiny", Preprocessing(resize=40, crop=32), CLASSES))


def write_photos(folder: Path, count: int) -> list[Path]:
    """Noise photos with a bright square (its box is the ground truth of the annotated variant)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        rgb = rng.integers(0, 120, size=(40 + 4 * i, 48, 3), dtype=np.uint8)
        rgb[8 : 24, 10 + i : 30 + i] = 230
        paths.append(folder / f"photo{i:02d}.png")
        Image.fromarray(rgb).save(paths[-1])
    return paths


@dataclass(frozen=True)
class AboveMean:
    """Mask = saliency above its mean, ignoring NaN (plus optional uniform noise from numpy's global generator, to
    prove the study seeds it per job); ``delay`` seconds of sleep (or :data:`DELAY_VARIABLE`'s) stand in for a
    slow localiser."""

    noise: float = 0.0
    delay: float = 0.0

    def localise(self, image: np.ndarray, saliency: np.ndarray) -> attribkit.Localisation:
        delay = self.delay or float(os.environ.get(DELAY_VARIABLE, "0"))
        if delay:
            time.sleep(delay)
        s = np.asarray(saliency, dtype=np.float64)  # NaN where the model's crop did not reach
        s = s + self.noise * np.random.random_sample(s.shape) * (np.nanmax(s) - np.nanmin(s))
        mask = s > np.nanmean(s)
        if not mask.any():
            return attribkit.Localisation(mask, None)
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        return attribkit.Localisation(mask, (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))


def plugin() -> types.ModuleType:
    module = types.ModuleType("study_test_plugin")

    @attribkit.hookimpl
    def attribkit_register(registry):
        registry.add_localiser("above_mean", AboveMean, description="test: saliency above its mean")

    module.attribkit_register = attribkit_register
    return module


def install_registry() -> None:
    """Make the process-wide registry include the test localiser (as a plugin registered in code)."""
    from attribkit._core import registry as _registry

    _registry._registry = attribkit.build_registry([("study_test", plugin())])


@contextlib.contextmanager
def study_registry() -> Iterator[None]:
    """The process-wide registry with the test localiser ``above_mean``, reset afterwards."""
    attribkit.reset_registry()
    install_registry()
    try:
        yield
    finally:
        attribkit.reset_registry()
