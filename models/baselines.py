"""Baselines every model must beat: seasonal-naive (same time yesterday), drift and naive
(the last value, with empirical intervals).

Interval widths follow the textbook benchmark formulas (Hyndman & Athanasopoulos, FPP3
§5.5) with sigma from the in-sample one-step residuals of the method itself.
"""

from __future__ import annotations

import numpy as np

from .base import (
    DAY_S,
    FloatArray,
    Forecast,
    HistoryForecaster,
    Interval,
    check_levels,
    gaussian_intervals,
    season_steps,
)


class SeasonalNaive(HistoryForecaster):
    """Repeat the last full season; falls back to the last value on short histories."""

    name = "seasonal_naive"
    min_points = 1

    def __init__(self, period_s: float = DAY_S, max_sigma_points: int = 20_000) -> None:
        super().__init__()
        self.period_s = period_s
        self.max_sigma_points = max_sigma_points
        self._m = 1
        self._sigma = 0.0

    def _fit(self) -> None:
        m = season_steps(self._step_s, self.period_s)
        self._m = m if self._y.size > m else 1
        self._sigma = self._residual_sigma()

    def _residual_sigma(self) -> float:
        y = self._y[-self.max_sigma_points :]
        if y.size <= self._m:
            return 0.0
        resid = y[self._m :] - y[: -self._m]
        return float(np.sqrt(np.mean(resid**2)))

    def _update(self, new: FloatArray, old_n: int) -> None:
        if self._m == 1 and self._y.size > season_steps(self._step_s, self.period_s):
            self._fit()

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> Forecast:
        m = self._m
        last = self._y[-m:]
        reps = int(np.ceil(horizon / m))
        point = np.tile(last, reps)[:horizon].astype(np.float64)
        k = np.arange(horizon) // m  # whole seasons elapsed before each step
        sigma = self._sigma * np.sqrt(k + 1.0)
        return Forecast(self.name, point, gaussian_intervals(point, sigma, levels))


class Drift(HistoryForecaster):
    """The last value plus the average slope over a recent window (``slope_window`` steps)."""

    name = "drift"

    def __init__(self, slope_window: int | None = None) -> None:
        super().__init__()
        self.slope_window = slope_window
        self._slope = 0.0
        self._sigma = 0.0
        self._n_eff = 2

    def _fit(self) -> None:
        y = self._y if self.slope_window is None else self._y[-self.slope_window :]
        self._n_eff = y.size
        self._slope = float((y[-1] - y[0]) / (y.size - 1)) if y.size > 1 else 0.0
        resid = np.diff(y) - self._slope
        self._sigma = float(np.sqrt(np.mean(resid**2))) if resid.size else 0.0

    def _update(self, new: FloatArray, old_n: int) -> None:
        self._fit()

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> Forecast:
        h = np.arange(1, horizon + 1, dtype=np.float64)
        point = self._y[-1] + self._slope * h
        sigma = self._sigma * np.sqrt(h * (1.0 + h / max(self._n_eff - 1, 1)))
        return Forecast(self.name, point, gaussian_intervals(point, sigma, levels))


class Naive(HistoryForecaster):
    """The last value, with empirical intervals: the quantiles of the series' own ``h``-step
    changes over its last ``window_s`` (split conformal on the recent past, per horizon step).

    It is the level path the autoscaler is measured with (``autoscaler.online``), so serving
    answers with it until a champion is trained: a seasonal-naive point is worse than no change
    at a few minutes' lead on most real series, and a forecast worse than no change sends the
    autoscaler to its reactive fallback."""

    name = "naive"
    min_points = 1

    def __init__(self, window_s: float = 4 * 3600.0) -> None:
        super().__init__()
        self.window_s = window_s

    def _fit(self) -> None:
        pass  # everything is read from the history at predict time

    def _update(self, new: FloatArray, old_n: int) -> None:
        pass

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> Forecast:
        y = self._y
        last = float(y[-1])
        point = np.full(horizon, last)
        window = max(12, int(self.window_s // self._step_s))
        tail = y[-(window + horizon) :]
        out: dict[float, Interval] = {}
        if tail.size <= horizon:  # no h-step change seen yet: no spread to go by
            return Forecast(self.name, point, {lv: Interval(lv, point, point) for lv in check_levels(levels)})
        # Each start whose changes 1..horizon steps later are all known, the newest `window`.
        runs = np.lib.stride_tricks.sliding_window_view(tail, horizon + 1)
        changes = runs[:, 1:] - runs[:, :1]  # (starts, horizon)
        for lv in check_levels(levels):
            lo, hi = np.quantile(changes, (0.5 - lv / 2.0, 0.5 + lv / 2.0), axis=0)
            out[lv] = Interval(lv, point + np.minimum(lo, 0.0), point + np.maximum(hi, 0.0))
        return Forecast(self.name, point, out)
