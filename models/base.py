"""The one contract every forecaster meets, its typed result, and shared helpers.

A forecaster is fitted on one regular series (values oldest first, a fixed step in
seconds and the unix time of the first point), predicts ``horizon`` steps with intervals at
the requested levels, and takes new observations through ``update`` without a full refit
where the model allows it (state-space filtering, a recurrent window, a curve extended in
time). Time is absolute so daily and weekly phases line up across series and calls.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, Self, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

FloatArray = NDArray[np.float64]

DEFAULT_LEVELS: tuple[float, ...] = (0.8, 0.95)
DAY_S = 86_400
WEEK_S = 7 * DAY_S


@dataclass(frozen=True, slots=True)
class Interval:
    level: float
    lower: FloatArray
    upper: FloatArray


@dataclass(frozen=True, slots=True)
class Forecast:
    """A point path of ``horizon`` steps and one central interval per level."""

    model: str
    point: FloatArray
    intervals: dict[float, Interval]

    @property
    def horizon(self) -> int:
        return int(self.point.size)

    def lower(self, level: float) -> FloatArray:
        return self.intervals[level].lower

    def upper(self, level: float) -> FloatArray:
        return self.intervals[level].upper

    def head(self, steps: int) -> Forecast:
        """The first ``steps`` steps of this forecast."""
        return Forecast(
            model=self.model,
            point=self.point[:steps],
            intervals={
                lv: Interval(lv, iv.lower[:steps], iv.upper[:steps])
                for lv, iv in self.intervals.items()
            },
        )


@runtime_checkable
class Forecaster(Protocol):
    """What the ensemble, the backtest and the service rely on; nothing more."""

    name: str

    def fit(self, y: ArrayLike, step_s: float, start_s: float = 0.0) -> Self: ...

    def update(self, y_new: ArrayLike) -> Self: ...

    def predict(self, horizon: int, levels: Sequence[float] = DEFAULT_LEVELS) -> Forecast: ...


def as_series(y: ArrayLike) -> FloatArray:
    """A 1-D finite float copy of ``y``; forecasters expect a gap-free regular grid."""
    arr = np.array(y, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError("series contains NaN or inf; resample and fill gaps first")
    return arr


def check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    out = tuple(float(lv) for lv in levels)
    for lv in out:
        if not 0.0 < lv < 1.0:
            raise ValueError(f"interval level must be in (0, 1), got {lv}")
    return out


def season_steps(step_s: float, period_s: float = DAY_S) -> int:
    """Steps per seasonal period (1 when the step does not fit the period)."""
    m = round(period_s / step_s)
    return max(m, 1)


def gaussian_intervals(
    point: FloatArray, sigma: FloatArray, levels: Sequence[float]
) -> dict[float, Interval]:
    """Central normal intervals point ± z·sigma per step."""
    out: dict[float, Interval] = {}
    for lv in check_levels(levels):
        z = float(norm.ppf(0.5 + lv / 2.0))
        out[lv] = Interval(lv, point - z * sigma, point + z * sigma)
    return out


class HistoryForecaster(ABC):
    """Shared bookkeeping: the history, its grid, validation and the update default.

    Subclasses implement ``_fit`` and ``_predict``; ``_update`` defaults to a refit on the
    extended history, and models that can do better (filter forward, re-window) override it.
    """

    name: str = "base"
    #: fewest points ``fit`` accepts.
    min_points: int = 2

    def __init__(self) -> None:
        self._y: FloatArray = np.empty(0)
        self._step_s: float = 0.0
        self._start_s: float = 0.0
        self._fitted = False

    @property
    def history(self) -> FloatArray:
        return self._y

    @property
    def step_s(self) -> float:
        return self._step_s

    @property
    def next_time_s(self) -> float:
        """Unix time of the first step the next ``predict`` forecasts."""
        return self._start_s + self._y.size * self._step_s

    def fit(self, y: ArrayLike, step_s: float, start_s: float = 0.0) -> Self:
        arr = as_series(y)
        if arr.size < self.min_points:
            raise ValueError(f"{self.name} needs at least {self.min_points} points, got {arr.size}")
        if step_s <= 0:
            raise ValueError(f"step_s must be positive, got {step_s}")
        self._y, self._step_s, self._start_s = arr, float(step_s), float(start_s)
        self._fit()
        self._fitted = True
        return self

    def update(self, y_new: ArrayLike) -> Self:
        self._require_fitted()
        new = as_series(y_new)
        if new.size == 0:
            return self
        old_n = self._y.size
        self._y = np.concatenate([self._y, new])
        self._update(new, old_n)
        return self

    def predict(self, horizon: int, levels: Sequence[float] = DEFAULT_LEVELS) -> Forecast:
        self._require_fitted()
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        return self._predict(int(horizon), check_levels(levels))

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError(f"{self.name}: call fit() before predict() or update()")

    def times(self, start_index: int, count: int) -> FloatArray:
        """Unix times of ``count`` grid points from index ``start_index``."""
        idx = np.arange(start_index, start_index + count, dtype=np.float64)
        return self._start_s + idx * self._step_s

    @abstractmethod
    def _fit(self) -> None: ...

    @abstractmethod
    def _predict(self, horizon: int, levels: tuple[float, ...]) -> Forecast: ...

    def _update(self, new: FloatArray, old_n: int) -> None:
        # Default for models with no cheaper path: refit on the whole extended history.
        self._fit()
