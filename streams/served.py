"""One series forecast through the serving layer, as the decision agents ask for it: the
forecast at LEVEL, its upper bound at the scale-down level (LEVEL_DOWN, or higher for a bursty
series: autoscaler.live.level_down_for), or why there is none (serving down, request
refused). No Faust here: both decision agents import it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from novacron.autoscaler.live import LEVEL, LEVEL_DOWN
from novacron.serving.client import ServingUnavailable
from novacron.serving.schemas import ForecastOut, SeriesIn
from novacron.streams import runtime

from novacron.events import Forecast, MetricName

Served = tuple[Forecast | None, list[float] | None, str | None]
# One asked-for forecast: (series id, metric, history, step_s, event time, level_down).
Ask = tuple[str, MetricName, Sequence[float], float, datetime, float]
# Series per request: the service takes up to 1,000; 100 answer in ~15 ms (bench.forecast_serving).
MAX_SERIES_PER_CALL = 200


async def served_forecast(series_id: str, metric: MetricName, history: Sequence[float], step_s: float,
                          at: datetime, level_down: float = LEVEL_DOWN) -> Served:
    """``history`` ends at ``at`` (event time), one point per ``step_s``; the bound returned
    is at ``level_down``."""
    return (await served_forecasts([(series_id, metric, history, step_s, at, level_down)]))[0]


async def served_forecasts(asks: Sequence[Ask]) -> list[Served]:
    """The forecasts of many series, in the order asked, in as few calls as the service takes
    (a call costs about the same for 1 series as for 100, so an agent that asked one series
    at a time fell behind a busy stream, and a backlog's vectors waited on each other). A
    call the service refuses is asked again series by series, so one bad series does not
    take the others' forecasts with it; serving down or slow is every series' fallback."""
    out: list[Served] = []
    for first in range(0, len(asks), MAX_SERIES_PER_CALL):
        out.extend(await _call(asks[first:first + MAX_SERIES_PER_CALL]))
    return out


async def _call(asks: Sequence[Ask]) -> list[Served]:
    rt = runtime.current()
    series = [_series_in(rt.horizon_s, ask) for ask in asks]
    try:
        resp = await rt.forecasts.forecast(series)
    except ServingUnavailable as exc:
        return [(None, None, f"serving unavailable: {exc}")] * len(asks)
    except ValueError as exc:
        if len(asks) > 1:
            return [s for ask in asks for s in await _call([ask])]
        return [(None, None, f"serving rejected the request: {exc}")]
    return [_served(ask, s, out) for ask, s, out in zip(asks, series, resp.forecasts, strict=True)]


def _series_in(horizon_s: float, ask: Ask) -> SeriesIn:
    series_id, _metric, history, step_s, at, level_down = ask
    horizon = max(1, math.ceil(horizon_s / step_s))
    return SeriesIn(series_id=series_id, history=list(history), step_s=step_s, horizon=horizon,
                    start_s=at.timestamp() - (len(history) - 1) * step_s, levels=[LEVEL, level_down])


def _served(ask: Ask, series: SeriesIn, out: ForecastOut) -> Served:
    series_id, metric, _history, step_s, at, level_down = ask
    iv = next(i for i in out.intervals if i.level == LEVEL)
    high = next((i.upper for i in out.intervals if i.level == level_down), None)
    fc = Forecast(occurred_at=at, vm_id=series_id, metric=metric, horizon_s=series.horizon * step_s,
                  step_s=step_s, point=out.point, lower=iv.lower, upper=iv.upper, level=LEVEL,
                  model=out.model, model_version=out.model_version)
    return fc, high, None
