"""Feature code shared by training, serving and the stream agents.

One implementation, so a model sees in production exactly what it saw in training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class RollingStats:
    count: int
    last: float
    mean: float
    std: float
    p95: float
    ewma: float


def rolling_stats(values: Sequence[float], ewma_alpha: float = 0.3) -> RollingStats:
    """Summary statistics of one window of values (oldest first).

    numpy's numbers bit for bit (training computed them with numpy), in plain Python: a
    stream agent calls this once per feature on windows of ~15 points, where numpy's call
    overhead was most of the cost.
    """
    if len(values) == 0:
        raise ValueError("rolling_stats needs at least one value")
    if not 0 < ewma_alpha <= 1:
        raise ValueError(f"ewma_alpha must be in (0, 1], got {ewma_alpha}")
    seq = [float(v) for v in values]
    ewma = seq[0]
    for v in seq[1:]:
        ewma = ewma_alpha * v + (1 - ewma_alpha) * ewma
    mean, std = mean_std(seq)
    return RollingStats(
        count=len(seq),
        last=seq[-1],
        mean=mean,
        std=std,
        p95=percentile_linear(seq, 95.0),
        ewma=ewma,
    )


def _pairwise_sum(seq: Sequence[float], lo: int, n: int) -> float:
    """numpy's float64 summation (``DOUBLE_pairwise_sum``: eight running sums per block of up
    to 128, halves above), in the same order, so the result is numpy's bit for bit."""
    if n < 8:
        res = -0.0  # numpy starts from -0.0 so that a sum of -0.0s stays -0.0
        for i in range(lo, lo + n):
            res += seq[i]
        return res
    if n <= 128:
        r0, r1, r2, r3, r4, r5, r6, r7 = seq[lo:lo + 8]
        i = lo + 8
        end = lo + n - n % 8
        while i < end:
            r0 += seq[i]
            r1 += seq[i + 1]
            r2 += seq[i + 2]
            r3 += seq[i + 3]
            r4 += seq[i + 4]
            r5 += seq[i + 5]
            r6 += seq[i + 6]
            r7 += seq[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for j in range(i, lo + n):
            res += seq[j]
        return res
    half = n // 2
    half -= half % 8
    return _pairwise_sum(seq, lo, half) + _pairwise_sum(seq, lo + half, n - half)


def mean_std(seq: Sequence[float]) -> tuple[float, float]:
    """``(arr.mean(), arr.std())`` of a non-empty sequence of floats, bit for bit."""
    n = len(seq)
    mean = _pairwise_sum(seq, 0, n) / n
    squares = [(v - mean) * (v - mean) for v in seq]
    return mean, math.sqrt(_pairwise_sum(squares, 0, n) / n)


def median(seq: Sequence[float]) -> float:
    """``np.median`` of a non-empty sequence of finite floats, bit for bit."""
    ordered = sorted(seq)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def percentile_linear(values: Sequence[float], q: float) -> float:
    """``np.percentile(values, q)`` (method "linear"), bit for bit, without its overhead.

    The stream agents call this once per feature; numpy's general path costs ~50 us on a
    15-point window, this ~2 us. Same float operations in the same order as numpy 2's
    ``_quantile``/``_lerp``, so features match training exactly (tested against numpy).
    """
    seq = sorted(values)
    n = len(seq)
    if n == 0:
        raise ValueError("percentile of no values")
    if any(v != v for v in seq):  # NaN: leave numpy's NaN rules to numpy
        return float(np.percentile(np.asarray(values, dtype=float), q))
    virtual = (n - 1) * (q / 100)
    if virtual >= n - 1:
        return seq[-1]
    if virtual < 0:
        return seq[0]
    prev = math.floor(virtual)
    a, b = seq[prev], seq[prev + 1]
    gamma = virtual - prev
    diff = b - a
    # numpy's _lerp: from the nearer end, so the result stays within [a, b].
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


@dataclass(frozen=True, slots=True)
class Decomposition:
    trend: NDArray[np.float64]
    seasonal: NDArray[np.float64]
    resid: NDArray[np.float64]


def stl_decompose(
    values: Sequence[float] | NDArray[np.float64], period: int, robust: bool = True
) -> Decomposition:
    """STL (Cleveland et al. 1990) into trend, seasonal and remainder.

    Robust by default so a burst lands in the remainder instead of bending the trend.
    Needs two full periods; ``period`` is in steps (288 for a day of 5-minute points).
    """
    from statsmodels.tsa.seasonal import STL  # keeps rolling_stats' import light

    arr = np.asarray(values, dtype=float)
    if period < 2:
        raise ValueError(f"period must be >= 2, got {period}")
    if arr.size < 2 * period:
        raise ValueError(f"STL needs two periods ({2 * period} points), got {arr.size}")
    res = STL(arr, period=period, robust=robust).fit()
    return Decomposition(
        trend=np.asarray(res.trend, dtype=float),
        seasonal=np.asarray(res.seasonal, dtype=float),
        resid=np.asarray(res.resid, dtype=float),
    )


def robust_zscores(values: Sequence[float] | NDArray[np.float64]) -> NDArray[np.float64]:
    """|x - median| / (1.4826 · MAD): a z-score that a few outliers cannot inflate."""
    arr = np.asarray(values, dtype=float)
    med = float(np.median(arr))
    mad = 1.4826 * float(np.median(np.abs(arr - med)))
    if mad == 0.0:
        # Flat remainder: fall back to the std so a single jump still scores high.
        mad = float(arr.std()) or 1.0
    return np.abs(arr - med) / mad


def anomaly_scores(
    values: Sequence[float] | NDArray[np.float64], period: int | None = None
) -> NDArray[np.float64]:
    """Per-point anomaly score: robust z-score of the STL remainder (of the raw values when
    the window holds under two periods, or no period is given)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("anomaly_scores needs at least one value")
    if period is not None and period >= 2 and arr.size >= 2 * period:
        return robust_zscores(stl_decompose(arr, period).resid)
    return robust_zscores(arr)


def anomaly_score(
    values: Sequence[float] | NDArray[np.float64], period: int | None = None
) -> float:
    """The anomaly score of the newest value in the window (what a stream agent emits)."""
    n = len(values)
    if n and (period is None or period < 2 or n < 2 * period):
        # No decomposition: the newest point's robust z-score, in plain Python (called once
        # per feature on ~15 points; same numbers as anomaly_scores, tested).
        seq = [float(v) for v in values]
        if all(v == v for v in seq):  # NaN: numpy's rules, below
            med = median(seq)
            mad = 1.4826 * median([abs(v - med) for v in seq])
            if mad == 0.0:
                mad = mean_std(seq)[1] or 1.0
            return abs(seq[-1] - med) / mad
    return float(anomaly_scores(values, period)[-1])


def correlation(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation of two aligned series; None when it is undefined (fewer than three
    pairs, or a flat series), so a missing figure is never mistaken for "uncorrelated"."""
    if len(x) != len(y):
        raise ValueError(f"correlation needs aligned series, got {len(x)} and {len(y)} points")
    r = float(correlation_matrix([x, y])[0, 1])
    return r if r == r else None


def correlation_matrix(rows: Sequence[Sequence[float]] | NDArray[np.float64]) -> NDArray[np.float64]:
    """Pearson correlations between aligned series (one per row), NaN where undefined (a flat
    series, or fewer than three points): all pairs in one pass, for a VM's metrics."""
    arr = np.asarray(rows, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"correlation_matrix needs a 2-D array of series, got {arr.ndim}-D")
    if arr.shape[1] < 3:
        return np.full((arr.shape[0], arr.shape[0]), np.nan)
    centred = arr - arr.mean(axis=1, keepdims=True)
    norms = np.sqrt(np.einsum("ij,ij->i", centred, centred))
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = centred / norms[:, None]
        out: NDArray[np.float64] = np.clip(unit @ unit.T, -1.0, 1.0)
    flat = ~(norms > 0) | ~np.isfinite(norms)
    out[flat, :] = np.nan
    out[:, flat] = np.nan
    return out


def pooled_correlation(rs: Sequence[float]) -> float | None:
    """One correlation for several samples' (e.g. a group's members): the mean of Fisher's
    z = atanh(r), back through tanh; a plain mean of r is biased towards 0. None for none."""
    if len(rs) == 0:
        return None
    z = [math.atanh(max(-0.999999, min(0.999999, float(r)))) for r in rs]
    return math.tanh(sum(z) / len(z))
