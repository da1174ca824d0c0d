"""Baselines every model must beat: seasonal-naive (same time yesterday) and drift.

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
