"""A cheap online forecaster for the simulator: level (or seasonal) path plus a conformal bound
on the *highest* demand of the coming steps.

What a scaler needs from a forecast is not the most likely value at each step but a bound on
the peak over the next steps (will the capacity be enough until new replicas serve?), and that
bound must cover what it claims on each series, bursty or smooth. So, per series and in
event time:

- the path ``p_j`` is the last value (``level``) or the last value plus the change the
  series made over the same minutes one day earlier (``seasonal``: seasonal naive anchored
  on the current level);
- the bound for the peak within ``h`` steps is ``max_{j<=h} p_j + Q_h``, where ``Q_h`` is
  the empirical ``level`` quantile, over the last ``window`` steps whose outcome is already
  known, of how far the series rose above its path within ``h`` steps (split conformal on a
  rolling window; ``h`` steps of outcome are waited for, never peeked at).

With the two paths the series keeps, at each step, the one whose bound has been narrower over
the recent window (a choice made on past outcomes only).

The margin may be calibrated per *regime* (Mondrian split conformal): with
``drop_lookback_s``, a step whose value has fallen to ``drop_fraction`` or less of the series'
peak over the lookback is "after a drop", any other step "steady", and each step's margin is
the quantile of the errors of past steps in its own regime (the pooled one while the window
holds too few of them). On bursty series one pooled quantile is too narrow after a burst ends,
which is when the rule removes capacity and when the burst comes back (on the development
traces, most false-positive scale-downs were large cuts right after a burst, with demand back
within one step), and too wide in steady stretches, where it only costs capacity.

Per series and step, the scale-downs may also be held to a still higher bound where the
series is *bursty* (``bursty``: a lasting level that moves by whole bursts, over the last day
up to that step): on the development traces the false-positive scale-downs were mostly on
such series (on/off batch VMs), and a higher bound only there bought about as many of them
back as a higher bound everywhere, for less than half of its cost.

Vectorised over the whole trace: a trace of 23,000 steps and a 30-step horizon takes a few
hundred milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from novacron.models.base import DAY_S, FloatArray

from .simulator import Forecasts, GroupTrace

Path = Literal["level", "seasonal", "best"]

# Bursty: lag-1 autocorrelation >= 0.7 and 99th-percentile step >= 30 % of the 99th-percentile
# level, over the last day (chosen on the development series; see bench.fleet_autoscaling).
BURSTY_ACF = 0.7
BURSTY_JUMP = 0.3
BURSTY_NOTE = (f"bursty series: lag-1 autocorrelation >= {BURSTY_ACF:.1f} and 99th-percentile step "
               f">= {BURSTY_JUMP:.0%} of its 99th-percentile level over the last day")


# The calibration the fleet simulator measures and the live agents use (chosen on development
# series, see bench.fleet_autoscaling): a 4 h rolling window, margins apart after a drop to
# 75 % of the last hour's peak.
CALIBRATION_WINDOW_S = 4 * 3600.0
DROP_LOOKBACK_S = 3600.0
DROP_FRACTION = 0.75


def _forward_max(z: FloatArray, horizon: int) -> FloatArray:
    """``out[h-1, t] = max(z[t+1 .. t+h])`` (NaN where the trace ends first)."""
    n = z.size
    out = np.full((horizon, n), np.nan)
    run = np.full(n, -np.inf)
    for h in range(1, horizon + 1):
        nxt = np.full(n, np.nan)
        nxt[: n - h] = z[h:]
        run = np.fmax(run, nxt)
        run[n - h :] = np.nan
        out[h - 1] = run
    return out


def _known_quantile(
    excess: FloatArray, h: int, window: int, level: float, regime: FloatArray | None = None
) -> FloatArray:
    """At each t, the ``level`` quantile of ``excess[t-h-window+1 .. t-h]`` (outcomes known at
    t); with ``regime`` (0.0 / 1.0 per step, known at that step), of the steps of that window
    in t's regime, or of all of them while fewer than 12 of t's regime are there."""
    n = excess.size
    minp = min(window, 12)

    def known(x: FloatArray) -> FloatArray:
        q = pd.Series(x).rolling(window, min_periods=minp).quantile(level).to_numpy()
        out = np.full(n, np.nan)
        out[h:] = q[: n - h]
        return out

    pooled = known(excess)
    if regime is None:
        return pooled
    out = pooled
    for r in (0.0, 1.0):
        own = known(np.where(regime == r, excess, np.nan))  # rolling quantiles skip NaN
        out = np.where((regime == r) & np.isfinite(own), own, out)
    return out


def _margin(
    z: FloatArray, base: FloatArray, horizon: int, window: int, level: float,
    regime: FloatArray | None = None,
) -> FloatArray:  # fmt: skip
    """``out[h-1, t]``: the conformal margin for the peak within h steps, where the path's
    error over steps t+1 .. t+h is ``max_j z[t+j] - base[t]`` (see ``conformal_peak``)."""
    fmax = _forward_max(z, horizon)
    out = np.empty((horizon, z.size))
    for h in range(1, horizon + 1):
        q = _known_quantile(fmax[h - 1] - base, h, window, level, regime)
        out[h - 1] = np.nan_to_num(q, nan=0.0)  # no outcome known yet: no margin
    return out


def after_drop(y: FloatArray, step_s: float, lookback_s: float, fraction: float) -> FloatArray:
    """1.0 where ``y[t]`` is at most ``fraction`` of the peak of ``y[t-m .. t]`` (m steps of
    ``lookback_s``), else 0.0: known at t."""
    m = max(1, int(lookback_s // step_s))
    peak: FloatArray = pd.Series(y).rolling(m + 1, min_periods=1).max().to_numpy()
    out: FloatArray = (np.asarray(y, dtype=np.float64) <= fraction * peak).astype(np.float64)
    return out


def bursty(
    y: FloatArray, step_s: float, *, window_s: float = DAY_S, acf: float = BURSTY_ACF,
    jump: float = BURSTY_JUMP,
) -> FloatArray:  # fmt: skip
    """1.0 where the series is *bursty* over the last ``window_s`` up to t (known at t): its
    lag-1 autocorrelation is at least ``acf`` (a level that lasts: not noise around a mean)
    and the 99th percentile of its step-to-step changes is at least ``jump`` of its own 99th
    percentile (it moves by whole bursts at once: not a smooth ramp). Those are the series
    whose load comes back within one boot time after a drop (on/off batch work)."""
    w = max(12, int(window_s // step_s))
    s = pd.Series(np.asarray(y, dtype=np.float64))
    r = s.rolling(w, min_periods=w // 4).corr(s.shift(1)).to_numpy()
    d = s.diff().abs()
    big = d.rolling(w, min_periods=w // 4).quantile(0.99).to_numpy()
    top = s.rolling(w, min_periods=w // 4).quantile(0.99).to_numpy()
    ok = np.nan_to_num(r, nan=0.0) >= acf
    if jump > 0:
        ok &= np.nan_to_num(big, nan=0.0) >= jump * np.nan_to_num(top, nan=np.inf)
    out: FloatArray = ok.astype(np.float64)
    return out


def bursty_now(y: Sequence[float] | FloatArray, step_s: float, *, window_s: float = DAY_S,
               acf: float = BURSTY_ACF, jump: float = BURSTY_JUMP) -> bool:
    """``bursty(y, step_s)[-1]``: the classification at the newest point only, over the last
    window alone (~40 us against ~1 ms for the whole series; a live agent asks once per
    evaluation). Same statistics as pandas' rolling ones (tested against :func:`bursty`)."""
    arr = np.asarray(y, dtype=np.float64)
    w = max(12, int(window_s // step_s))
    need = w // 4
    x = arr[-w:]
    prev = arr[-w - 1:-1] if arr.size > w else np.concatenate(([np.nan], arr[:-1]))[-w:]
    pair = ~(np.isnan(x) | np.isnan(prev))
    if int(pair.sum()) < max(need, 1):
        return False
    a, b = x[pair], prev[pair]
    da, db = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((da @ da) * (db @ db)))
    r = float(da @ db) / denom if denom > 0 else 0.0
    if not r >= acf:
        return False
    if jump <= 0:
        return True
    steps = np.abs(np.diff(arr[-w - 1:]))[-w:]
    steps = steps[~np.isnan(steps)]
    level = x[~np.isnan(x)]
    if steps.size < max(need, 1) or level.size < max(need, 1):
        return False
    return bool(np.quantile(steps, 0.99) >= jump * np.quantile(level, 0.99))


def conformal_peak(
    y: FloatArray,
    step_s: float,
    horizon: int,
    *,
    level: float = 0.95,
    window_s: float = DAY_S,
    path: Path = "best",
    anchor_steps: int = 1,
    regime: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(point, upper, seasonal_chosen) for every t of ``y``: ``point[t, j]`` is the path for
    step t+j+1 and ``upper[t, j]`` the bound on the peak of steps t+1 .. t+j+1, both from
    ``y[..t]`` only; ``seasonal_chosen[t]`` is 1.0 where the seasonal path was used. With
    ``regime`` (0.0 / 1.0 per step, from ``y[..t]`` only, e.g. ``after_drop``), the margins
    are calibrated per regime."""
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    window = max(12, int(window_s // step_s))
    m = round(DAY_S / step_s)
    # The level now: the median of the last ``anchor_steps`` values, so that one outlier
    # does not move the whole path (the margin, calibrated on the same anchor, still covers it).
    a = pd.Series(y).rolling(anchor_steps, min_periods=1).median().to_numpy()
    paths: list[tuple[FloatArray, FloatArray]] = []
    if path in ("level", "best"):
        q = _margin(y, a, horizon, window, level, regime)
        pt = np.repeat(a[None, :], horizon, axis=0)
        paths.append((pt, pt + q))
    if path in ("seasonal", "best") and n > m + horizon:
        # p_j[t] = a[t] + y[t-m+j] - y[t-m]; its error at t+j is d[t+j] - (a[t] - y[t-m])
        # with d the seasonal difference y[s] - y[s-m].
        d = np.zeros(n)
        d[m:] = y[m:] - y[:-m]
        base = a.copy()
        base[m:] -= y[:-m]
        base[:m] = np.nan  # no seasonal error before a day of history
        q = _margin(d, base, horizon, window, level, regime)
        pt = np.repeat(a[None, :], horizon, axis=0)
        idx = np.arange(m, n)
        for j in range(1, horizon + 1):
            pt[j - 1, m:] += y[idx - m + j] - y[idx - m]
        cum = np.maximum.accumulate(pt, axis=0)
        up = cum + q
        up[:, : m + window // 4] = np.nan  # no seasonal bound before a day plus some outcomes
        paths.append((pt, up))
    if not paths:
        raise ValueError("no forecast path applies to this series")
    if len(paths) == 1:
        pt, up = paths[0]
        chosen = np.zeros(n)
    else:
        (pl, ul), (ps, us) = paths
        last = horizon - 1
        # Width of each bound at the horizon, averaged over the recent window (past only).
        wl = pd.Series(ul[last] - y).rolling(window, min_periods=1).mean().to_numpy()
        ws = pd.Series(us[last] - y).rolling(window, min_periods=1).mean().to_numpy()
        use_s = np.isfinite(ws) & (ws < wl)
        chosen = use_s.astype(np.float64)
        pt = np.where(use_s[None, :], ps, pl)
        up = np.where(use_s[None, :], us, ul)
    up = np.maximum(np.maximum.accumulate(up, axis=0), pt)
    return np.maximum(pt, 0.0).T.copy(), np.maximum(up, 0.0).T.copy(), chosen


def conformal_forecasts(
    trace: GroupTrace, first: int, steps: int, horizon: int, *, level: float = 0.9,
    window_s: float = DAY_S, path: Path = "best", level_down: float | None = None,
    drop_lookback_s: float | None = None, drop_fraction: float = 0.75,
    level_down_bursty: float | None = None,
) -> Forecasts:  # fmt: skip
    """The simulator's per-step forecasts of one trace (rows ``first .. first+steps-1``);
    with ``level_down``, also the higher bound that scale-downs respect; with
    ``drop_lookback_s``, both calibrated per regime (``after_drop``, see the module doc); with
    ``level_down_bursty`` (and ``level_down``), the scale-down bound is at that level on the
    steps where the series is bursty (``bursty``)."""
    rows = slice(first, first + steps)
    y, step_s = trace.demand, trace.step_s
    regime = None
    if drop_lookback_s is not None:
        regime = after_drop(y, step_s, drop_lookback_s, drop_fraction)
    point, upper, _ = conformal_peak(
        y, step_s, horizon, level=level, window_s=window_s, path=path, regime=regime
    )
    down = None
    if level_down is not None:
        _, high, _ = conformal_peak(
            y, step_s, horizon, level=level_down, window_s=window_s, path=path, regime=regime
        )
        down = np.maximum(high[rows], upper[rows])
        if level_down_bursty is not None:
            cls = bursty(y, step_s)[rows]
            _, top, _ = conformal_peak(
                y, step_s, horizon, level=level_down_bursty, window_s=window_s, path=path,
                regime=regime,
            )
            down = np.where(cls[:, None] > 0, np.maximum(top[rows], down), down)
            model = f"conformal_peak_{path}" + ("_by_regime" if regime is not None else "")
            return Forecasts(point[rows], upper[rows], model, down, level_down,
                             np.where(cls > 0, level_down_bursty, level_down), BURSTY_NOTE)  # fmt: skip
    model = f"conformal_peak_{path}" + ("_by_regime" if regime is not None else "")
    return Forecasts(point[rows], upper[rows], model, down, level_down)


def _quantile(v: FloatArray, q: float) -> float:
    """``np.quantile(v, q)`` (linear interpolation, as pandas' rolling quantile), without
    numpy's per-call overhead, which dominated ``peak_bound_now``."""
    v = np.sort(v)
    pos = q * (v.size - 1)
    i = int(pos)
    if i >= v.size - 1:
        return float(v[-1])
    return float(v[i] + (v[i + 1] - v[i]) * (pos - i))


def peak_bound_now(
    y: Sequence[float] | FloatArray, step_s: float, horizon: int, level: float, *,
    window_s: float = CALIBRATION_WINDOW_S, drop_lookback_s: float = DROP_LOOKBACK_S,
    drop_fraction: float = DROP_FRACTION,
) -> FloatArray:  # fmt: skip
    """The level path's conformal bound on the peak of the next 1..``horizon`` steps, for the
    newest point of ``y`` only: ``conformal_peak(y, ..., path="level", regime=after_drop(...))``'s
    last row (tested equal), in ~0.1 ms instead of a whole-series pass. For a live agent that
    holds a series' recent history: the bound the fleet simulator's rule is measured with."""
    arr = np.asarray(y, dtype=np.float64)
    n = arr.size
    if n == 0 or horizon < 1:
        raise ValueError("need a non-empty history and a horizon of at least one step")
    window = max(12, int(window_s // step_s))
    minp = min(window, 12)
    m = max(1, int(drop_lookback_s // step_s))
    # Steps whose outcomes may enter a window: t in [t0, n-2]; their regimes need m more back.
    t0 = max(0, n - horizon - window)
    lo = max(0, t0 - m)
    seg = arr[lo:]
    padded = np.concatenate((np.full(m, -np.inf), seg))
    peaks = np.lib.stride_tricks.sliding_window_view(padded, m + 1).max(axis=1)
    regime = seg <= drop_fraction * peaks  # after a drop, from each step's own past
    now_regime = regime[-1]
    ts = np.arange(t0, n - 1)
    run = np.full(ts.size, -np.inf)
    out = np.zeros(horizon)
    for h in range(1, horizon + 1):
        ok = ts + h < n
        run[ok] = np.maximum(run[ok], arr[ts[ok] + h])  # max(arr[t+1 .. t+h])
        last_known = n - 1 - h  # the newest step whose h-step outcome is known
        if last_known < t0:
            continue
        sel = slice(max(t0, last_known - window + 1) - t0, last_known - t0 + 1)
        excess = run[sel] - arr[ts[sel]]
        own = excess[regime[ts[sel] - lo] == now_regime]
        if own.size >= minp:
            out[h - 1] = _quantile(own, level)
        elif excess.size >= minp:
            out[h - 1] = _quantile(excess, level)
    bound = np.maximum.accumulate(arr[-1] + out)
    result: FloatArray = np.maximum(np.maximum(bound, arr[-1]), 0.0)
    return result
