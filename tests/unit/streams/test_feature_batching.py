"""Batched window updates and the emission interval give the same windows and features as
one sample at a time; the fast TSDB line is influxdb-client's line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from novacron.streams.tsdb import feature_line, feature_point
from novacron.streams.windows import add_sample, add_samples, due, features_of, mark_emitted

from novacron.events import FeatureVector, MetricName, MetricSample

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sample(second: int, value: float, alloc: float | None = 2, host: str | None = None,
           ) -> MetricSample:
    return MetricSample(occurred_at=T0 + timedelta(seconds=second), vm_id="v", host_id=host,
                        metric=MetricName.CPU, value=value, allocated=alloc)


arrivals = st.lists(st.tuples(st.integers(0, 3_000), st.floats(0, 100),
                              st.one_of(st.none(), st.floats(0, 64)),
                              st.sampled_from([None, "h1", "h2"])), min_size=1, max_size=80)


@given(arrivals, st.integers(1, 40), st.integers(1, 10))
def test_a_batch_builds_the_window_one_sample_at_a_time_would(
    rows: list[tuple[int, float, float | None, str | None]], keep: int, cut: int
) -> None:
    samples = [sample(s, v, a, h) for s, v, a, h in rows]
    one_by_one: dict = {}
    for smp in samples:
        one_by_one = add_sample(one_by_one, smp, keep)
    batched = add_samples(add_samples({}, samples[:cut], keep), samples[cut:], keep)
    assert batched == one_by_one


def test_features_are_published_every_interval_of_event_time_not_per_sample() -> None:
    window: dict = {}
    published = []
    for second in range(0, 300, 10):  # 10 s samples, one batch each
        window = add_samples(window, [sample(second, float(second))], keep=100)
        if due(window, 60.0):
            window = mark_emitted(window)
            published.append(second)
    assert published == [0, 60, 120, 180, 240]


def test_a_late_sample_does_not_trigger_publication_but_is_in_the_next_features() -> None:
    window = mark_emitted(add_samples({}, [sample(600, 1.0)], keep=100))
    window = add_samples(window, [sample(0, 50.0)], keep=100)
    assert not due(window, 60.0)
    window = add_samples(window, [sample(660, 1.0)], keep=100)
    assert due(window, 60.0)
    assert features_of(sample(660, 1.0), window, window_s=10_000).history == [50.0, 1.0, 1.0]


@given(st.floats(-1e6, 1e6), st.floats(0, 1e6), st.one_of(st.none(), st.floats(0, 512)),
       st.integers(0, 10**9), st.sampled_from([None, "host-1"]), st.booleans(),
       st.one_of(st.none(), st.floats(-1e3, 1e3)),
       st.one_of(st.none(), st.dictionaries(st.sampled_from(list(MetricName)), st.floats(-1, 1))))
def test_the_fast_line_is_influxdb_clients_line(value: float, spread: float, alloc: float | None,
                                                 second: int, host: str | None, frac: bool,
                                                 seasonal: float | None,
                                                 correlations: dict[MetricName, float] | None) -> None:
    at = T0 + timedelta(seconds=second, microseconds=250_000 if frac else 0)
    stl = {} if seasonal is None else {"stl_trend": value, "stl_seasonal": seasonal,
                                       "stl_resid": seasonal / 7}
    fv = FeatureVector(occurred_at=at, vm_id="vm-1.a:b_c", metric=MetricName.MEMORY,
                       window_s=60, count=3, last=value, mean=value / 3, std=spread,
                       p95=value + spread, ewma=value * 0.7, allocated=alloc, host_id=host,
                       correlations=correlations, **stl)
    assert feature_line(fv) == feature_point(fv).to_line_protocol()


@given(arrivals, st.integers(1, 40))
def test_the_stored_window_round_trips_exactly_through_json(
    rows: list[tuple[int, float, float | None, str | None]], keep: int
) -> None:
    import json

    from novacron.streams.windows import from_stored, to_stored

    window = mark_emitted(add_samples({}, [sample(s, v, a, h) for s, v, a, h in rows], keep))
    assert from_stored(json.loads(json.dumps(to_stored(window)))) == window


def test_windows_stored_as_lists_by_older_workers_still_load() -> None:
    from novacron.streams.windows import from_stored

    old = {"t": [1.0, 2.0], "v": [3.0, 4.0], "alloc": 2, "host": None}
    assert from_stored(old) == old and from_stored({}) == {}


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=50))
def test_the_step_is_the_upper_median_of_the_positive_spacings(seconds: list[int]) -> None:
    import itertools

    window = add_samples({}, [sample(s, 1.0) for s in seconds], keep=1000)
    steps = [b - a for a, b in itertools.pairwise(window["t"]) if b > a]
    expected = sorted(steps)[len(steps) // 2] if steps else 60.0
    assert features_of(sample(seconds[-1], 1.0), window, 60.0).step_s == expected
