"""ARIMA with daily Fourier terms (dynamic harmonic regression), statsmodels SARIMAX.

A seasonal ARIMA with a 288- or 1,440-step season is far too slow to fit, so daily
seasonality enters as K sine/cosine pairs of the time of day (harmonic regression with
ARIMA errors, FPP3 §10.5, fitted in two stages); K = 0 competes in the same AIC grid, so
seasonality is used only where it pays. The differencing order comes from a KPSS test (as
auto.arima does) so that AIC
compares models on the same data. ``update`` filters new points forward with the fitted
parameters (``extend``): no re-estimation.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from statsmodels.tsa.arima.model import ARIMA
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
        self._beta: FloatArray = np.zeros(0)
        self._flat = False
        self.chosen_order: Order = (0, 0, 0)
        self.chosen_fourier = 0

    @property
    def params(self) -> dict[str, float]:
        """The fitted ARIMA parameters by statsmodels name (the Fourier part is separate)."""
        self._require_fitted()
        names = self._res.model.param_names
        return {n: float(v) for n, v in zip(names, np.asarray(self._res.params), strict=True)}

    def _seasonal(self, start_index: int, count: int) -> FloatArray:
        """The fitted daily Fourier component at ``count`` grid points."""
        x = fourier_terms(self.times(start_index, count), self.chosen_fourier, self.period_s)
        return np.zeros(count) if x is None else np.asarray(x @ self._beta, dtype=np.float64)

    def _fourier_options(self, n: int) -> tuple[int, ...]:
        if self.fourier is not None:
            return (self.fourier,)
        # Fourier terms need at least a day of history to be identified.
        per_day = DAY_S / self._step_s
        return tuple(k for k in self.fourier_grid if k == 0 or n >= per_day)

    def _trend(self, order: Order) -> str:
        return self.trend if self.trend is not None else ("c" if order[1] == 0 else "n")

    def _fit_one(self, y: FloatArray, order: Order) -> Any:
        model = ARIMA(y, order=order, trend=self._trend(order))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on flat or tiny series
            try:
                # Exact Gaussian MLE through the innovations algorithm: the same optimum as
                # the Kalman-filter MLE here, ~5-10x faster on long series.
                return model.fit(method="innovations_mle")
            except (ValueError, ZeroDivisionError, np.linalg.LinAlgError):
                return model.fit(method_kwargs={"maxiter": self.maxiter})

    def _fit(self) -> None:
        n_all = self._y.size
        n = min(n_all, self.max_fit_points)
        y = self._y[-n:]
        first = n_all - n
        self._flat = bool(np.ptp(y) == 0.0)
        if self._flat:  # nothing to estimate: the forecast is the constant itself
            self.chosen_order, self.chosen_fourier, self._res = (0, 0, 0), 0, None
            return
        # Two stages keep the search cheap (the optimiser's numerical gradient costs one
        # filter pass per parameter): the Fourier coefficients by least squares, then the
        # ARMA orders on the remainder. The AIC of each K adds 2 per Fourier coefficient.
        remainders: dict[int, tuple[FloatArray, FloatArray]] = {}
        t = self.times(first, n)
        for k in self._fourier_options(n):
            x = fourier_terms(t, k, self.period_s)
            if x is None:
                remainders[k] = (y, np.zeros(0))
                continue
            design = np.column_stack([np.ones(n), x])
            beta, *_ = np.linalg.lstsq(design, y, rcond=None)
            coef = np.asarray(beta[1:], dtype=np.float64)
            remainders[k] = (np.asarray(y - x @ coef, dtype=np.float64), coef)
        kmax = max(remainders)
        d = self.order[1] if self.order is not None else choose_d(remainders[kmax][0], None)
        probe: Order = self.order if self.order is not None else (1, d, 0)
        best = self._best(remainders, [(probe, k) for k in remainders])
        if self.order is None:
            k = best[3]
            best = self._best(remainders, [((p, d, q), k) for p, q in self.pq_grid], best)
        _, self._res, self.chosen_order, self.chosen_fourier = best
        self._beta = remainders[self.chosen_fourier][1]

    def _best(
        self,
        remainders: dict[int, tuple[FloatArray, FloatArray]],
        candidates: Sequence[tuple[Order, int]],
        best: tuple[float, Any, Order, int] | None = None,
    ) -> tuple[float, Any, Order, int]:
        for order, k in candidates:
            if best is not None and best[2] == order and best[3] == k:
                continue
            try:
                res = self._fit_one(remainders[k][0], order)
            except (np.linalg.LinAlgError, ValueError):
                continue
            aic = float(res.aic) + 4.0 * k if np.isfinite(res.aic) else np.inf
            if best is None or aic < best[0]:
                best = (aic, res, order, k)
        if best is None:
            raise RuntimeError("arima: no candidate order could be fitted")
        return best

    def _update(self, new: FloatArray, old_n: int) -> None:
        if self._flat:
            self._fit()  # cheap while flat; a real fit once the series moves
            return
        self._res = self._res.extend(new - self._seasonal(old_n, new.size))

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> Forecast:
        if self._flat:
            point = np.full(horizon, self._y[-1])
            return Forecast(self.name, point, {lv: Interval(lv, point, point) for lv in levels})
        seasonal = self._seasonal(self._y.size, horizon)
        fc = self._res.get_forecast(horizon)
        point = np.asarray(fc.predicted_mean, dtype=np.float64) + seasonal
        intervals: dict[float, Interval] = {}
        for lv in levels:
            ci = np.asarray(fc.conf_int(alpha=1.0 - lv), dtype=np.float64)
            intervals[lv] = Interval(lv, ci[:, 0] + seasonal, ci[:, 1] + seasonal)
        return Forecast(self.name, point, intervals)
