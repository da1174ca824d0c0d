from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from novacron.streams.windows import add_sample, features_of

from novacron.events import MetricName, MetricSample

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sample(minute: int, value: float, alloc: float | None = 2) -> MetricSample:
    return MetricSample(occurred_at=T0 + timedelta(minutes=minute), vm_id="v",
                        metric=MetricName.CPU, value=value, allocated=alloc)


def test_window_is_ordered_by_event_time_not_arrival() -> None:
    w: dict = {}
    for m, v in [(2, 20.0), (0, 0.0), (1, 10.0)]:
        w = add_sample(w, sample(m, v), keep=10)
    assert w["v"] == [0.0, 10.0, 20.0]


def test_redelivered_sample_replaces_instead_of_duplicating() -> None:
    w = add_sample({}, sample(0, 1.0), keep=10)
    w = add_sample(w, sample(0, 1.0), keep=10)
    assert w["v"] == [1.0]


def test_window_keeps_the_latest_points_and_the_last_known_allocation() -> None:
    w: dict = {}
    for m in range(20):
        w = add_sample(w, sample(m, float(m), alloc=None if m > 5 else 3), keep=5)
    assert w["v"] == [15.0, 16.0, 17.0, 18.0, 19.0]
    assert w["alloc"] == 3


def test_statistics_cover_the_event_time_window_only() -> None:
    w: dict = {}
    for m in range(30):
        w = add_sample(w, sample(m, 100.0 if m < 20 else 10.0), keep=100)
    fv = features_of(sample(29, 10.0), w, window_s=5 * 60)  # minutes 24..29
    assert fv.count == 6 and fv.mean == 10.0 and fv.p95 == 10.0
    assert len(fv.history) == 30 and fv.step_s == 60.0
    assert fv.occurred_at == T0 + timedelta(minutes=29)


def test_a_spike_at_the_end_of_the_window_scores_as_an_anomaly() -> None:
    w: dict = {}
    for m in range(15):
        w = add_sample(w, sample(m, 20.0 + (m % 3)), keep=100)
    calm = features_of(sample(14, 22.0), w, window_s=15 * 60)
    w = add_sample(w, sample(15, 95.0), keep=100)
    spike = features_of(sample(15, 95.0), w, window_s=15 * 60)
    assert calm.anomaly is not None and spike.anomaly is not None
    assert calm.anomaly < 2.0 < 10.0 < spike.anomaly


@given(st.lists(st.integers(0, 500), min_size=1, max_size=60))
def test_any_arrival_order_gives_the_same_window(minutes: list[int]) -> None:
    w1: dict = {}
    w2: dict = {}
    for m in minutes:
        w1 = add_sample(w1, sample(m, float(m)), keep=1000)
    for m in sorted(minutes):
        w2 = add_sample(w2, sample(m, float(m)), keep=1000)
    assert w1["t"] == w2["t"] == sorted(set(w1["t"]))
