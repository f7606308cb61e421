"""Shared fixtures: the default model (loaded once), small random networks, real sample photos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import attribkit

# One intra-op thread for the whole suite, and for the CLI processes it starts (they inherit the
# environment). On CI's 2 cores PyTorch's default of one thread per core stalls whenever the other core
# is busy (a suite that took 5-6 minutes quiet took 56 under load); with one thread a busy core costs
# at most its share. Numbers: the closing note of issue 20 and docs/benchmarks.md.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
torch.set_num_threads(1)

#: The hand-boxed ImageNet dev photos live beside the checkout in CI; elsewhere those tests skip.
DEV_SET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imagenet-dev"


@pytest.fixture(scope="session")
def default_model() -> torch.nn.Module:
    return attribkit.load_model()


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    from attribkit.data import sample_photo

    return sample_photo("chelsea")


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    from attribkit.data import sample_photo

    return sample_photo("coffee")


def tiny_cnn(num_classes: int = 10, seed: int = 0) -> torch.nn.Module:
    """A small conv net with ReLUs, max-pool and a linear head; deterministic for a seed."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32, num_classes),
    ).double()


def tiny_vit(num_classes: int = 10, size: int = 16) -> torch.nn.Module:
    """A one-block timm ViT (4-pixel patches, any input size: crops too) for methods that explain transformers
    only; float64, eval."""
    import timm

    torch.manual_seed(0)
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=size, patch_size=4, depth=1,
                             embed_dim=16, num_heads=2, num_classes=num_classes, dynamic_img_size=True).double().eval()


@pytest.fixture
def tiny_model() -> torch.nn.Module:
    return tiny_cnn()


@pytest.fixture
def fresh_registry():
    """Forget the process-wide registry before and after a test that changes the environment."""
    attribkit.reset_registry()
    yield
    attribkit.reset_registry()


@pytest.fixture(scope="session")
def dev_set() -> Path:
    if not (DEV_SET / "boxes.json").is_file():
        pytest.skip("the imagenet-dev photos are not beside this checkout (../shared/data)")
    return DEV_SET


@pytest.fixture
def study_registry():
    """The process-wide registry with the study tests' localiser ``above_mean`` registered in code."""
    import _study_helpers

    with _study_helpers.study_registry():
        yield


@pytest.fixture
def one_thread():
    """One torch thread: records compared bit for bit need the same float operations in the same order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
