"""Trace replayer: publishes metric samples from real series at a chosen speed, in event
time, one MetricBatch per host and tick (a host's collector scrapes all its VMs at once).

Each VM of the simulated fleet replays one series (1-minute Crane series when the data
folder is there, else the built-in synthetic workload). A series value is read as the
VM's CPU demand at its original allocation; the replayer follows the fleet's allocations
from novacron.actions, so a VM that was scaled up reports lower utilisation — the loop closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from novacron.streams import offset_probe
from novacron.streams.offsets import past_end
from novacron.training.data import SeriesData, load_metrics, synthetic_workloads

from novacron import topics
from novacron.events import (
    MAX_BATCH_SAMPLES,
    ActionResult,
    ActionStatus,
    MetricBatch,
    MetricName,
    MetricSample,
    decode,
)

log = logging.getLogger(__name__)

BASE_VCPUS = 2.0
PEAK_UTILISATION = 95.0
# How often the action follower compares its positions with the broker's end offsets.
FOLLOW_CHECK_S = 5.0


@dataclass
class VMTrace:
    vm_id: str
    host_id: str
    series: SeriesData
    scale: float  # maps a series value to % of BASE_VCPUS
    allocated: float = BASE_VCPUS

    def utilisation(self, index: int) -> float:
        demand_pct_of_base = float(self.series.values[index % self.series.values.size]) * self.scale
        return min(100.0, demand_pct_of_base * BASE_VCPUS / self.allocated)


def replay_series(data_dir: Path | None, count: int) -> list[SeriesData]:
    """Development 1-minute series from the data folder, else synthetic ones."""
    metrics = data_dir / "metrics" if data_dir is not None else None
    chosen: list[SeriesData] = []
    if metrics is not None and metrics.is_dir():
        chosen = [s for s in load_metrics(metrics) if s.group == "crane_1min" and s.split == "dev"]
    if not chosen:
        chosen = synthetic_workloads(max(count, 1), step_s=60.0, days=3.0)
    return [chosen[i % len(chosen)] for i in range(count)]


def plan_traces(vms: list[tuple[str, str]], series: list[SeriesData]) -> list[VMTrace]:
    traces = []
    for (vm_id, host_id), s in zip(vms, series, strict=True):
        peak = float(np.percentile(s.values, 99.5)) or 1.0
        traces.append(VMTrace(vm_id, host_id, s, PEAK_UTILISATION / peak))
    return traces


@dataclass
class ReplayStats:
    published: int = 0
    allocations_seen: int = 0
    event_time: datetime | None = None
    sources: set[str] = field(default_factory=set)


class Replayer:
    """Publish samples so that event time runs ``speed`` times faster than wall time."""

    def __init__(self, bootstrap: str, traces: list[VMTrace], speed: float = 60.0,
                 warmup_points: int = 0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        if not traces:
            raise ValueError("nothing to replay: no VMs")
        self.bootstrap = bootstrap
        self.traces = {t.vm_id: t for t in traces}
        self.speed = speed
        self.warmup_points = warmup_points
        self.stats = ReplayStats(sources={t.series.name for t in traces})
        self.step_s = min(t.series.step_s for t in traces)
        # Replay from a point where warm-up history exists in every series.
        self.origin = max(t.series.start_s for t in traces)

    def _sample(self, trace: VMTrace, index: int) -> MetricSample:
        backfill = index < self.warmup_points
        at = datetime.fromtimestamp(self.origin + index * self.step_s, UTC)
        return MetricSample(occurred_at=at, vm_id=trace.vm_id, host_id=trace.host_id,
                            metric=MetricName.CPU, value=round(trace.utilisation(index), 3),
                            allocated=trace.allocated, source=f"replay:{trace.series.name}",
                            backfill=backfill)

    async def _publish(self, producer: AIOKafkaProducer, index: int) -> None:
        """One tick: each host's samples in one message, as a host's collector scrapes them."""
        by_host: dict[str, list[MetricSample]] = {}
        for t in self.traces.values():
            by_host.setdefault(t.host_id, []).append(self._sample(t, index))
        at = datetime.fromtimestamp(self.origin + index * self.step_s, UTC)
        for host_id, samples in by_host.items():
            for i in range(0, len(samples), MAX_BATCH_SAMPLES):
                batch = MetricBatch(occurred_at=at, host_id=host_id, source="replay",
                                    samples=samples[i:i + MAX_BATCH_SAMPLES])
                await producer.send(topics.METRICS_RAW.name, batch.to_bytes(),
                                    key=batch.key.encode())
            self.stats.published += len(samples)
        self.stats.event_time = at

    async def _follow_allocations(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(topics.ACTIONS.name, bootstrap_servers=self.bootstrap,
                                    auto_offset_reset="latest", enable_auto_commit=False)
        await consumer.start()
        loop = asyncio.get_running_loop()
        checked = loop.time()
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for rec in records:
                        self._apply_action(rec.value)
                if loop.time() - checked >= FOLLOW_CHECK_S:
                    checked = loop.time()
                    await _reread_lost(consumer, self.bootstrap)
        finally:
            await consumer.stop()

    def _apply_action(self, raw: bytes | None) -> None:
        # Idempotent: the last outcome for a VM wins, so reading one again is harmless.
        try:
            result = decode(ActionResult, raw)
        except ValueError:
            return
        trace = self.traces.get(result.target_id)
        if trace and result.status == ActionStatus.SUCCEEDED and "vcpus" in result.after:
            trace.allocated = float(result.after["vcpus"])
            self.stats.allocations_seen += 1

    async def run(self, duration_s: float, stop: asyncio.Event | None = None) -> ReplayStats:
        stop = stop or asyncio.Event()
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
        await producer.start()
        follower = asyncio.create_task(self._follow_allocations(stop))
        try:
            for i in range(self.warmup_points):  # history, as fast as the broker takes it
                await self._publish(producer, i)
            await producer.flush()
            loop = asyncio.get_running_loop()
            wall0 = loop.time()
            index = self.warmup_points
            while not stop.is_set() and loop.time() - wall0 < duration_s:
                await self._publish(producer, index)
                index += 1
                due = wall0 + (index - self.warmup_points) * self.step_s / self.speed
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=max(0.0, due - loop.time()))
            await producer.flush()
        finally:
            stop.set()
            await follower
            await producer.stop()
        return self.stats


async def _reread_lost(consumer: AIOKafkaConsumer, bootstrap: str) -> None:
    """Partitions the broker lost and recreated (a restart of its memory engine): the
    follower's position lies past their end, where nothing would ever arrive. Everything in
    such a partition came after the loss, so it is read from its start; aiokafka reconnects
    by itself. A broker still down is tried again at the next check."""
    tps = consumer.assignment()
    if not tps:
        return
    async def offsets() -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        return (await consumer.end_offsets(list(tps)),
                {tp: await consumer.position(tp) for tp in tps})

    try:
        ends, positions = await asyncio.wait_for(offsets(), FOLLOW_CHECK_S)
    except (KafkaError, TimeoutError) as exc:
        log.info("action follower: offsets unavailable (%r); checking again later", exc)
        return
    lost = past_end(positions, ends)
    if lost:  # proven only when the last message read is gone (streams.offset_probe)
        gone = await offset_probe.missing(bootstrap,
                                          [(tp, where.held - 1) for tp, where in lost.items()])
        lost = {tp: where for tp, where in lost.items() if tp in gone}
    for tp, where in lost.items():
        log.warning("action follower: %s partition %d ends at %d, behind its position %d (the "
                    "broker lost the topic); reading it again from its start",
                    tp.topic, tp.partition, where.end, where.held)
    if lost:
        await consumer.seek_to_beginning(*lost)
