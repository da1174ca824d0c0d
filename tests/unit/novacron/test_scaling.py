from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from novacron.events import FeatureVector, Forecast, MetricName
from novacron.scaling import ScalingRule, decide

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RULE = ScalingRule()


def features(p95: float = 50.0, alloc: float | None = 2.0, at: datetime = T0) -> FeatureVector:
    return FeatureVector(occurred_at=at, vm_id="vm-1", metric=MetricName.CPU, window_s=900,
                         count=10, last=p95, mean=p95, std=1, p95=p95, ewma=p95, allocated=alloc)


def forecast(point: list[float], upper: list[float]) -> Forecast:
    return Forecast(occurred_at=T0, vm_id="vm-1", metric=MetricName.CPU,
                    horizon_s=60 * len(point), step_s=60, point=point,
                    lower=[p - 5 for p in point], upper=upper, model="m")


def test_scales_up_when_the_upper_bound_within_the_lead_time_crosses() -> None:
    d = decide(features(), forecast([80, 90, 60], [95, 99, 70]), RULE, None)
    assert d is not None and d.params["vcpus"] > 2
    assert d.decided_by == "autoscaler/predictive"
    assert "upper bound" in d.explanation and d.alternatives


def test_a_peak_beyond_the_lead_time_does_not_trigger_a_scale_up() -> None:
    assert decide(features(), forecast([50, 50, 50, 99], [60, 60, 60, 120]), RULE, None) is None


def test_never_scales_down_into_predicted_load() -> None:
    # Now idle, but the upper bound says load comes back within the horizon.
    assert decide(features(p95=5), forecast([5, 5, 5, 5], [10, 10, 10, 70]), RULE, None) is None
    d = decide(features(p95=5), forecast([5, 5, 5, 5], [10, 10, 10, 12]), RULE, None)
    assert d is not None and d.params["vcpus"] == 1


def test_reactive_fallback_says_why() -> None:
    d = decide(features(p95=97), None, RULE, None, "serving unavailable: refused")
    assert d is not None and d.decided_by == "autoscaler/reactive"
    assert "serving unavailable" in d.explanation
    assert d.trigger["fallback_reason"] == "serving unavailable: refused"


def test_cooldown_in_event_time() -> None:
    last = T0 - timedelta(minutes=1)
    assert decide(features(p95=97), None, RULE, last) is None
    assert decide(features(p95=97, at=T0 + timedelta(minutes=5)), None, RULE, last) is not None


def test_unknown_allocation_means_no_decision() -> None:
    assert decide(features(p95=99, alloc=None), None, RULE, None) is None


def test_invalid_rule_is_rejected() -> None:
    with pytest.raises(ValueError, match="thresholds"):
        ScalingRule(low_pct=70, target_pct=60)


@given(st.floats(0, 100), st.integers(1, 8))
def test_decisions_stay_within_min_and_max(p95: float, alloc: int) -> None:
    d = decide(features(p95=p95, alloc=float(alloc)), None, RULE, None)
    if d is not None:
        assert RULE.min_vcpus <= d.params["vcpus"] <= RULE.max_vcpus
        assert d.params["vcpus"] != alloc
