"""Vertical memory scaling: the same rule as vCPUs, counted in MEMORY_UNIT_MIB steps, spoken
in MiB, turned into a SCALE_MEMORY decision the actuator's ``set_memory`` reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from novacron.autoscaler.events import to_event
from novacron.autoscaler.live import (
    MEMORY_UNIT_MIB,
    Memory,
    default_memory_policy,
    default_vcpu_policy,
    evaluate,
    memory_policy,
    vcpu_policy,
)
from novacron.autoscaler.rules import decide, decide_memory
from novacron.autoscaler.types import ForecastView, GroupState, Observation
from novacron.policy import Policy, PolicySet

from novacron.events import ActionKind, AutonomyMode, FeatureVector, Forecast, MetricName

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POL = default_memory_policy()  # moderate: target 70 %, up above 80 %, 512 MiB .. 16 GiB


def features(last: float, alloc_mib: float | None = 2048.0, at: datetime = T0,
             metric: MetricName = MetricName.MEMORY) -> FeatureVector:
    return FeatureVector(occurred_at=at, vm_id="vm-1", metric=metric, window_s=900, count=10,
                         last=last, mean=last, std=1, p95=last, ewma=last, allocated=alloc_mib,
                         host_id="h-1")  # fmt: skip


def forecast(point: list[float], upper: list[float], at: datetime = T0) -> Forecast:
    return Forecast(occurred_at=at, vm_id="vm-1", metric=MetricName.MEMORY,
                    horizon_s=60 * len(point), step_s=60, point=point,
                    lower=[max(0.0, p - 5) for p in point], upper=upper, model="m")  # fmt: skip


def test_a_memory_feature_leads_to_a_memory_resize_in_mib() -> None:
    # 2 GiB at 90 % used, the bound says 95 %: 1843 MiB busy at 70 % needs 2816 MiB (11 units).
    d, _ = evaluate(features(90.0), forecast([90.0] * 15, [95.0] * 15), {}, POL)
    assert d is not None and d.action is ActionKind.SCALE_MEMORY and d.target_kind == "vm"
    assert d.params["previous_memory_mib"] == 2048
    assert d.params["memory_mib"] == 2816 and d.params["memory_mib"] % MEMORY_UNIT_MIB == 0
    assert "2048 -> 2816 MiB" in d.explanation and "vCPU" not in d.explanation
    assert d.occurred_at == T0


def test_an_idle_vm_gives_memory_back_but_never_below_the_minimum() -> None:
    memory: Memory = {}
    got = []
    for i in range(120):
        at = T0 + timedelta(minutes=i)
        d, memory = evaluate(features(2.0, 4096.0, at), forecast([2.0] * 15, [3.0] * 15, at), memory, POL)
        if d is not None:
            got.append(d)
    assert got and all(d.action is ActionKind.SCALE_MEMORY for d in got)
    assert got[0].params["memory_mib"] == POL.min_replicas * MEMORY_UNIT_MIB == 512


def test_a_shrink_is_withheld_while_the_bound_says_the_working_set_returns() -> None:
    memory: Memory = {}
    for i in range(60):
        at = T0 + timedelta(minutes=i)
        fc = forecast([20.0] * 14 + [85.0], [25.0] * 14 + [90.0], at)
        d, memory = evaluate(features(20.0, 4096.0, at), fc, memory, POL)
        assert d is None


def test_cpu_and_other_metrics() -> None:
    d, _ = evaluate(features(95.0, 2.0, metric=MetricName.CPU), forecast([95.0] * 15, [99.0] * 15),
                    {}, default_vcpu_policy())  # fmt: skip
    assert d is not None and d.action is ActionKind.SCALE_VCPU and "memory_mib" not in d.params
    with pytest.raises(ValueError, match="cpu or memory"):
        evaluate(features(50.0, 100.0, metric=MetricName.NET_IN), None, {}, POL)


def test_memory_units_are_for_vertical_decisions_only() -> None:
    obs = Observation(0.0, 1.0, 2)
    with pytest.raises(ValueError, match="vertical"):
        decide("g", obs, None, GroupState(), POL, memory_unit_mib=256)
    with pytest.raises(ValueError, match="unit_mib"):
        decide_memory("vm", obs, None, GroupState(), POL, 0)


@settings(max_examples=150, deadline=None)
@given(
    units=st.integers(1, 80),
    used=st.floats(0.0, 100.0),
    up=st.floats(0.0, 150.0),
)
def test_no_memory_decision_leaves_the_policy_bounds(units: int, used: float, up: float) -> None:
    f = ForecastView((used / 100 * units,) * 15, (up / 100 * units,) * 15, 60.0, 0.8, "m")
    out = decide_memory("vm", Observation(0.0, used / 100 * units, units), f, GroupState(), POL, 256)
    if out.decision is not None:
        d = out.decision
        assert POL.min_replicas <= d.desired <= POL.max_replicas
        ev = to_event(d)
        assert ev.action is ActionKind.SCALE_MEMORY and ev.params["memory_mib"] == d.desired * 256


def policy(**spec: object) -> Policy:
    return Policy.model_validate({"name": "db-tier", "selector": {"matchLabels": {"app": "db"}}, **spec})


def test_memory_autonomy_is_its_own() -> None:
    eff = PolicySet([policy(autonomy={"scale_memory": "approve", "scale_vcpu": "recommend"},
                            rules={"autoScaling": "conservative"})]).effective({"app": "db"})  # fmt: skip
    mem = memory_policy(POL, eff)
    assert mem.mode is AutonomyMode.APPROVE and vcpu_policy(default_vcpu_policy(), eff).mode is AutonomyMode.RECOMMEND
    # The VM's memory limits and price stay the runtime's when a profile comes from the policy.
    assert (mem.min_replicas, mem.max_replicas, mem.cost) == (POL.min_replicas, POL.max_replicas, POL.cost)
    assert memory_policy(POL, None) is POL


def test_a_vm_made_outside_the_default_bounds_is_not_resized_for_that_alone() -> None:
    # 32 GiB (above the 16 GiB default) and 16 vCPUs (above the 1..8 default), half used.
    big, _ = evaluate(features(50.0, 32768.0), forecast([50.0] * 15, [55.0] * 15), {}, POL)
    assert big is None
    cpu, _ = evaluate(features(60.0, 16.0, metric=MetricName.CPU), forecast([60.0] * 15, [65.0] * 15),
                      {}, default_vcpu_policy())  # fmt: skip
    assert cpu is None
    # The bounds still limit where the rule takes it: above the maximum it does not grow, and a
    # VM below the minimum grows under pressure like any other.
    up, _ = evaluate(features(95.0, 32768.0), forecast([95.0] * 15, [99.0] * 15), {}, POL)
    assert up is None
    small, _ = evaluate(features(95.0, 256.0), forecast([95.0] * 15, [99.0] * 15), {}, POL)
    assert small is not None and small.params["memory_mib"] > 256
