"""A host's own samples (the collector's ``host:<id>`` subjects) through the real worker: a
managed host's get features (for the TSDB and dashboards) and are never resized like a VM,
while a VM given the same load is; an unmanaged host's are dead-lettered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from e2e_support import Pipeline, Tap, new_vm
from novacron.streams.collect_rates import host_vm_id
from novacron.streams.ingest import gather

from novacron import topics
from novacron.events import (
    DeadLetter,
    Decision,
    DecodedMetrics,
    FeatureVector,
    MetricName,
    MetricSample,
    decode,
)

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 3, 7, 9, tzinfo=UTC)


async def send_load(producer: AIOKafkaProducer, subject: str, host: str, value: float,
                    history: int = 12) -> None:
    """``history`` backfilled minutes, then one live sample, all at ``value`` % CPU."""
    for i in range(history + 1):
        s = MetricSample(occurred_at=T0 + timedelta(minutes=i), vm_id=subject, host_id=host,
                         metric=MetricName.CPU, value=value, allocated=2, backfill=i < history,
                         source="collector-host" if subject.startswith("host:") else "collector")
        await producer.send_and_wait(topics.METRICS_RAW.name, s.to_bytes(), key=host.encode())


def test_the_healer_never_hears_a_host_subject_as_a_live_vm() -> None:
    at = datetime(2026, 3, 7, tzinfo=UTC)
    vm = MetricSample(occurred_at=at, vm_id="vm-a", metric=MetricName.CPU, value=1.0)
    host = MetricSample(occurred_at=at, vm_id=host_vm_id("h1"), metric=MetricName.CPU, value=1.0)
    intake = gather([("m", DecodedMetrics([vm, host], [], "h1"))])
    assert intake.live == {"vm-a": "h1"}
    assert set(intake.touched) == {"vm-a|cpu", f"{host_vm_id('h1')}|cpu"}  # windows for both


async def test_host_samples_make_features_but_no_decision(
    pipeline: Pipeline, producer: AIOKafkaProducer
) -> None:
    host = "host-001"
    vm = new_vm(pipeline, host, "hostload")
    subject = host_vm_id(host)
    stranger = host_vm_id(f"nowhere-{uuid.uuid4().hex[:6]}")
    async with Tap(pipeline.settings, topics.DECISIONS.name) as decisions, \
            Tap(pipeline.settings, topics.FEATURES.name) as feats, \
            Tap(pipeline.settings, topics.DEADLETTER.name) as dead:
        await send_load(producer, subject, host, 97.0)
        await send_load(producer, stranger, host, 97.0, history=0)
        await send_load(producer, vm, host, 97.0)
        # The VM's decision comes after the host's features were decided on (same partition,
        # sent first): by then a decision for the host would have been made too.
        raw = await decisions.collect(lambda seen: any(
            decode(Decision, r).target_id == vm for r in seen), 60)
        features = await feats.collect(lambda seen: any(
            decode(FeatureVector, r).vm_id == subject for r in seen), 30)
        letters = await dead.collect(lambda seen: any(
            stranger in decode(DeadLetter, r).reason for r in seen), 30)
    targets = {decode(Decision, r).target_id for r in raw}
    assert vm in targets and subject not in targets
    assert any(decode(FeatureVector, r).vm_id == subject for r in features)
    reasons = [decode(DeadLetter, r).reason for r in letters]
    assert any(r.startswith(f"unknown vm: {stranger}") for r in reasons), reasons
