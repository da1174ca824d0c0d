"""Helpers for the end-to-end tests: a topic tap and a bounded wait."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from novacron.actuators.connection import Fleet
from novacron.actuators.xml import DomainSpec, domain_xml
from novacron.serving.launcher import BentoServer
from novacron.streams.runtime import Runtime
from novacron.streams.worker import BackgroundWorker

from novacron import topics
from novacron.events import ActionKind, Decision, MetricName, MetricSample, decode
from novacron.settings import Settings


@dataclass
class Pipeline:
    settings: Settings
    fleet: Fleet
    runtime: Runtime
    server: BentoServer
    worker: BackgroundWorker


class Tap:
    """Reads a topic from its current end, to see what the pipeline publishes next."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                         enable_auto_commit=False)

    async def __aenter__(self) -> Tap:
        await self.consumer.start()
        parts = self.consumer.partitions_for_topic(self.topic)
        for _ in range(50):
            if parts:
                break
            await asyncio.sleep(0.1)
            await self.consumer._client.force_metadata_update()
            parts = self.consumer.partitions_for_topic(self.topic)
        tps = [TopicPartition(self.topic, p) for p in sorted(parts or [])]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:  # resolve positions now, before the test produces
            await self.consumer.position(tp)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def collect(self, until: Callable[[list[bytes]], bool], timeout_s: float) -> list[bytes]:
        seen: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await self.consumer.getmany(timeout_ms=200)
            for records in batch.values():
                seen.extend(r.value for r in records if r.value is not None)
            if until(seen):
                return seen
        return seen


def new_vm(p: Pipeline, host: str, prefix: str = "t") -> str:
    """Define and start a VM of the simulated fleet's size (2 vCPUs, 2 GiB; up to 8 and 8 GiB)
    on ``host``, named uniquely for this run: the ledger, the decision log and the time-series
    DB outlive the test session, and decision ids are derived from the VM and the event time."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    spec = DomainSpec(name=name, vcpus=2, max_vcpus=8, memory_mib=2048, max_memory_mib=8192,
                      labels={"app": "e2e", "host": host})
    p.fleet.host(host).get().defineXML(domain_xml(spec)).create()
    return name


def wait_for(probe: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


GROUP_T0 = datetime(2026, 3, 4, 9, tzinfo=UTC)  # event time of the group-scaling tests' minute 0


async def send_cpu(producer: AIOKafkaProducer, vm: str, host: str, minute: int, value: float,
                   backfill: bool = False) -> None:
    """One CPU sample of ``vm`` at ``GROUP_T0 + minute`` on ``novacron.metrics.raw``."""
    s = MetricSample(occurred_at=GROUP_T0 + timedelta(minutes=minute), vm_id=vm, host_id=host,
                     metric=MetricName.CPU, value=value, allocated=2, backfill=backfill)
    await producer.send_and_wait(topics.METRICS_RAW.name, s.to_bytes(), key=vm.encode())


def group_decisions(raw: list[bytes], group: str, action: ActionKind) -> list[Decision]:
    """The decisions of ``group`` with ``action`` among raw ``novacron.decisions`` values."""
    return [d for d in (decode(Decision, r) for r in raw)
            if d.target_id == group and d.action is action]
