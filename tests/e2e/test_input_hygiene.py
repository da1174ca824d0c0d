"""What must never reach the windows or the healer, through the real worker: metrics of a VM
the fleet does not know, event times outside the skew window, oversized fields and messages,
and unreadable health events. Each goes to novacron.deadletter with its reason."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from e2e_support import Pipeline, Tap, new_vm

from novacron import topics
from novacron.events import DeadLetter, FeatureVector, MetricBatch, MetricName, MetricSample, decode

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 3, 6, 9, tzinfo=UTC)


def sample(vm: str, at: datetime, value: float = 20.0, source: str = "collector") -> MetricSample:
    return MetricSample(occurred_at=at, vm_id=vm, metric=MetricName.CPU, value=value,
                        allocated=2, source=source, backfill=True)


def letters_of(raw: list[bytes], key: str) -> list[DeadLetter]:
    return [d for d in map(lambda r: decode(DeadLetter, r), raw) if d.source_key == key]


async def test_phantoms_skewed_times_and_oversized_fields_are_dead_lettered(
    pipeline: Pipeline, producer: AIOKafkaProducer
) -> None:
    host = "host-000"
    vm = new_vm(pipeline, host, "hyg")
    phantom = f"ghost-{uuid.uuid4().hex[:8]}"  # defined nowhere
    good = sample(vm, T0)
    batch = json.loads(MetricBatch(occurred_at=T0, host_id=host, samples=[
        good,
        sample(phantom, T0),
        sample(vm, datetime(1970, 1, 1, tzinfo=UTC)),
        sample(vm, datetime(2999, 1, 1, tzinfo=UTC)),
        sample(vm, T0 - timedelta(days=8)),  # judged against this host's newest: T0
    ]).to_bytes())
    big = json.loads(good.to_bytes())
    big["source"] = "x" * 900_000
    batch["samples"].append(big)
    huge = json.dumps({**json.loads(good.to_bytes()), "source": "y" * 1_100_000}).encode()
    async with Tap(pipeline.settings, topics.DEADLETTER.name) as dead, \
            Tap(pipeline.settings, topics.FEATURES.name) as feats:
        await producer.send_and_wait(topics.METRICS_RAW.name, json.dumps(batch).encode(),
                                     key=host.encode())
        # A producer allowed bigger requests than Kafka's default, as a misbehaving one may be.
        loose = AIOKafkaProducer(bootstrap_servers=pipeline.settings.kafka_bootstrap,
                                 max_request_size=4 * 1024**2)
        await loose.start()
        try:
            await loose.send_and_wait(topics.METRICS_RAW.name, huge, key=vm.encode())
        finally:
            await loose.stop()
        letters = await dead.collect(lambda seen: len(letters_of(seen, host)) >= 5
                                     and letters_of(seen, vm), 30)
        # A later sample of the same VM proves the batch was processed: only the good one counts.
        await producer.send_and_wait(topics.METRICS_RAW.name,
                                     sample(vm, T0 + timedelta(minutes=1), 30.0).to_bytes(),
                                     key=vm.encode())
        raw = await feats.collect(lambda seen: any(
            decode(FeatureVector, r).vm_id in (vm, phantom) and decode(FeatureVector, r).count >= 2
            for r in seen), 30)
    reasons = [d.reason for d in letters_of(letters, host)]
    assert any(r.startswith(f"unknown vm: {phantom}") for r in reasons), reasons
    assert any("1970-01-01" in r and "unset" in r for r in reasons), reasons
    assert any("2999-01-01" in r and "ahead of the wall clock" in r for r in reasons), reasons
    assert any("7 days before the newest accepted from host-000" in r for r in reasons), reasons
    assert any("samples.5.source" in r and "4096" in r for r in reasons), reasons
    assert all(d.worker == "feature_agent" for d in letters_of(letters, host))
    [too_big] = letters_of(letters, vm)
    assert "over the 1,048,576-byte limit" in too_big.reason and "truncated" in too_big.reason
    features = [f for f in map(lambda r: decode(FeatureVector, r), raw) if f.vm_id in (vm, phantom)]
    assert {f.vm_id for f in features} == {vm}
    assert features[-1].count == 2 and features[-1].history == [20.0, 30.0]  # only the good two


async def test_an_unreadable_health_event_is_dead_lettered_by_the_healer(
    pipeline: Pipeline, producer: AIOKafkaProducer
) -> None:
    key = f"vm-{uuid.uuid4().hex[:8]}"
    junk = json.dumps({"subject_kind": "vm", "subject_id": key, "state": "on fire",
                       "reason": "x", "occurred_at": T0.isoformat()}).encode()
    async with Tap(pipeline.settings, topics.DEADLETTER.name) as dead:
        await producer.send_and_wait(topics.HEALTH.name, junk, key=key.encode())
        await producer.send_and_wait(topics.HEALTH.name, b"not json", key=key.encode())
        letters = await dead.collect(lambda seen: len(letters_of(seen, key)) >= 2, 30)
    got = letters_of(letters, key)
    assert {d.worker for d in got} == {"heal_agent"}
    assert {d.source_topic for d in got} == {topics.HEALTH.name}
    assert any("state" in d.reason for d in got) and any("Invalid JSON" in d.reason for d in got)
