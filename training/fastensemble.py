"""The served ensemble: members that forecast straight from a history, no per-request fits.

The service is called for every VM every few seconds, so a forecast must not refit ARIMA or
Prophet (seconds per series). The members here need only the history they are handed:

* ``seasonal_naive`` — the same time one season (a day) earlier;
* ``naive`` — the last value (at a few minutes' lead, what the others must beat: without it
  the blend was worse than no change on enough series to send the autoscaler to its reactive
  fallback on a quarter of the steps, measured with ``bench.fleet_autoscaling
  --forecaster served-champion``);
* ``drift`` — the last value plus the average slope of the history;
* ``lstm`` — one global network per step (``models/lstm.py``), batched: one forward pass
  for every series of a request.

Member weights per horizon step and the conformal interval state come from a rolling-origin
calibration over many series at training time, on errors normalised by each series' spread
(``series_scale``), so one calibration serves series of any unit. At forecast time a series
costs a few numpy slices plus its share of one batched forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from novacron.models.base import (
    DAY_S,
    DEFAULT_LEVELS,
    FloatArray,
    Forecast,
    HistoryForecaster,
    Interval,
    check_levels,
    season_steps,
)
from novacron.models.lstm import _CLIP, GlobalLSTM, pin_threads, series_scale

MEMBERS: tuple[str, ...] = ("seasonal_naive", "naive", "drift", "lstm")
WEIGHTINGS: tuple[str, ...] = ("inverse_error", "inverse_mse", "best", "equal")


def scale_points(step_s: float) -> int:
    return max(2, round(7 * DAY_S / step_s))


def conformal_quantile(sorted_scores: FloatArray, q: float) -> float:
    """Finite-sample-corrected empirical quantile (split conformal) of sorted scores."""
    n = sorted_scores.size
    rank = min(int(np.ceil((n + 1) * q)), n) if q >= 0.5 else max(int(np.floor((n + 1) * q)), 1)
    return float(sorted_scores[rank - 1])


def _smooth(x: FloatArray, width: int) -> FloatArray:
    """Moving average along the last axis, edges padded with the edge value."""
    if width <= 1 or x.shape[-1] <= 2:
        return x
    pad = width // 2
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, width - 1 - pad)], mode="edge")
    kernel = np.ones(width) / width
    out = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), -1, padded)
    return np.asarray(out, dtype=np.float64)


def lstm_windows(
    lstm: GlobalLSTM,
    ys: Sequence[FloatArray],
    starts: Sequence[float],
    origins: Sequence[int],
    scales: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``GlobalLSTM._window`` for many series at once (the same inputs, vectorised): the
    per-series work is two slices; the arithmetic runs once over the whole batch."""
    cfg = lstm.config
    n, c, h = len(ys), cfg.context, cfg.horizon
    m = season_steps(lstm.step_s, cfg.period_s)
    raw = np.empty((n, c))
    seas_raw = np.zeros((n, h))
    has_seas = np.zeros(n, dtype=bool)
    k = np.arange(h)
    for i, (y, o) in enumerate(zip(ys, origins, strict=True)):
        w = y[max(o - c, 0) : o]
        if w.size < c:  # short history: pad with its first value
            raw[i, : c - w.size] = w[0]
        raw[i, c - w.size :] = w
        if o >= m:
            seas_raw[i] = y[np.minimum(o - m + k, o - 1)]
            has_seas[i] = True
    level = raw.mean(axis=1)
    sc = scales[:, None]
    o_arr = np.asarray(origins, dtype=np.float64)
    st = np.asarray(starts, dtype=np.float64)
    t_ctx = st[:, None] + (o_arr[:, None] - c + np.arange(c)[None, :]) * lstm.step_s
    ang = 2.0 * np.pi * (t_ctx % cfg.period_s) / cfg.period_s
    ctx = np.stack([np.clip((raw - level[:, None]) / sc, -_CLIP, _CLIP), np.sin(ang), np.cos(ang)], axis=-1)
    seas = np.where(has_seas[:, None], np.clip((seas_raw - level[:, None]) / sc, -_CLIP, _CLIP), 0.0)
    ang0 = 2.0 * np.pi * ((st + o_arr * lstm.step_s) % cfg.period_s) / cfg.period_s
    phase = np.stack([np.sin(ang0), np.cos(ang0)], axis=-1)
    return ctx, seas, phase, level


def batch_scales(ys: Sequence[FloatArray], points: int) -> FloatArray:
    """``series_scale`` per series; vectorised when the tails have one length (the usual
    request: every VM sends the same window)."""
    tails = [y[-points:] for y in ys]
    if tails and all(t.size == tails[0].size for t in tails):
        arr = np.stack(tails)
        floor = np.maximum(1e-3 * np.abs(arr.mean(axis=1)), 1e-6)
        return np.asarray(np.maximum(arr.std(axis=1), floor), dtype=np.float64)
    return np.array([series_scale(y, points) for y in ys])


