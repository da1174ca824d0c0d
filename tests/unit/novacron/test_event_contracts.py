from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from novacron.events import (
    ActionKind,
    Decision,
    FeatureVector,
    InvalidEvent,
    MetricName,
    MetricSample,
    decode,
)
from novacron.topics import ALL_TOPICS

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_round_trip_keeps_every_field() -> None:
    s = MetricSample(occurred_at=T0, vm_id="vm-1", metric=MetricName.CPU, value=42.5, allocated=2)
    back = decode(MetricSample, s.to_bytes())
    assert back == s
    assert back.key == "vm-1"
    assert back.schema_version == 1 and isinstance(back.event_id, uuid.UUID)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"not json", "Invalid JSON"),
        (b'{"occurred_at": "2026-01-01T00:00:00Z", "vm_id": "v", "metric": "cpu"}', "value"),
        (b'{"occurred_at": "2026-01-01T00:00:00", "vm_id": "v", "metric": "cpu", "value": 1}',
         "timezone"),
        (b'{"occurred_at": "2026-01-01T00:00:00Z", "vm_id": "v", "metric": "gpu", "value": 1}',
         "metric"),
        (b'{"occurred_at": "2026-01-01T00:00:00Z", "vm_id": "v v", "metric": "cpu", "value": 1}',
         "vm_id"),
        (b'{"occurred_at": "2026-01-01T00:00:00Z", "vm_id": "v", "metric": "cpu", "value": 1,'
         b' "schema_version": 9}', "schema_version"),
        (b'{"occurred_at": "2026-01-01T00:00:00Z", "vm_id": "v", "metric": "cpu", "value": 1,'
         b' "surprise": 1}', "surprise"),
        (None, "empty"),
    ],
)
def test_invalid_messages_raise_with_a_reason_naming_the_problem(raw: bytes | None, needle: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(MetricSample, raw)
    assert needle in err.value.reason


def test_non_finite_values_are_rejected() -> None:
    with pytest.raises(InvalidEvent):
        decode(MetricSample, b'{"occurred_at": "2026-01-01T00:00:00Z", "vm_id": "v", '
                             b'"metric": "cpu", "value": NaN}')


def test_event_time_is_normalised_to_utc() -> None:
    s = decode(MetricSample, b'{"occurred_at": "2026-01-01T02:00:00+02:00", "vm_id": "v", '
                             b'"metric": "cpu", "value": 1}')
    assert s.occurred_at == T0


def test_decision_needs_an_explanation() -> None:
    with pytest.raises(ValueError, match="explanation"):
        Decision(occurred_at=T0, action=ActionKind.SCALE_VCPU, target_id="v", explanation="",
                 decided_by="t")


def test_topic_names_are_unique_and_namespaced() -> None:
    names = [t.name for t in ALL_TOPICS]
    assert len(names) == len(set(names))
    assert all(n.startswith("novacron.") for n in names)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), max_size=50))
def test_feature_vectors_round_trip(history: list[float]) -> None:
    fv = FeatureVector(occurred_at=T0, vm_id="v", metric=MetricName.CPU, window_s=60, count=1,
                       last=0, mean=0, std=0, p95=0, ewma=0, history=history)
    assert decode(FeatureVector, fv.to_bytes()).history == history
