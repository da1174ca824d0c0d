"""Accuracy and uncertainty scores, as the backtest and the benchmark report them.

MASE scales by the in-sample MAE of the seasonal-naive method (Hyndman & Koehler 2006), so
MASE < 1 means better than "same time yesterday" was on the training data. sMAPE is the
M4 definition in percent (0..200). "Within 10 %" is the brief's accuracy target.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .base import FloatArray


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[FloatArray, FloatArray]:
    a = np.asarray(y_true, dtype=np.float64).ravel()
    b = np.asarray(y_pred, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise ValueError("no points to score")
    return a, b


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    a, b = _pair(y_true, y_pred)
    return float(np.mean(np.abs(a - b)))


def naive_scale(y_insample: ArrayLike, m: int) -> float:
    """In-sample MAE of the seasonal-naive method with period ``m`` (1 = naive)."""
    y = np.asarray(y_insample, dtype=np.float64).ravel()
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    if y.size <= m:
        raise ValueError(f"need more than m={m} in-sample points, got {y.size}")
    return float(np.mean(np.abs(y[m:] - y[:-m])))


def mase(y_true: ArrayLike, y_pred: ArrayLike, y_insample: ArrayLike, m: int = 1) -> float:
    """Mean absolute scaled error; inf when the in-sample naive error is zero."""
    scale = naive_scale(y_insample, m)
    err = mae(y_true, y_pred)
    if scale == 0.0:
        return 0.0 if err == 0.0 else float("inf")
    return err / scale


def smape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Symmetric MAPE in percent; a point where both are zero counts as a perfect 0."""
    a, b = _pair(y_true, y_pred)
    denom = np.abs(a) + np.abs(b)
    ratio = np.divide(2.0 * np.abs(a - b), denom, out=np.zeros_like(a), where=denom > 0)
    return float(100.0 * np.mean(ratio))


def within_pct(y_true: ArrayLike, y_pred: ArrayLike, tolerance: float = 0.10) -> float:
    """Percent of points whose forecast is within ``tolerance`` (relative) of the actual."""
    a, b = _pair(y_true, y_pred)
    return float(100.0 * np.mean(np.abs(a - b) <= tolerance * np.abs(a)))


def coverage(y_true: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Percent of actuals inside [lower, upper]."""
    a, lo = _pair(y_true, lower)
    _, hi = _pair(y_true, upper)
    if np.any(hi < lo):
        raise ValueError("upper bound below lower bound")
    return float(100.0 * np.mean((a >= lo) & (a <= hi)))


def mean_width(lower: ArrayLike, upper: ArrayLike, y_insample: ArrayLike | None = None) -> float:
    """Mean interval width; divided by the in-sample mean |y| when given (unit-free)."""
    lo, hi = _pair(lower, upper)
    width = float(np.mean(hi - lo))
    if y_insample is None:
        return width
    ref = float(np.mean(np.abs(np.asarray(y_insample, dtype=np.float64))))
    return width / ref if ref > 0 else float("inf")
