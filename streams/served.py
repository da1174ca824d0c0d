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
from novacron.serving.schemas import SeriesIn
from novacron.streams import runtime

from novacron.events import Forecast, MetricName

Served = tuple[Forecast | None, list[float] | None, str | None]


async def served_forecast(series_id: str, metric: MetricName, history: Sequence[float], step_s: float,
                          at: datetime, level_down: float = LEVEL_DOWN) -> Served:
    """``history`` ends at ``at`` (event time), one point per ``step_s``; the bound returned
    is at ``level_down``."""
    rt = runtime.current()
    horizon = max(1, math.ceil(rt.horizon_s / step_s))
    series = SeriesIn(series_id=series_id, history=list(history), step_s=step_s, horizon=horizon,
                      start_s=at.timestamp() - (len(history) - 1) * step_s, levels=[LEVEL, level_down])
    try:
        resp = await rt.forecasts.forecast([series])
    except ServingUnavailable as exc:
        return None, None, f"serving unavailable: {exc}"
    except ValueError as exc:
        return None, None, f"serving rejected the request: {exc}"
    out = resp.forecasts[0]
    iv = next(i for i in out.intervals if i.level == LEVEL)
    high = next((i.upper for i in out.intervals if i.level == level_down), None)
    fc = Forecast(occurred_at=at, vm_id=series_id, metric=metric, horizon_s=horizon * step_s, step_s=step_s,
                  point=out.point, lower=iv.lower, upper=iv.upper, level=LEVEL, model=out.model,
                  model_version=out.model_version)
    return fc, high, None
