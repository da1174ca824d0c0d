"""ARIMA with daily Fourier terms (dynamic harmonic regression), statsmodels SARIMAX.

A seasonal ARIMA with a 288- or 1,440-step season is far too slow to fit, so daily
seasonality enters as K sine/cosine pairs of the time of day (regression with ARIMA
errors, FPP3 §10.5); K = 0 competes in the same AIC grid, so seasonality is used only where
it pays. The differencing order comes from a KPSS test (as auto.arima does) so that AIC
compares models on the same data. ``update`` filters new points forward with the fitted
parameters (``extend``): no re-estimation.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from statsmodels.tsa.statespace.sarimax import SARIMAX
from statsmodels.tsa.stattools import kpss

from .base import DAY_S, FloatArray, Forecast, HistoryForecaster, Interval

Order = tuple[int, int, int]

# A small grid: AR and MA up to 2 covers most load series at these steps; each fit is cheap.
DEFAULT_PQ: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (1, 1), (2, 1), (0, 1))
DEFAULT_FOURIER: tuple[int, ...] = (0, 3)


def fourier_terms(t_s: FloatArray, k: int, period_s: float = DAY_S) -> FloatArray | None:
    """K sine/cosine pairs of the phase of ``t_s`` (unix seconds) within the period."""
    if k == 0:
        return None
    phase = 2.0 * np.pi * (np.asarray(t_s) % period_s) / period_s
    cols = [f(j * phase) for j in range(1, k + 1) for f in (np.sin, np.cos)]
    return np.column_stack(cols)


def choose_d(y: FloatArray, exog: FloatArray | None) -> int:
    """1 if the (deseasonalised) series fails KPSS stationarity at 5 %, else 0."""
    resid = y
    if exog is not None:
        x = np.column_stack([np.ones(y.size), exog])
        beta, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ beta
    if np.std(resid) == 0:
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KPSS warns when p is outside its lookup table
        _, p, *_ = kpss(resid, regression="c", nlags="auto")
    return 1 if p < 0.05 else 0


class ArimaForecaster(HistoryForecaster):
    """ARIMA(p,d,q) + optional daily Fourier regressors, order chosen by AIC unless fixed."""

    name = "arima"
    min_points = 10

    def __init__(
        self,
        order: Order | None = None,
        fourier: int | None = None,
        trend: str | None = None,
        max_fit_points: int = 2_016,
        pq_grid: Sequence[tuple[int, int]] = DEFAULT_PQ,
        fourier_grid: Sequence[int] = DEFAULT_FOURIER,
        period_s: float = DAY_S,
        maxiter: int = 50,
    ) -> None:
        super().__init__()
        self.order = order
        self.fourier = fourier
        self.trend = trend
        self.max_fit_points = max_fit_points
        self.pq_grid = tuple(pq_grid)
        self.fourier_grid = tuple(fourier_grid)
        self.period_s = period_s
        self.maxiter = maxiter
        self._res: Any = None
        self.chosen_order: Order = (0, 0, 0)
        self.chosen_fourier = 0

    def _exog(self, start_index: int, count: int, k: int) -> FloatArray | None:
        return fourier_terms(self.times(start_index, count), k, self.period_s)

    def _fourier_options(self, n: int) -> tuple[int, ...]:
        if self.fourier is not None:
            return (self.fourier,)
        # Fourier terms need at least a day of history to be identified.
        per_day = DAY_S / self._step_s
        return tuple(k for k in self.fourier_grid if k == 0 or n >= per_day)

    def _fit_one(self, y: FloatArray, exog: FloatArray | None, order: Order) -> Any:
        trend = self.trend if self.trend is not None else ("c" if order[1] == 0 else "n")
        model = SARIMAX(y, exog=exog, order=order, trend=trend, concentrate_scale=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on flat or tiny series
            return model.fit(disp=False, maxiter=self.maxiter)

    def _fit(self) -> None:
        n_all = self._y.size
        n = min(n_all, self.max_fit_points)
        y = self._y[-n:]
        first = n_all - n
        ks = self._fourier_options(n)
        d = self.order[1] if self.order is not None else choose_d(y, self._exog(first, n, max(ks)))
        # Two stages keep the grid cheap: the seasonal terms are chosen with a plain AR(1)
        # error, then the ARMA orders with those terms fixed.
        probe: Order = self.order if self.order is not None else (1, d, 0)
        best = self._best(y, first, [(probe, k) for k in ks])
        if self.order is None:
            k = best[3]
            best = self._best(y, first, [((p, d, q), k) for p, q in self.pq_grid], best)
        _, self._res, self.chosen_order, self.chosen_fourier = best

    def _best(
        self,
        y: FloatArray,
        first: int,
        candidates: Sequence[tuple[Order, int]],
        best: tuple[float, Any, Order, int] | None = None,
    ) -> tuple[float, Any, Order, int]:
        for order, k in candidates:
            if best is not None and best[2] == order and best[3] == k:
                continue
            try:
                res = self._fit_one(y, self._exog(first, y.size, k), order)
            except (np.linalg.LinAlgError, ValueError):
                continue
            aic = float(res.aic) if np.isfinite(res.aic) else np.inf
            if best is None or aic < best[0]:
                best = (aic, res, order, k)
        if best is None:
            raise RuntimeError("arima: no candidate order could be fitted")
        return best

    def _update(self, new: FloatArray, old_n: int) -> None:
        exog = self._exog(old_n, new.size, self.chosen_fourier)
        self._res = self._res.extend(new, exog=exog)

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> Forecast:
        exog = self._exog(self._y.size, horizon, self.chosen_fourier)
        fc = self._res.get_forecast(horizon, exog=exog)
        point = np.asarray(fc.predicted_mean, dtype=np.float64)
        intervals: dict[float, Interval] = {}
        for lv in levels:
            ci = np.asarray(fc.conf_int(alpha=1.0 - lv), dtype=np.float64)
            intervals[lv] = Interval(lv, ci[:, 0], ci[:, 1])
        return Forecast(self.name, point, intervals)
