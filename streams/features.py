"""Feature agent: per-VM rolling statistics over an event-time window.

The window is kept in a Faust table (changelogged, so a restarted worker resumes it) keyed
by ``vm_id|metric``; the stream is already partitioned by vm_id, so every key is only ever
touched from one partition. Samples are ordered by event time, not arrival.
"""

from __future__ import annotations

from typing import Any

from novacron.streams import runtime
from novacron.streams.app import JSON_SCHEMA, app, features_topic, metrics_raw
from novacron.streams.deadletter import decode_or_dead_letter
from novacron.streams.windows import add_sample, features_of

from novacron import topics as registry
from novacron.events import MetricSample

windows = app.Table("feature-windows", default=dict, partitions=app.conf.topic_partitions,
                    schema=JSON_SCHEMA)


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