@dataclass(slots=True)
class StepModel:
    """Everything needed to forecast series of one step (seconds)."""

    step_s: float
    members: tuple[str, ...]
    lstm: GlobalLSTM | None = None
    weights: FloatArray = field(default_factory=lambda: np.ones((1, 1)))  # (members, horizon)
    sigma: FloatArray = field(default_factory=lambda: np.ones(1))  # (horizon,) normalised
    scores: FloatArray = field(default_factory=lambda: np.zeros(1))  # sorted residual / sigma
    n_calibration: int = 0  # (series, origin) pairs behind weights and scores

    @property
    def season(self) -> int:
        return season_steps(self.step_s)

    def member_paths(
        self,
        ys: Sequence[FloatArray],
        starts: Sequence[float],
        origins: Sequence[int],
        scales: FloatArray,
        horizon: int,
    ) -> FloatArray:
        """(members, len(ys), horizon): every member's path after ``origins[i]`` points of
        ``ys[i]`` (so calibration reads windows of one array instead of copying prefixes)."""
        n = len(ys)
        out = np.empty((len(self.members), n, horizon))
        steps = np.arange(horizon)
        m = self.season
        for j, name in enumerate(self.members):
            if name == "seasonal_naive":
                for i, (y, o) in enumerate(zip(ys, origins, strict=True)):
                    out[j, i] = y[o - m + steps % m] if o > m else y[o - 1]
            elif name == "naive":
                for i, (y, o) in enumerate(zip(ys, origins, strict=True)):
                    out[j, i] = y[o - 1]
            elif name == "drift":
                for i, (y, o) in enumerate(zip(ys, origins, strict=True)):
                    slope = (y[o - 1] - y[0]) / (o - 1) if o > 1 else 0.0
                    out[j, i] = y[o - 1] + slope * (steps + 1)
            elif name == "lstm":
                out[j] = self._lstm_paths(ys, starts, origins, scales, horizon)
            else:
                raise ValueError(f"unknown member {name!r}")
        return out

    def _lstm_paths(
        self,
        ys: Sequence[FloatArray],
        starts: Sequence[float],
        origins: Sequence[int],
        scales: FloatArray,
        horizon: int,
    ) -> FloatArray:
        lstm = self.lstm
        if lstm is None or lstm._net is None:
            raise RuntimeError("the lstm member has no trained network")
        net, h_net = lstm._net, lstm.config.horizon
        pin_threads()  # requests run in a worker thread: one OpenMP thread there too
        hist = list(ys)
        pos = list(origins)
        blocks: list[FloatArray] = []
        done = 0
        while done < horizon:  # longer horizons than the network's: feed its path back
            ctx, seas, phase, levels = lstm_windows(lstm, hist, starts, pos, scales)
            with torch.no_grad():
                pred = net(
                    torch.from_numpy(ctx.astype(np.float32)),
                    torch.from_numpy(seas.astype(np.float32)),
                    torch.from_numpy(phase.astype(np.float32)),
                ).numpy()
            path = levels[:, None] + scales[:, None] * pred.astype(np.float64)
            blocks.append(path)
            done += h_net
            if done < horizon:
                hist = [np.concatenate([y[:o], p]) for y, o, p in zip(hist, pos, path, strict=True)]
                pos = [y.size for y in hist]
        return np.concatenate(blocks, axis=1)[:, :horizon]

    def combine(self, paths: FloatArray) -> FloatArray:
        """(members, n, h) -> (n, h) with the per-step weights (last column beyond it)."""
        h = paths.shape[2]
        w = self.weights[:, np.minimum(np.arange(h), self.weights.shape[1] - 1)]
        return np.asarray(np.einsum("mh,mnh->nh", w, paths), dtype=np.float64)

    def band(self, level: float, horizon: int) -> tuple[FloatArray, FloatArray]:
        """Normalised (lower, upper) offsets per step for a central ``level`` interval."""
        sig = self.sigma[np.minimum(np.arange(horizon), self.sigma.size - 1)]
        lo = conformal_quantile(self.scores, (1.0 - level) / 2.0)
        hi = conformal_quantile(self.scores, (1.0 + level) / 2.0)
        return lo * sig, hi * sig

    def calibrate(self, paths: FloatArray, actual: FloatArray, weighting: str) -> None:
        """Weights and conformal state from normalised member paths (members, k, h) and
        normalised actuals (k, h) at ``k`` calibration origins."""
        n_m, k, h = paths.shape
        smooth = max(1, h // 8)
        err = _smooth(np.mean(np.abs(paths - actual[None]), axis=1), smooth)
        err = np.maximum(err, 1e-9)
        if weighting == "inverse_error":
            w = 1.0 / err
        elif weighting == "inverse_mse":
            w = 1.0 / err**2
        elif weighting == "best":
            w = (err == err.min(axis=0, keepdims=True)).astype(np.float64)
        elif weighting == "equal":
            w = np.ones((n_m, h))
        else:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        self.weights = w / w.sum(axis=0, keepdims=True)
        resid = actual - np.einsum("mh,mkh->kh", self.weights, paths)
        sigma = _smooth(np.mean(np.abs(resid), axis=0)[None, :], smooth)[0]
        self.sigma = np.maximum(np.maximum.accumulate(sigma), 1e-6)
        self.scores = np.sort((resid / self.sigma).ravel())
        self.n_calibration = k


@dataclass(frozen=True, slots=True)
class SeriesRequest:
    history: FloatArray
    step_s: float
    horizon: int
    start_s: float = 0.0
    levels: tuple[float, ...] = DEFAULT_LEVELS


class FastEnsemble:
    """Step models by step; series of an unknown step get seasonal-naive with the textbook
    interval (no calibration exists for them), and the answer says so in its weights."""

    name = "ensemble"

    def __init__(
        self, steps: dict[float, StepModel], weighting: str, meta: dict[str, str] | None = None
    ) -> None:
        self.steps = steps
        self.weighting = weighting
        self.meta = dict(meta or {})

    def predict_batch(self, items: Sequence[SeriesRequest]) -> list[tuple[Forecast, dict[str, float]]]:
        """A forecast and the member weights (averaged over the horizon) per series."""
        out: list[tuple[Forecast, dict[str, float]] | None] = [None] * len(items)
        groups: dict[tuple[float, int], list[int]] = {}
        for i, it in enumerate(items):
            if it.history.size < 1:
                raise ValueError("empty history")
            check_levels(it.levels)
            groups.setdefault((float(it.step_s), int(it.horizon)), []).append(i)
        for (step, horizon), idx in groups.items():
            sm = self.steps.get(step)
            if sm is None:
                for i in idx:
                    out[i] = _fallback(items[i])
                continue
            ys = [items[i].history for i in idx]
            starts = [items[i].start_s for i in idx]
            pts = scale_points(step)
            scales = batch_scales(ys, pts)
            paths = sm.member_paths(ys, starts, [y.size for y in ys], scales, horizon)
            point = sm.combine(paths)
            wmean = sm.weights[:, np.minimum(np.arange(horizon), sm.weights.shape[1] - 1)].mean(axis=1)
            weights = {name: float(v) for name, v in zip(sm.members, wmean, strict=True)}
            bands: dict[float, tuple[FloatArray, FloatArray]] = {}
            for row, i in enumerate(idx):
                ivs: dict[float, Interval] = {}
                for lv in items[i].levels:
                    if lv not in bands:
                        bands[lv] = sm.band(lv, horizon)
                    lo, hi = bands[lv]
                    p = point[row]
                    ivs[lv] = Interval(lv, p + scales[row] * lo, p + scales[row] * hi)
                out[i] = (Forecast(self.name, point[row], ivs), weights)
        return [o for o in out if o is not None]

    def components(self, item: SeriesRequest) -> dict[str, Forecast]:
        """Each member's forecast (point only, intervals collapsed) for scoring members."""
        sm = self.steps.get(float(item.step_s))
        if sm is None:
            return {}
        scale = np.array([series_scale(item.history, scale_points(item.step_s))])
        paths = sm.member_paths([item.history], [item.start_s], [item.history.size], scale, item.horizon)
        return {
            name: Forecast(
                name, paths[j, 0], {lv: Interval(lv, paths[j, 0], paths[j, 0]) for lv in item.levels}
            )
            for j, name in enumerate(sm.members)
        }


def _fallback(item: SeriesRequest) -> tuple[Forecast, dict[str, float]]:
    from novacron.models.baselines import SeasonalNaive

    fc = SeasonalNaive().fit(item.history, item.step_s, item.start_s).predict(item.horizon, item.levels)
    return Forecast("seasonal_naive", fc.point, fc.intervals), {"seasonal_naive": 1.0}


class FastForecaster(HistoryForecaster):
    """A ``FastEnsemble`` seen as a ``Forecaster`` of one series, for the backtest harness;
    ``last_components`` carries the members so the backtest scores them from the same run."""

    name = "ensemble"
    min_points = 1

    def __init__(self, model: FastEnsemble, with_components: bool = True) -> None:
        super().__init__()
        self.model = model
        self.with_components = with_components
        self.last_components: dict[str, Forecast] = {}

    def _fit(self) -> None:
        pass

    def _update(self, new: FloatArray, old_n: int) -> None:
        pass  # every forecast reads the history it is given

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> Forecast:
        item = SeriesRequest(self._y, self._step_s, horizon, self._start_s, levels)
        fc, _ = self.model.predict_batch([item])[0]
        if self.with_components:
            self.last_components = self.model.components(item)
        return fc
