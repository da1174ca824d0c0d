"""Host batches on novacron.metrics.raw through the real worker: features for every VM, a bad
sample dead-lettered alone, a malformed envelope dead-lettered whole, singles still read."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from e2e_support import Pipeline, Tap
from novacron.actuators.xml import DomainSpec, domain_xml

from novacron import topics
from novacron.events import DeadLetter, FeatureVector, MetricBatch, MetricName, MetricSample, decode

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 4, 1, tzinfo=UTC)


def samples(prefix: str, n: int, host: str, minute: int = 0) -> list[MetricSample]:
    return [MetricSample(occurred_at=T0 + timedelta(minutes=minute, seconds=i), vm_id=f"{prefix}{i}",
                         host_id=host, metric=MetricName.CPU, value=float(10 + i), allocated=2,
                         backfill=True) for i in range(n)]


def define(p: Pipeline, prefix: str, n: int, host: str = "host-001") -> None:
    """The VMs ``prefix0..n-1`` in the fleet: metrics of VMs it does not know are refused."""
    conn = p.fleet.host(host).get()
    for i in range(n):
        conn.defineXML(domain_xml(DomainSpec(name=f"{prefix}{i}", vcpus=1, max_vcpus=2,
                                             memory_mib=64, max_memory_mib=64)))


def features_by_vm(raw: list[bytes], prefix: str) -> dict[str, FeatureVector]:
    out = {}
    for r in raw:
        if b'"vm_id":"' + prefix.encode() in r:
            fv = decode(FeatureVector, r)
            out[fv.vm_id] = fv
    return out


def letters_with(raw: list[bytes], key: str) -> list[DeadLetter]:
    return [d for d in map(lambda r: decode(DeadLetter, r), raw) if d.source_key == key]


async def test_a_batch_gives_features_for_each_of_its_vms_in_event_time(
    pipeline: Pipeline, producer: AIOKafkaProducer
) -> None:
    prefix, host = f"b{uuid.uuid4().hex[:6]}-", f"h{uuid.uuid4().hex[:6]}"
    define(pipeline, prefix, 25)
    batch = MetricBatch(occurred_at=T0, host_id=host, samples=samples(prefix, 25, host))
    async with Tap(pipeline.settings, topics.FEATURES.name) as feats:
        await producer.send_and_wait(topics.METRICS_RAW.name, batch.to_bytes(), key=host.encode())
        raw = await feats.collect(lambda seen: len(features_by_vm(seen, prefix)) == 25, 30)
    got = features_by_vm(raw, prefix)
    assert sorted(got) == sorted(f"{prefix}{i}" for i in range(25))
    for i in range(25):
        fv = got[f"{prefix}{i}"]
        assert fv.last == 10 + i and fv.host_id == host
        assert fv.occurred_at == T0 + timedelta(seconds=i)  # each sample's own event time


async def test_one_bad_sample_is_dead_lettered_alone_and_the_rest_processed(
    pipeline: Pipeline, producer: AIOKafkaProducer
) -> None:
    prefix, host = f"b{uuid.uuid4().hex[:6]}-", f"h{uuid.uuid4().hex[:6]}"
    define(pipeline, prefix, 5)
    doc = json.loads(MetricBatch(occurred_at=T0, host_id=host,
                                 samples=samples(prefix, 5, host)).to_bytes())
    doc["samples"][2]["value"] = "not a number"
    async with Tap(pipeline.settings, topics.DEADLETTER.name) as dead, \
            Tap(pipeline.settings, topics.FEATURES.name) as feats:
        await producer.send_and_wait(topics.METRICS_RAW.name, json.dumps(doc).encode(),
                                     key=host.encode())
        raw = await feats.collect(lambda seen: len(features_by_vm(seen, prefix)) == 4, 30)
        letters = await dead.collect(lambda seen: bool(letters_with(seen, host)), 30)
    assert sorted(features_by_vm(raw, prefix)) == [f"{prefix}{i}" for i in (0, 1, 3, 4)]
    # Workers of other test sessions on this broker read the batch too: theirs do not know
    # these VMs (dead-lettered as unknown) but find the same bad sample.
    bad = [d for d in letters_with(letters, host) if not d.reason.startswith("unknown vm")]
    letter = bad[0]
    assert all((d.reason, d.payload) == (letter.reason, letter.payload) for d in bad)
    assert letter.source_topic == topics.METRICS_RAW.name and letter.worker == "feature_agent"
    assert "samples.2.value" in letter.reason
    assert json.loads(letter.payload) == doc["samples"][2]  # the sample itself, nothing lost


async def test_a_malformed_envelope_is_dead_lettered_whole_and_the_worker_goes_on(
    pipeline: Pipeline, producer: AIOKafkaProducer
) -> None:
    prefix, host = f"b{uuid.uuid4().hex[:6]}-", f"h{uuid.uuid4().hex[:6]}"
    define(pipeline, f"{prefix}single-", 1)
    doc = json.loads(MetricBatch(occurred_at=T0, host_id=host,
                                 samples=samples(prefix, 3, host)).to_bytes())
    del doc["occurred_at"]
    bad = json.dumps(doc).encode()
    single = samples(f"{prefix}single-", 1, host)[0]
    async with Tap(pipeline.settings, topics.DEADLETTER.name) as dead, \
            Tap(pipeline.settings, topics.FEATURES.name) as feats:
        await producer.send_and_wait(topics.METRICS_RAW.name, bad, key=host.encode())
        # An old producer's single sample on the same topic is still read.
        await producer.send_and_wait(topics.METRICS_RAW.name, single.to_bytes(),
                                     key=single.vm_id.encode())
        letters = await dead.collect(lambda seen: bool(letters_with(seen, host)), 30)
        raw = await feats.collect(lambda seen: single.vm_id in features_by_vm(seen, prefix), 30)
    [letter] = letters_with(letters, host)
    assert letter.reason.startswith("invalid metric_batch") and "occurred_at" in letter.reason
    assert letter.payload.encode() == bad
    assert features_by_vm(raw, prefix).keys() == {single.vm_id}

