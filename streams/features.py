"""Feature agent: per-VM rolling statistics over an event-time window.

The window is kept in a Faust table (changelogged, so a restarted worker resumes it) keyed
by ``vm_id|metric``; the stream is already partitioned by vm_id, so every key is only ever
touched from one partition. Samples are ordered by event time, not arrival.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from typing import Any

from novacron import topics as registry
from novacron.events import FeatureVector, MetricSample
from novacron.models.features import rolling_stats
from novacron.streams import runtime
from novacron.streams.app import JSON_SCHEMA, app, features_topic, metrics_raw
from novacron.streams.deadletter import decode_or_dead_letter

windows = app.Table("feature-windows", default=dict, partitions=app.conf.topic_partitions,
                    schema=JSON_SCHEMA)


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
    steps = [b - a for a, b in zip(ts[:-1], ts[1:], strict=True) if b > a]
    step_s = sorted(steps)[len(steps) // 2] if steps else 60.0
    return FeatureVector(
        occurred_at=datetime.fromtimestamp(end, UTC), vm_id=sample.vm_id, metric=sample.metric,
        window_s=window_s, count=stats.count, last=stats.last, mean=stats.mean, std=stats.std,
        p95=stats.p95, ewma=stats.ewma, history=list(vs), step_s=step_s,
        allocated=window.get("alloc"), host_id=window.get("host"), backfill=sample.backfill,
    )


@app.agent(metrics_raw)
async def feature_agent(stream: Any) -> None:
    async for event in stream.events():
        sample = await decode_or_dead_letter(MetricSample, registry.METRICS_RAW.name,
                                             event.key, event.value, "feature_agent")
        if sample is None:
            continue
        rt = runtime.current()
        key = f"{sample.vm_id}|{sample.metric.value}"
        window = add_sample(windows[key], sample, rt.history_points)
        windows[key] = window
        fv = features_of(sample, window, rt.feature_window_s)
        await features_topic.send(key=fv.key.encode(), value=fv.to_bytes())
