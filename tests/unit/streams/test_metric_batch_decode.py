"""novacron.metrics.raw carries single samples and host batches; the decoder tells them apart,
keeps a batch's good samples when one is bad, and rejects a malformed envelope as a whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from novacron.events import (
    MAX_BATCH_SAMPLES,
    InvalidEvent,
    MetricBatch,
    MetricName,
    MetricSample,
    decode_metrics,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sample(vm: str, minute: int = 0, value: float = 10.0) -> MetricSample:
    return MetricSample(occurred_at=T0 + timedelta(minutes=minute), vm_id=vm,
                        metric=MetricName.CPU, value=value, allocated=2)


def batch(*samples: MetricSample, host: str = "host-1") -> MetricBatch:
    return MetricBatch(occurred_at=T0, host_id=host, samples=list(samples))


def test_a_single_sample_still_decodes_as_before() -> None:
    s = sample("vm-1")
    decoded = decode_metrics(s.to_bytes())
    assert decoded.samples == [s] and decoded.bad == [] and decoded.host_id is None


def test_a_batch_decodes_to_its_samples_each_with_its_own_event_time() -> None:
    samples = [sample(f"vm-{i}", minute=i) for i in range(5)]
    decoded = decode_metrics(batch(*samples).to_bytes())
    assert decoded.samples == samples and decoded.bad == [] and decoded.host_id == "host-1"
    assert [s.occurred_at for s in decoded.samples] == [T0 + timedelta(minutes=i) for i in range(5)]


def test_one_bad_sample_is_set_aside_with_its_reason_and_the_others_kept() -> None:
    doc = json.loads(batch(sample("vm-a"), sample("vm-b"), sample("vm-c")).to_bytes())
    doc["samples"][1]["value"] = "NaN-ish"
    decoded = decode_metrics(json.dumps(doc).encode())
    assert [s.vm_id for s in decoded.samples] == ["vm-a", "vm-c"]
    [bad] = decoded.bad
    assert bad.index == 1 and "samples.1.value" in bad.reason
    assert json.loads(bad.payload) == doc["samples"][1]  # nothing lost


@pytest.mark.parametrize(("mutate", "why"), [
    (lambda d: d.update(samples=[]), "1 to 5000"),
    (lambda d: d.update(samples={"vm": 1}), "must be a list"),
    (lambda d: d.update(host_id="bad host!"), "host_id"),
    (lambda d: d.pop("occurred_at"), "occurred_at"),
    (lambda d: d.update(schema_version=99), "schema_version"),
    (lambda d: d.update(surprise=True), "surprise"),
])
def test_a_malformed_envelope_is_rejected_as_a_whole(mutate: object, why: str) -> None:
    doc = json.loads(batch(sample("vm-a")).to_bytes())
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(InvalidEvent) as err:
        decode_metrics(json.dumps(doc).encode())
    assert why in err.value.reason and err.value.reason.startswith("invalid metric_batch")


def test_a_batch_over_the_bound_is_rejected_with_the_bound_in_the_reason() -> None:
    doc = json.loads(batch(sample("vm-a")).to_bytes())
    # Samples with only their required fields, so the message stays under the size limit.
    doc["samples"] = [{"occurred_at": "2026-01-01T00:00:00Z", "vm_id": "a", "metric": "cpu",
                       "value": 1}] * (MAX_BATCH_SAMPLES + 1)
    with pytest.raises(InvalidEvent, match="1 to 5000"):
        decode_metrics(json.dumps(doc))
    with pytest.raises(ValueError):
        MetricBatch(occurred_at=T0, samples=[sample("vm-a")] * (MAX_BATCH_SAMPLES + 1))


@pytest.mark.parametrize("raw", [None, b"", b'{"samples": [', b"[1, 2]", b'{"vm_id": "x", "oops"'])
def test_unreadable_messages_raise_a_reason(raw: bytes | None) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode_metrics(raw)
    assert err.value.reason


def test_the_word_samples_inside_a_single_sample_does_not_make_it_a_batch() -> None:
    s = MetricSample(occurred_at=T0, vm_id="vm-1", metric=MetricName.CPU, value=1.0,
                     source='exporter "samples"')
    assert decode_metrics(s.to_bytes()).samples == [s]


@given(st.lists(st.tuples(st.integers(0, 10_000), st.floats(0, 100), st.booleans()),
                min_size=1, max_size=40))
def test_good_and_bad_samples_partition_the_batch(rows: list[tuple[int, float, bool]]) -> None:
    doc = json.loads(batch(*[sample(f"vm-{i}", m, v) for i, (m, v, _) in enumerate(rows)])
                     .to_bytes())
    for item, (_, _, broken) in zip(doc["samples"], rows, strict=True):
        if broken:
            item["metric"] = "nonsense"
    decoded = decode_metrics(json.dumps(doc))
    assert [s.vm_id for s in decoded.samples] == [
        f"vm-{i}" for i, (_, _, b) in enumerate(rows) if not b]
    assert [b.index for b in decoded.bad] == [i for i, (_, _, b) in enumerate(rows) if b]
