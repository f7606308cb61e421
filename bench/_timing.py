"""Side-by-side timing helpers shared by the benchmark scripts (interleaved runs, medians)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(
    candidates: dict[str, Callable[[], object]],
    *,
    repeats: int,
    device: torch.device,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds per call of each candidate, run in turn (A B C A B C ...) so drift hits all alike.

    ``clock=time.process_time`` (this process's CPU time) is steadier for one-thread CPU runs on a
    machine shared with other jobs, whose time slices would otherwise count as ours.
    """
    samples = interleaved_samples(candidates, repeats=repeats, device=device, warmup=warmup, clock=clock)
    return {name: statistics.median(t) for name, t in samples.items()}


def interleaved_samples(
    candidates: dict[str, Callable[[], object]],
    *,
    repeats: int,
    device: torch.device,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """:func:`interleaved`'s seconds of every call, in round order: round ``i`` of two candidates ran
    side by side, so their ratio is a paired sample."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            _sync(device)
            start = clock()
            fn()
            _sync(device)
            times[name].append(clock() - start)
    return times


def paired_ratio(numerator: list[float], denominator: list[float]) -> tuple[float, float, float]:
    """Median of the per-round ratios and its 95% bootstrap interval (scipy, percentile method)."""
    from scipy.stats import bootstrap

    ratios = [a / b for a, b in zip(numerator, denominator)]
    ci = bootstrap((ratios,), statistics.median, method="percentile", random_state=0).confidence_interval
    return statistics.median(ratios), float(ci.low), float(ci.high)


def table(rows: list[list[str]], header: list[str]) -> str:
    """A Markdown table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])
