"""A batch that spans several emit periods of a key (a worker restarted behind the stream)
gives one feature vector per period, each on the window as it stood at that period's end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from novacron.streams.windows import add_samples, advance, due, features_of, mark_emitted

from novacron.events import MetricName, MetricSample

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sample(second: int, value: float, backfill: bool = False) -> MetricSample:
    return MetricSample(occurred_at=T0 + timedelta(seconds=second), vm_id="v", host_id="h",
                        metric=MetricName.CPU, value=value, allocated=2, backfill=backfill)


def test_a_backlog_of_n_emit_periods_gives_n_features_each_as_of_its_period() -> None:
    window, _ = advance({}, [sample(0, 0.0)], keep=100, every_s=60.0)  # published at 0
    backlog = [sample(60 * m, float(m)) for m in range(1, 23)]  # 22 minutes read at once
    window, emissions = advance(window, backlog, keep=100, every_s=60.0)
    assert len(emissions) == 22
    vectors = [features_of(s, w, window_s=900.0) for s, w in emissions]
    assert [fv.occurred_at for fv in vectors] == [T0 + timedelta(minutes=m) for m in range(1, 23)]
    assert [fv.last for fv in vectors] == [float(m) for m in range(1, 23)]
    assert [len(fv.history) for fv in vectors] == list(range(2, 24))  # nothing from the future
    t0 = T0.timestamp()
    assert window["emitted"] == t0 + 22 * 60
    assert window["t"] == [t0 + 60.0 * m for m in range(23)]


def test_the_steady_case_is_one_sample_one_vector() -> None:
    window: dict = {}
    counts = []
    for m in range(5):
        window, emissions = advance(window, [sample(60 * m, 1.0)], keep=100, every_s=60.0)
        counts.append(len(emissions))
    assert counts == [1, 1, 1, 1, 1]


def test_a_backfill_batch_gives_only_its_newest_vector() -> None:
    history = [sample(60 * m, float(m), backfill=True) for m in range(240)]
    _, emissions = advance({}, history, keep=240, every_s=60.0)
    assert len(emissions) == 1 and emissions[0][1]["t"][-1] == T0.timestamp() + 239 * 60


def test_a_late_sample_in_a_backlog_is_in_the_windows_from_its_time_on() -> None:
    window, _ = advance({}, [sample(0, 0.0)], keep=100, every_s=60.0)
    batch = [sample(120, 2.0), sample(60, 1.0), sample(30, 9.0)]  # arrival order, one late
    window, emissions = advance(window, batch, keep=100, every_s=60.0)
    assert [(s.value, w["v"]) for s, w in emissions] == [(1.0, [0.0, 9.0, 1.0]),
                                                          (2.0, [0.0, 9.0, 1.0, 2.0])]


@given(st.lists(st.tuples(st.integers(0, 3_000), st.floats(0, 100)), min_size=1, max_size=60),
       st.integers(1, 40), st.sampled_from([10.0, 60.0, 300.0]))
def test_a_batch_emits_what_its_samples_one_at_a_time_in_event_time_would(
    rows: list[tuple[int, float]], keep: int, every_s: float
) -> None:
    samples = [sample(s, v) for s, v in rows]
    one_by_one: dict = {}
    expected = []
    for smp in sorted(samples, key=lambda s: s.occurred_at):
        one_by_one = add_samples(one_by_one, [smp], keep)
        if due(one_by_one, every_s):
            one_by_one = mark_emitted(one_by_one)
            expected.append((smp, one_by_one))
    window, emissions = advance({}, samples, keep, every_s)
    assert emissions == expected
    assert window == one_by_one
