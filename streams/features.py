"""Feature agent: per-VM rolling statistics over an event-time window.

The window is kept in a Faust table (changelogged, so a restarted worker resumes it) keyed
by ``vm_id|metric``. A message is one sample (keyed by vm_id) or a batch of a host's samples
(keyed by host_id, see events.MetricBatch); either way a VM's samples share a partition while
it stays on its host. Samples are ordered by event time, not arrival.

Throughput comes from batching (DESIGN §streams): samples are taken in batches of up to
``BATCH_MAX``; each key touched by a batch gets one window update and one table write, and
its features are published (Kafka, then the TSDB in the background) when its event time has
moved ``Runtime.feature_emit_every_s`` past the last publication: once per emit period the
batch completes, each vector computed on the window as it stood at that period's end
(streams.windows.advance). In the steady stream a batch holds one sample per key, so that is
one vector; a backlog read after a restart gives every period's vector, and the decision
agent decides on each. Per-sample work is only decoding, screening and inserting into the window.
Samples of VMs the fleet does not know, or outside the event-time skew window, are
dead-lettered before they reach a window or the healer (streams.ingest.screen).
"""

from __future__ import annotations

from typing import Any

from novacron.streams import liveness, runtime
from novacron.streams.app import JSON_SCHEMA, app, features_topic, group_features_topic, metrics_raw
from novacron.streams.collect_rates import HOST_PREFIX, is_host_subject
from novacron.streams.deadletter import send_dead_letter
from novacron.streams.fleet_view import cache
from novacron.streams.ingest import Hygiene, gather, screen
from novacron.streams.table_writes import write_states
from novacron.streams.tsdb import TSDBWriter, feature_line
from novacron.streams.windows import (
    advance,
    as_of,
    features_of,
    from_stored,
    metric_correlations,
    to_stored,
)

from novacron import topics as registry
from novacron.events import (
    DecodedMetrics,
    FeatureVector,
    InvalidEvent,
    MetricName,
    MetricSample,
    decode_metrics,
    utcnow,
)

windows = app.Table("feature-windows", default=dict, partitions=app.conf.topic_partitions,
                    schema=JSON_SCHEMA)

# A batch closes when full or BATCH_WITHIN_S after it opened, whichever comes first: at
# 20k samples/s that is ~0.5 s of samples, adding at most that much to the lag. Counted in
# messages; a message may carry up to events.MAX_BATCH_SAMPLES samples, so keep it modest.
BATCH_MAX = 2_000
BATCH_WITHIN_S = 0.5
# Host (or "vm:<id>") -> newest event time accepted from it, unix s: the stream's own clock,
# which a sample's event time is judged against (streams.ingest.screen).
_event_clock: dict[str, float] = {}


@app.agent(metrics_raw)
async def feature_agent(stream: Any) -> None:
    writer = TSDBWriter(runtime.current().tsdb_url)
    try:
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            await _process(stream, events, writer)
    finally:
        await writer.close()


