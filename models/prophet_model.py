"""Prophet with daily and weekly seasonality, holidays off, no stan chatter.

Prophet is a curve in time, not a filter on recent values, so ``update`` needs no refit:
the next forecast is the same curve read further along. ``refit_every`` (steps) refits
warm-started from the previous parameters, as Prophet's docs suggest for updating models.
Intervals are normal around the curve with the in-sample residual spread (Prophet's own
sampled intervals cost ~100× more and the ensemble recalibrates intervals anyway).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from .base import (
    DAY_S,
    WEEK_S,
    FloatArray,
    Forecast,
    HistoryForecaster,
    gaussian_intervals,
)


def _quiet() -> None:
    # cmdstanpy configures its logger on first use (cached), so configure it first, then quiet it.
    from cmdstanpy.utils import get_logger

    get_logger()
    for noisy in ("cmdstanpy", "prophet", "prophet.plot"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def _prophet_quiet() -> Iterator[None]:
    # Prophet 1.5 still calls pandas APIs that pandas 3 deprecates; not ours to fix.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="prophet")
        warnings.filterwarnings("ignore", category=FutureWarning, module="prophet")
        yield


def _stan_init(model: Any) -> dict[str, Any]:
    """Fitted parameters of a Prophet model as a warm start (Prophet docs, 'Updating')."""
    res: dict[str, Any] = {}
    for pname in ("k", "m", "sigma_obs"):
        res[pname] = float(model.params[pname][0][0])
    for pname in ("delta", "beta"):
        res[pname] = model.params[pname][0]
    return res


class ProphetForecaster(HistoryForecaster):
    name = "prophet"
    min_points = 10

    def __init__(
        self,
        max_fit_days: float = 14.0,
        max_fit_points: int = 4_032,
        changepoint_prior_scale: float = 0.05,
        refit_every: int | None = None,
    ) -> None:
        super().__init__()
        self.max_fit_days = max_fit_days
        self.max_fit_points = max_fit_points
        self.changepoint_prior_scale = changepoint_prior_scale
        self.refit_every = refit_every
        self._model: Any = None
        self._sigma = 0.0
        self._since_fit = 0
        self._cache: FloatArray = np.empty(0)
        self._cache_from = 0

    def _frame(self, start_index: int, count: int) -> pd.DataFrame:
        return pd.DataFrame({"ds": pd.to_datetime(self.times(start_index, count), unit="s")})

    def _fit(self) -> None:
        with _prophet_quiet():
            self._fit_quiet()

    def _fit_quiet(self) -> None:
        from prophet import Prophet  # heavy import (cmdstanpy), only when used

        _quiet()

        n = min(self._y.size, self.max_fit_points, int(self.max_fit_days * DAY_S / self._step_s))
        n = max(n, min(self._y.size, self.min_points))
        first = self._y.size - n
        df = self._frame(first, n)
        df["y"] = self._y[first:]
        span_s = n * self._step_s

        def new_model(seasonal: bool = True) -> Any:
            return Prophet(
                growth="linear",
                daily_seasonality=seasonal and span_s >= 2 * DAY_S,
                # Weekly shape needs two weeks to be told apart from trend; less overfits.
                weekly_seasonality=seasonal and span_s >= 2 * WEEK_S,
                yearly_seasonality=False,
                changepoint_prior_scale=self.changepoint_prior_scale,
                uncertainty_samples=0,
            )

        model = new_model()
        try:
            if self._model is not None:
                try:
                    model.fit(df, init=_stan_init(self._model))
                except (RuntimeError, ValueError, KeyError):
                    # The warm start no longer matches (e.g. weekly terms switched on).
                    model = new_model()
                    model.fit(df)
            else:
                model.fit(df)
        except RuntimeError:
            # Stan fails on degenerate (constant) series: fall back to trend only.
            model = new_model(seasonal=False)
            model.fit(df)
        self._model = model
        fitted = np.asarray(model.predict(df[["ds"]])["yhat"], dtype=np.float64)
        self._sigma = float(np.sqrt(np.mean((df["y"].to_numpy() - fitted) ** 2)))
        self._since_fit = 0
        self._cache, self._cache_from = np.empty(0), 0

    def _update(self, new: FloatArray, old_n: int) -> None:
        self._since_fit += new.size
        if self.refit_every is not None and self._since_fit >= self.refit_every:
            self._fit()

    def _curve(self, start_index: int, count: int) -> FloatArray:
        """The fitted curve at grid points, from a cache filled a day at a time: the curve
        does not depend on new observations, and Prophet's predict costs ~30 ms a call."""
        end = start_index + count
        if not (self._cache_from <= start_index and end <= self._cache_from + self._cache.size):
            block = max(count, round(DAY_S / self._step_s))
            with _prophet_quiet():
                yhat = self._model.predict(self._frame(start_index, block))["yhat"]
            self._cache = np.asarray(yhat, dtype=np.float64)
            self._cache_from = start_index
        lo = start_index - self._cache_from
        return self._cache[lo : lo + count]

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> Forecast:
        point = self._curve(self._y.size, horizon).copy()
        sigma = np.full(horizon, self._sigma)
        return Forecast(self.name, point, gaussian_intervals(point, sigma, levels))
