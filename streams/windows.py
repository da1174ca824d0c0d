"""Event-time windows of metric samples and the features computed over them (pure).

Kept apart from the Faust agent so it can be used and tested without an app or a loop.
"""

from __future__ import annotations

import bisect
import itertools
from datetime import UTC, datetime
from typing import Any

from novacron.models.features import rolling_stats

from novacron.events import FeatureVector, MetricSample


def add_sample(window: dict[str, Any], sample: MetricSample, keep: int) -> dict[str, Any]:
    """Insert a sample in event-time order and keep the last ``keep`` points (pure)."""
    ts: list[float] = list(window.get("t", []))
    vs: list[float] = list(window.get("v", []))
    t = sample.occurred_at.timestamp()
    i = bisect.bisect_right(ts, t)
    if i > 0 and ts[i - 1] == t:  # a redelivered sample: replace, don't duplicate
        vs[i - 1] = sample.value
    else:
        ts.insert(i, t)
        vs.insert(i, sample.value)
    ts, vs = ts[-keep:], vs[-keep:]
    return {"t": ts, "v": vs, "alloc": sample.allocated if sample.allocated is not None
            else window.get("alloc"), "host": sample.host_id or window.get("host")}


def features_of(sample: MetricSample, window: dict[str, Any], window_s: float) -> FeatureVector:
    ts: list[float] = window["t"]
    vs: list[float] = window["v"]
    end = ts[-1]
    start = bisect.bisect_left(ts, end - window_s)
    stats = rolling_stats(vs[start:])
    steps = [b - a for a, b in itertools.pairwise(ts) if b > a]
    step_s = sorted(steps)[len(steps) // 2] if steps else 60.0
    return FeatureVector(
        occurred_at=datetime.fromtimestamp(end, UTC), vm_id=sample.vm_id, metric=sample.metric,
        window_s=window_s, count=stats.count, last=stats.last, mean=stats.mean, std=stats.std,
        p95=stats.p95, ewma=stats.ewma, history=list(vs), step_s=step_s,
        allocated=window.get("alloc"), host_id=window.get("host"), backfill=sample.backfill,
    )
