"""Rolling-origin backtest: fit once before the scored span, then walk it origin by origin.

At each origin the forecaster predicts the longest horizon, then receives the next
``stride`` actuals through ``update`` (no refit), which is how it runs in production. Each
horizon is scored on the first ``h`` steps of every origin whose window is complete. When the
forecaster exposes ``last_components`` (the ensemble does: its members and alternative
weightings), those are scored from the same run at no extra cost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from novacron.models.base import DAY_S, DEFAULT_LEVELS, FloatArray, Forecast, Forecaster
from novacron.models.metrics import coverage, mase, naive_scale, smape, within_pct

from .data import SeriesData


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    horizons: tuple[int, ...]  # steps, each scored separately
    test_points: int  # the scored span at the end of the series
    stride: int  # steps between origins
    max_train_points: int | None = None  # history handed to fit
    levels: tuple[float, ...] = DEFAULT_LEVELS
    season_period_s: float = DAY_S  # period of the MASE scale (seasonal naive)

    @classmethod
    def for_step(cls, step_s: float, quick: bool = False) -> BacktestConfig:
        """The data README's protocol: 1-minute series forecast 15 min and 1 h, scored on
        the last day; coarser series 1 h and 6 h, scored on the last 3 days."""
        if step_s <= 60:
            per_min = round(60 / step_s)
            horizons = (15 * per_min, 60 * per_min)
            test_s = DAY_S / 4 if quick else DAY_S
            stride = 30 * per_min
            max_train_s = 7 * DAY_S
        else:
            horizons = (max(1, round(3600 / step_s)), max(1, round(6 * 3600 / step_s)))
            test_s = DAY_S if quick else 3 * DAY_S
            stride = max(1, round(3600 / step_s))
            max_train_s = 21 * DAY_S
        return cls(
            horizons=horizons,
            test_points=round(test_s / step_s),
            stride=stride,
            max_train_points=round(max_train_s / step_s),
        )


@dataclass(frozen=True, slots=True)
class Score:
    series: str
    group: str
    split: str
    model: str
    horizon: int  # steps
    horizon_s: float
    mase: float
    smape: float
    within10: float  # percent
    coverage80: float  # percent
    coverage95: float  # percent
    width80: float  # mean 80 % width / mean |y| in-sample
    n_origins: int

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def rolling_forecasts(
    y: FloatArray,
    step_s: float,
    start_s: float,
    forecaster: Forecaster,
    cfg: BacktestConfig,
) -> tuple[list[int], dict[str, list[Forecast]]]:
    """Forecasts per model name at every origin of the scored span."""
    n = y.size
    t0 = n - cfg.test_points
    if t0 < 2:
        raise ValueError(f"series of {n} points is too short for a {cfg.test_points}-point test")
    first = 0 if cfg.max_train_points is None else max(0, t0 - cfg.max_train_points)
    forecaster.fit(y[first:t0], step_s, start_s + first * step_s)
    h_max = max(cfg.horizons)
    origins = list(range(t0, n - min(cfg.horizons) + 1, cfg.stride))
    out: dict[str, list[Forecast]] = defaultdict(list)
    pos = t0
    for o in origins:
        if o > pos:
            forecaster.update(y[pos:o])
            pos = o
        fc = forecaster.predict(h_max, cfg.levels)
        out[forecaster.name].append(fc)
        for name, comp in getattr(forecaster, "last_components", {}).items():
            out[name].append(comp)
    return origins, dict(out)


def score_forecasts(
    series: SeriesData,
    origins: Sequence[int],
    forecasts: dict[str, list[Forecast]],
    cfg: BacktestConfig,
) -> list[Score]:
    y = series.values
    t0 = y.size - cfg.test_points
    insample = y[:t0]
    m = max(1, round(cfg.season_period_s / series.step_s))
    m = m if insample.size > m else 1
    ref = float(np.mean(np.abs(insample)))
    scores: list[Score] = []
    for model, fcs in forecasts.items():
        for h in cfg.horizons:
            keep = [(o, f) for o, f in zip(origins, fcs, strict=True) if o + h <= y.size]
            if not keep:
                continue
            actual = np.concatenate([y[o : o + h] for o, _ in keep])
            point = np.concatenate([f.point[:h] for _, f in keep])
            lo80 = np.concatenate([f.lower(0.8)[:h] for _, f in keep])
            hi80 = np.concatenate([f.upper(0.8)[:h] for _, f in keep])
            lo95 = np.concatenate([f.lower(0.95)[:h] for _, f in keep])
            hi95 = np.concatenate([f.upper(0.95)[:h] for _, f in keep])
            scores.append(
                Score(
                    series=series.name,
                    group=series.group,
                    split=series.split,
                    model=model,
                    horizon=h,
                    horizon_s=h * series.step_s,
                    mase=mase(actual, point, insample, m),
                    smape=smape(actual, point),
                    within10=within_pct(actual, point, 0.10),
                    coverage80=coverage(actual, lo80, hi80),
                    coverage95=coverage(actual, lo95, hi95),
                    width80=float(np.mean(hi80 - lo80)) / ref if ref > 0 else float("inf"),
                    n_origins=len(keep),
                )
            )
    return scores


def backtest_series(
    series: SeriesData,
    make_forecaster: Callable[[], Forecaster],
    cfg: BacktestConfig | None = None,
) -> list[Score]:
    """Per model (and per ensemble component) and per horizon scores for one series."""
    cfg = cfg or BacktestConfig.for_step(series.step_s)
    origins, forecasts = rolling_forecasts(
        series.values, series.step_s, series.start_s, make_forecaster(), cfg
    )
    return score_forecasts(series, origins, forecasts, cfg)


def scorable(series: SeriesData, cfg: BacktestConfig) -> bool:
    """False for series a scaled error cannot judge: too short, or flat before the test."""
    t0 = series.values.size - cfg.test_points
    m = max(1, round(cfg.season_period_s / series.step_s))
    if t0 <= m + 10:
        return False
    return naive_scale(series.values[:t0], m) > 0
