"""The fleet simulator conserves what it counts and runs the live rule."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from novacron.autoscaler.cost import spot_units
from novacron.autoscaler.policy import ScalingPolicy
from novacron.autoscaler.simulator import (
    GroupTrace,
    SimConfig,
    count_false_positive_downs,
    make_forecasts,
    simulate_fleet,
)
from novacron.models.baselines import SeasonalNaive

STEP = 300.0
DAY = 288


def trace(name: str, seed: int, days: int = 3) -> GroupTrace:
    rng = np.random.default_rng(seed)
    t = np.arange(days * DAY)
    y = 8 + 6 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, 0.5, t.size)
    return GroupTrace(name, STEP, 1_700_000_000.0, np.maximum(y, 0.0))


@pytest.fixture(scope="module")
def fleet() -> tuple[list[GroupTrace], SimConfig, list[object]]:
    traces = [trace("a", 1), trace("b", 2)]
    pol = ScalingPolicy.from_profile("moderate", max_replicas=40, lead_time_s=600, horizon_s=1800)
    cfg = SimConfig(pol, boot_s=600.0, warmup_s=DAY * STEP, host_slots=8)
    fcs = [make_forecasts(t, DAY, t.demand.size - DAY, 6, [SeasonalNaive], 0.8) for t in traces]
    return traces, cfg, fcs  # type: ignore[return-value]


@pytest.mark.parametrize("scaler", ["predictive", "reactive", "static"])
def test_conservation(fleet: tuple[list[GroupTrace], SimConfig, list[object]], scaler: str) -> None:
    traces, cfg, fcs = fleet
    res = simulate_fleet(traces, cfg, scaler, fcs)  # type: ignore[arg-type]
    pol = cfg.policy
    for g, t in zip(res.groups, traces, strict=True):
        np.testing.assert_array_equal(g.demand, t.demand[DAY:])
        served = np.minimum(g.demand, g.ready)
        unserved = np.maximum(g.demand - g.ready, 0.0)
        np.testing.assert_allclose(served + unserved, g.demand)
        assert np.all(g.ready <= g.allocated)
        expected_cost = g.allocated.sum() * pol.cost.on_demand_per_hour * STEP / 3600
        assert g.cost == pytest.approx(expected_cost)
        assert g.violation_minutes == pytest.approx(np.sum(unserved > 1e-9) * STEP / 60)
        assert g.scale_ups + g.scale_downs == len(g.decisions)
        if scaler != "static":
            assert g.allocated.min() >= pol.min_replicas and g.allocated.max() <= pol.max_replicas
    assert np.all(res.host_util_peak <= 1.0 + 1e-9)


def test_static_peak_never_violates(fleet: tuple[list[GroupTrace], SimConfig, list[object]]) -> None:
    traces, cfg, fcs = fleet
    res = simulate_fleet(traces, cfg, "static", fcs)  # type: ignore[arg-type]
    for g in res.groups:
        assert g.violation_minutes == 0 and not g.decisions
        assert g.allocated[0] == math.ceil(g.demand.max() - 1e-9)


def test_new_replicas_serve_only_after_boot(fleet: tuple[list[GroupTrace], SimConfig, list[object]]) -> None:
    traces, cfg, fcs = fleet
    res = simulate_fleet(traces, cfg, "reactive", fcs)  # type: ignore[arg-type]
    boot = int(cfg.boot_s // STEP)
    for g in res.groups:
        for k, direction, _ in g.decisions:
            if direction == "up" and k + boot < g.demand.size:
                assert g.allocated[k + 1] > g.ready[k + 1] or g.ready[k + 1] > g.ready[k]


def test_predictive_beats_reactive_on_a_daily_pattern(
    fleet: tuple[list[GroupTrace], SimConfig, list[object]],
) -> None:
    traces, cfg, fcs = fleet
    p = simulate_fleet(traces, cfg, "predictive", fcs)  # type: ignore[arg-type]
    r = simulate_fleet(traces, cfg, "reactive", fcs)  # type: ignore[arg-type]
    assert sum(g.reactive_events for g in p.groups) < sum(g.reactive_events for g in r.groups)
    assert sum(g.violation_minutes for g in p.groups) <= sum(g.violation_minutes for g in r.groups)


def test_false_positive_scale_down_counts_only_violations_the_removed_replicas_would_serve() -> None:
    # Scale-down at step 0 from 10 to 8 ready (2 removed, serving again from step 1).
    ready = np.array([10, 8, 8, 8, 8, 8], dtype=float)
    lead = 3
    # 9.5 needs one removed replica: caused by the scale-down.
    assert count_false_positive_downs(np.array([9, 7, 9.5, 7, 7, 7]), ready, [(0, (1, 1))], lead) == (1, 1)
    # 11 is above the 10 replicas before the scale-down too: followed by a violation, not caused.
    assert count_false_positive_downs(np.array([9, 7, 11, 7, 7, 7]), ready, [(0, (1, 1))], lead) == (0, 1)
    # A violation after the lead time counts in neither.
    assert count_false_positive_downs(np.array([9, 7, 7, 7, 9.5, 7]), ready, [(0, (1, 1))], lead) == (0, 0)
    # A cancelled boot that would have served only from step 3 cannot have served step 2.
    demand = np.array([7, 7, 8.5, 7, 7, 7])
    ready = np.full(6, 8.0)
    assert count_false_positive_downs(demand, ready, [(0, (3,))], lead) == (0, 1)
    assert count_false_positive_downs(demand, ready, [(0, (2,))], lead) == (1, 1)


def test_fleet_causal_false_positives_are_a_subset_of_any_violation(
    fleet: tuple[list[GroupTrace], SimConfig, list[object]],
) -> None:
    traces, cfg, fcs = fleet
    for scaler in ("predictive", "reactive"):
        res = simulate_fleet(traces, cfg, scaler, fcs)  # type: ignore[arg-type]
        for g in res.groups:
            assert len(g.removals) == g.scale_downs
            assert 0 <= g.false_positive_scale_downs <= g.false_positive_scale_downs_any_violation
            assert g.false_positive_scale_downs_any_violation <= g.scale_downs


@pytest.mark.parametrize("scaler", ["predictive", "reactive", "static"])
def test_every_scaler_pays_the_policy_spot_share_of_its_capacity(
    fleet: tuple[list[GroupTrace], SimConfig, list[object]], scaler: str
) -> None:
    traces, cfg, fcs = fleet
    pol = replace(cfg.policy, spot_allowed=True, spot_max_fraction=0.5)
    res = simulate_fleet(traces, replace(cfg, policy=pol), scaler, fcs)  # type: ignore[arg-type]
    for g in res.groups:
        alloc = g.allocated.astype(int)
        spot = np.array([spot_units(int(a), pol) for a in alloc])
        assert spot.sum() > 0  # the spot share is charged, not only on the predictive side
        expected = ((alloc - spot) * pol.cost.on_demand_per_hour + spot * pol.cost.spot_per_hour).sum()
        assert g.cost == pytest.approx(expected * STEP / 3600)


def test_a_lower_hpa_target_buys_the_baseline_capacity(
    fleet: tuple[list[GroupTrace], SimConfig, list[object]],
) -> None:
    traces, cfg, _ = fleet
    own = simulate_fleet(traces, cfg, "reactive")
    low = simulate_fleet(traces, replace(cfg, hpa_target=0.4), "reactive")
    assert sum(g.cost for g in low.groups) > 1.3 * sum(g.cost for g in own.groups)
    assert sum(g.violation_minutes for g in low.groups) <= sum(g.violation_minutes for g in own.groups)
    # The predictive scaler does not read it.
    fcs = fleet[2]
    a = simulate_fleet(traces, cfg, "predictive", fcs)  # type: ignore[arg-type]
    b = simulate_fleet(traces, replace(cfg, hpa_target=0.4), "predictive", fcs)  # type: ignore[arg-type]
    assert [g.cost for g in a.groups] == [g.cost for g in b.groups]
    with pytest.raises(ValueError, match="hpa_target"):
        simulate_fleet(traces, replace(cfg, hpa_target=0.0), "reactive")
