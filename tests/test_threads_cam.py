"""Grad-CAM and the layer-hooking bridges with one model shared by threads (issue 20, item 8).

A layer hook fires for every thread's forward of the model: Grad-CAM's hook once made the layer's output
a leaf in *every* thread's pass, so concurrent ``gradcam`` calls failed ("differentiated Tensor ... not
used in the graph") and ``saliency``/``deconvnet``/``localise`` beside it gave wrong maps. Every call
here must give exactly its single-threaded answer. A sleeping module after the layer makes the calls
really overlap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import attribkit
from attribkit.models import ModelInfo, Preprocessing, attach_info

THREADS = 4
CALLS = 12


class Slow(torch.nn.Module):
    """Sleeps in its forward (releasing the GIL), so other threads' forwards run meanwhile."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.005)
        return x


def shared_model() -> torch.nn.Module:
    """A small classifier whose default Grad-CAM layer (its last Conv2d, ``"2"``) runs before the sleep."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, padding=1),
        torch.nn.ReLU(), Slow(), torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(32, 6),
    ).eval()
    prep = Preprocessing(resize=36, crop=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    return attach_info(model, ModelInfo("tiny", prep, tuple(f"class {i}" for i in range(6))))


def photo(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 60, (40, 48, 3)).astype(np.uint8)
    rgb[8:30, 12:36] = (230, 200, 40)
    return rgb


def in_threads(calls: list[Callable[[], Any]], threads: int) -> list[Any]:
    """Run ``calls`` on ``threads`` threads started together; each call's result or exception, in order."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(threads)

    def work(first: int) -> None:
        barrier.wait()
        for i in range(first, len(calls), threads):
            try:
                results[i] = calls[i]()
            except Exception as exc:  # noqa: BLE001 - compared below
                results[i] = exc

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers), "a call never finished (deadlock?)"
    return results


def assert_same(got: Any, want: Any) -> None:
    assert not isinstance(got, Exception), repr(got)
    if isinstance(want, torch.Tensor):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    else:  # localise: one LocalisedClass per class
        assert [(c.label, c.box) for c in got] == [(c.label, c.box) for c in want]
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a.saliency, b.saliency)


def check_threaded(calls: list[Callable[[], Any]], model: torch.nn.Module) -> None:
    want = [call() for call in calls]
    got = in_threads(calls, THREADS)
    failed = [i for i, (g, w) in enumerate(zip(got, want)) if not _same(g, w)]
    assert not failed, f"{len(failed)} of {len(calls)} calls differ; first: {got[failed[0]]!r}"[:500]
    assert not model._forward_hooks and not model[2]._forward_hooks  # nothing left on the model


def _same(got: Any, want: Any) -> bool:
    try:
        assert_same(got, want)
    except AssertionError:
        return False
    return True


def test_gradcam_in_four_threads_gives_the_single_threaded_maps():
    model = shared_model()
    gradcam = attribkit.create_attributor("gradcam", model)
    torch.manual_seed(1)
    inputs = [torch.randn(2, 3, 16, 16) for _ in range(CALLS)]
    check_threaded([lambda x=x: gradcam.attribute(x, top_k=2) for x in inputs], model)


def test_gradcam_beside_saliency_deconvnet_and_localise_leaves_each_its_answer():
    model = shared_model()
    torch.manual_seed(2)
    x = torch.randn(2, 3, 16, 16)
    attributors = {name: attribkit.create_attributor(name, model) for name in ("gradcam", "saliency", "deconvnet")}
    calls: list[Callable[[], Any]] = []
    for i in range(CALLS // 4):
        calls += [
            lambda i=i: attributors["gradcam"].attribute(x + i, target=[1, 4]),
            lambda i=i: attributors["saliency"].attribute(x - i, target=[1, 4]),
            lambda i=i: attributors["deconvnet"].attribute(x * (i + 1), target=[1, 4]),
            lambda i=i: attribkit.localise(model, photo(i)),  # the default: Grad-CAM
        ]
    check_threaded(calls, model)
@pytest.mark.parametrize("method", ["captum:gradcam", "pgc:gradcam", "zennit:epsilon_plus"])
def test_a_layer_hooking_bridge_beside_saliency_leaves_each_its_answer(method):
    model = shared_model()
    torch.manual_seed(3)
    x = torch.randn(2, 3, 16, 16)
    bridged = attribkit.create_attributor(method, model)
    saliency = attribkit.create_attributor("saliency", model)
    calls: list[Callable[[], Any]] = []
    for i in range(CALLS // 2):
        calls += [lambda i=i: bridged.attribute(x + i, target=[2, 5]),
                  lambda i=i: saliency.attribute(x - i, target=[2, 5])]
    check_threaded(calls, model)
