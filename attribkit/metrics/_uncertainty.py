"""How sure a mean over photos is: bootstrap intervals, and paired comparisons of two settings.

With tens or a few hundred photos a difference of a few points is often noise (one photo of 500 is 0.2
points). Intervals resample photos with replacement (Efron & Tibshirani 1993, the percentile interval),
through :func:`scipy.stats.bootstrap`; a paired comparison resamples the per-photo differences, so what
the two settings share (the hard photos) cancels, and adds a paired test: McNemar's exact test when both
outcomes are right/wrong, Wilcoxon's signed-rank test otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from dataclasses import dataclass

import numpy as np

from attribkit.errors import InputError, OptionError

#: Bootstrap resamples: the interval's ends move by < 0.2 points between seeds at 500 photos.
RESAMPLES = 2000
#: Resampled values held at once (scipy's ``batch``): 2M float64, 16 MB, whatever the number of photos. Without
#: it scipy draws every resample at once, [2000, N] (800 MB for the 50,000 ILSVRC validation photos, per
#: interval); batches draw the same numbers from the generator, so the intervals are the same.
BATCH_VALUES = 2**21


def _values(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise InputError(f"{name} is empty: nothing to resample")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} holds NaN or infinite values")
    return arr


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
    statistic: Callable[[np.ndarray], float] | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-photo ``values`` (photos resampled).

    Parameters
    ----------
    values
        ``[N]`` per-photo outcomes (1/0 for right/wrong, IoUs, AUCs); finite. With ``statistic``:
        ``[N, ...]``, one row per photo.
    confidence
        Coverage of the interval, in ``(0, 1)``.
    statistic
        Instead of the mean: a function of the resampled rows ``[N, ...]`` to a number, for statistics
        that are not means of per-photo values (MaxBoxAcc: the best map threshold of the mean hit curve).

    Returns
    -------
    (low, high)
        In the units of ``values``; ``(v, v)`` when every value is ``v`` (one photo included).

    Raises
    ------
    InputError
        Empty or non-finite ``values``.
    OptionError
        ``confidence`` outside ``(0, 1)`` (each is also a ``ValueError``).
    """
    if not 0.0 < confidence < 1.0:
        raise OptionError(f"confidence must be in (0, 1); got {confidence}")
    from scipy.stats import bootstrap

    if statistic is None:
        data = _values(values, "values")
        if data.size == 1 or np.all(data == data[0]):
            return float(data[0]), float(data[0])
        stat: Callable[..., Any] = np.mean
        vectorized = True
    else:
        rows = np.asarray(values, dtype=np.float64)
        _values(rows, "values")
        if len(rows) == 1 or np.all(rows == rows[:1]):
            value = float(statistic(rows))
            return value, value
        # Photos are resampled by index, so a row keeps its shape whatever the statistic reads of it.
        data, vectorized = np.arange(len(rows)), False
        stat = lambda idx: statistic(rows[idx.astype(int)])  # noqa: E731
    result = bootstrap((data,), stat, confidence_level=confidence, n_resamples=resamples, method="percentile",
                       vectorized=vectorized, rng=np.random.default_rng(seed),
                       batch=max(1, min(resamples, BATCH_VALUES // len(data))))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@dataclass(frozen=True)
class PairedDifference:
    """Setting A minus setting B on the same photos."""

    mean: float
    """Mean of the per-photo differences A − B."""
    low: float
    high: float
    """Bootstrap interval of ``mean`` (photos resampled in pairs)."""
    p_value: float
    """Two-sided p of the paired test (McNemar's exact test for right/wrong outcomes, else Wilcoxon)."""
    test: str
    """``"mcnemar"`` or ``"wilcoxon"``."""

    @property
    def distinguishable(self) -> bool:
        """The interval excludes 0: the data tell A and B apart at its confidence."""
        return self.low > 0 or self.high < 0


def paired_difference(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> PairedDifference:
    """Compare two settings' per-photo outcomes on the same ``N`` photos (``a[i]`` and ``b[i]`` of photo i).

    Raises
    ------
    InputError
        Different lengths, empty or non-finite values (a ``ValueError`` too).
    """
    x, y = _values(a, "a"), _values(b, "b")
    if x.shape != y.shape:
        raise InputError(f"a has {x.size} photos but b has {y.size}: a paired comparison needs the same photos")
    diff = x - y
    low, high = bootstrap_interval(diff, confidence=confidence, resamples=resamples, seed=seed)
    from scipy.stats import binomtest, wilcoxon

    if np.isin(x, (0.0, 1.0)).all() and np.isin(y, (0.0, 1.0)).all():
        # McNemar's exact test: only photos where the two disagree carry information.
        wins, losses = int((diff > 0).sum()), int((diff < 0).sum())
        p = 1.0 if wins + losses == 0 else float(binomtest(wins, wins + losses, 0.5).pvalue)
        test = "mcnemar"
    else:
        p = 1.0 if not diff.any() else float(wilcoxon(x, y).pvalue)
        test = "wilcoxon"
    return PairedDifference(float(diff.mean()), low, high, p, test)