async def _process(stream: Any, events: list[Any], writer: TSDBWriter) -> None:
    """One batch: update each touched window once, publish and store the features that are due."""
    rt = runtime.current()
    decoded: list[tuple[Any, DecodedMetrics]] = []
    for event in events:
        try:  # no coroutine per sample: only a bad message or sample awaits (its dead letter)
            metrics = decode_metrics(event.value)
        except InvalidEvent as exc:
            await send_dead_letter(registry.METRICS_RAW.name, event.key, event.value,
                                   exc.reason, "feature_agent")
            continue
        for bad in metrics.bad:  # the rest of its batch goes on
            await send_dead_letter(registry.METRICS_RAW.name, event.key, bad.payload.encode(),
                                   bad.reason, "feature_agent")
        decoded.append((event, metrics))
    decoded = await _screened(decoded, rt.metric_hygiene)
    intake = gather(decoded)
    touched, live = intake.touched, intake.live
    liveness.note(utcnow(), list(live.items()))  # arrival time: the healer's clock
    updated: dict[str, dict[str, Any]] = {}
    publish: list[tuple[str, MetricSample, dict[str, Any]]] = []  # each emission of each key
    for key, (samples, _event) in touched.items():
        window, emissions = advance(from_stored(windows[key]), samples, rt.history_points,
                                    rt.feature_emit_every_s)
        publish.extend((key, sample, then) for sample, then in emissions)
        updated[key] = window
    out: list[FeatureVector] = []
    cpu: list[tuple[str, bytes]] = []
    # Once per VM and emission time, all its metrics together: (vm_id, event time or None
    # for the batch's newest windows) -> correlations.
    correlations: dict[tuple[str, float | None], dict[MetricName, dict[MetricName, float]]] = {}
    for key, sample, window in publish:  # features_of may cache the hour's decomposition in it
        end = window["t"][-1]
        # A backlog's earlier periods correlate over the VM's windows as they stood then.
        at = None if end == updated[key]["t"][-1] else end
        if (sample.vm_id, at) not in correlations:
            by_metric = _metric_windows(sample.vm_id, updated)
            if at is not None:
                by_metric = {m: as_of(w, at) for m, w in by_metric.items()}
            correlations[sample.vm_id, at] = metric_correlations(by_metric)
        fv = features_of(sample, window, rt.feature_window_s,
                         correlations[sample.vm_id, at].get(sample.metric) or None)
        out.append(fv)
        raw = fv.to_bytes()
        await features_topic.send(key=fv.key.encode(), value=raw)
        if fv.metric == MetricName.CPU:
            cpu.append((fv.vm_id, raw))
    write_states(stream, windows, {key: to_stored(w) for key, w in updated.items()},
                 {key: event for key, (_samples, event) in touched.items()})
    # A group's members are scaled together: their CPU features also go, keyed by group, where
    # group_scaler's table holds the whole group on one partition (one inventory look per take).
    if cpu:
        groups = await cache.groups_of(vm for vm, _ in cpu)
        for vm, raw in cpu:
            if (group := groups.get(vm)) is not None:
                await group_features_topic.send(key=group.encode(), value=raw)
    writer.submit([feature_line(fv) for fv in out])


async def _screened(decoded: list[tuple[Any, DecodedMetrics]], hygiene: Hygiene,
                    ) -> list[tuple[Any, DecodedMetrics]]:
    """The samples fit for the windows and the healer; the others dead-lettered one by one:
    a VM the fleet does not know (a phantom the healer would chase), an event time outside
    the skew window (streams.ingest.Hygiene)."""
    if not decoded:
        return decoded
    view = await cache.knowing({s.vm_id for _, m in decoded for s in m.samples})
    # A host the last inventory could not reach: its VMs cannot be told apart from strangers.
    unreachable = set(runtime.current().fleet.hosts).difference(h.host_id for h in view.hosts)

    hosts = runtime.current().fleet.hosts

    def known(vm_id: str, host_id: str | None) -> bool:
        if is_host_subject(vm_id):  # a host's own samples: known when the host is managed
            return vm_id[len(HOST_PREFIX):] in hosts
        return view.knows(vm_id) or (host_id in unreachable if host_id else bool(unreachable))

    def host_of(vm_id: str) -> str | None:
        vm = view.get(vm_id)
        return vm.host_id if vm is not None else None

    kept, rejected = screen(decoded, hygiene, _event_clock, utcnow(), known, host_of)
    for r in rejected:
        await send_dead_letter(registry.METRICS_RAW.name, r.message.key, r.payload.encode(),
                               r.reason, "feature_agent")
    return kept


def _metric_windows(vm_id: str, updated: dict[str, dict[str, Any]],
                    ) -> dict[MetricName, dict[str, Any]]:
    """The VM's window of each metric: this batch's version, else the table's. All are local:
    every metric of a VM arrives on one partition (keyed by VM or host)."""
    out: dict[MetricName, dict[str, Any]] = {}
    for metric in MetricName:
        key = f"{vm_id}|{metric.value}"
        if key in updated:
            out[metric] = updated[key]
        elif key in windows:
            out[metric] = from_stored(windows[key])
    return out
