"""The feature window's hourly means, their seasonal decomposition, and the correlation between
a VM's metrics (streams.windows, pure)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
from novacron.models.features import correlation, correlation_matrix, stl_decompose
from novacron.streams.windows import (
    HOUR_S,
    add_samples,
    features_of,
    from_stored,
    metric_correlations,
    seasonal_parts,
    to_stored,
)

from novacron.events import MetricName, MetricSample

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def cpu(minute: int, value: float, metric: MetricName = MetricName.CPU) -> MetricSample:
    return MetricSample(occurred_at=T0 + timedelta(minutes=minute), vm_id="vm-1", metric=metric,
                        value=value)


def daily(minute: int) -> float:
    return 50.0 + 20.0 * math.sin(2 * math.pi * minute / (24 * 60)) + (minute % 7) * 0.1


def fill(hours: int, every_min: int = 5, keep: int = 240) -> dict:
    window: dict = {}
    for m in range(0, hours * 60, every_min):
        # The table round trip each take, as the agent does it.
        window = from_stored(to_stored(add_samples(window, [cpu(m, daily(m))], keep)))
    return window


def test_an_hour_closes_when_a_later_hour_begins_and_keeps_its_mean() -> None:
    window = add_samples({}, [cpu(m, float(m)) for m in range(0, 60, 5)], keep=240)
    assert "hm" not in window  # the first hour is still open
    window = add_samples(window, [cpu(60, 0.0)], keep=240)
    assert window["h_last"] == int(T0.timestamp()) // HOUR_S
    assert window["hm"] == [sum(range(0, 60, 5)) / 12]


def test_an_hour_without_points_is_nan_and_breaks_the_decomposition_span() -> None:
    window = add_samples({}, [cpu(0, 1.0), cpu(60, 2.0), cpu(180, 3.0)], keep=240)
    assert window["hm"][:2] == [1.0, 2.0]
    assert math.isnan(window["hm"][2])


def test_hourly_means_survive_a_window_shorter_than_the_hours() -> None:
    # 240 points at 5-minute steps are 20 hours: the means of three days are still kept.
    window = fill(72)
    assert len(window["t"]) == 240
    assert len(window["hm"]) == 71
    expected = [float(np.mean([daily(m) for m in range(h * 60, h * 60 + 60, 5)])) for h in range(71)]
    np.testing.assert_allclose(window["hm"], expected, rtol=1e-12)


def test_the_decomposition_is_the_shared_stl_over_the_hourly_means() -> None:
    assert seasonal_parts(fill(30)) is None  # under two days of hours
    window = fill(72)
    parts = seasonal_parts(window)
    assert parts is not None
    dec = stl_decompose(window["hm"][-72:], 24, robust=False)
    assert parts == (float(dec.trend[-1]), float(dec.seasonal[-1]), float(dec.resid[-1]))
    assert abs(parts[1]) > 5  # the daily swing lands in the seasonal part
    assert window["stl"][0] == window["h_last"]  # cached for the hour
    window["hm"] = [0.0] * len(window["hm"])  # a changed series is not re-read in the same hour
    assert seasonal_parts(window) == parts


def test_features_carry_the_decomposition_and_correlations() -> None:
    window = fill(72)
    fv = features_of(cpu(72 * 60, 1.0), window, 900.0, {MetricName.MEMORY: 0.5})
    assert fv.stl_seasonal is not None and fv.stl_trend is not None and fv.stl_resid is not None
    assert fv.correlations == {MetricName.MEMORY: 0.5}
    assert features_of(cpu(60, 1.0), fill(2), 900.0).stl_trend is None


def test_correlations_between_a_vms_metrics() -> None:
    minutes = range(0, 120)
    base = add_samples({}, [cpu(m, float(m % 17)) for m in minutes], keep=240)
    same = add_samples({}, [cpu(m, 2.0 * (m % 17) + 1, MetricName.MEMORY) for m in minutes], keep=240)
    inverse = add_samples({}, [cpu(m, -float(m % 17), MetricName.NET_IN) for m in minutes], keep=240)
    flat = add_samples({}, [cpu(m, 3.0, MetricName.DISK_IO) for m in minutes], keep=240)
    # Scraped together: one matrix.
    out = metric_correlations({MetricName.CPU: base, MetricName.MEMORY: same,
                               MetricName.NET_IN: inverse, MetricName.DISK_IO: flat})
    assert abs(out[MetricName.CPU][MetricName.MEMORY] - 1.0) < 1e-12
    assert abs(out[MetricName.CPU][MetricName.NET_IN] + 1.0) < 1e-12
    assert abs(out[MetricName.MEMORY][MetricName.NET_IN] + 1.0) < 1e-12
    assert MetricName.DISK_IO not in out[MetricName.CPU]  # flat: undefined, not "uncorrelated"
    assert out[MetricName.DISK_IO] == {}
    # Another scrape cadence: only the shared event times count.
    odd = add_samples({}, [cpu(m, float(m % 17), MetricName.REQUESTS) for m in minutes if m % 2],
                      keep=240)
    few = add_samples({}, [cpu(m, float(m), MetricName.NET_OUT) for m in range(115, 120)], keep=240)
    out = metric_correlations({MetricName.CPU: base, MetricName.REQUESTS: odd,
                               MetricName.NET_OUT: few})
    assert abs(out[MetricName.CPU][MetricName.REQUESTS] - 1.0) < 1e-12
    assert abs(out[MetricName.REQUESTS][MetricName.CPU] - 1.0) < 1e-12
    assert MetricName.NET_OUT not in out[MetricName.CPU]  # five shared points are too few
    assert metric_correlations({MetricName.CPU: base}) == {}


def test_the_matrix_is_pairwise_pearson() -> None:
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(4, 60))
    rows[2] = 7.0
    m = correlation_matrix(rows)
    for i in (0, 1, 3):
        for j in (0, 1, 3):
            r = correlation(list(rows[i]), list(rows[j]))
            assert r is not None and abs(m[i, j] - r) < 1e-12
    assert np.isnan(m[2]).all() and np.isnan(m[:, 2]).all()


def test_correlation_is_pearsons() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=50), rng.normal(size=50)
    r = correlation(list(x), list(y))
    assert r is not None and abs(r - float(np.corrcoef(x, y)[0, 1])) < 1e-12
    assert correlation([1.0, 2.0], [2.0, 1.0]) is None
    assert correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None
