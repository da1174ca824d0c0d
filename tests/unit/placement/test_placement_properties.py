"""Property tests: hard constraints always hold, undo is exact, why-pending adds up, and the
engine's choice is the brute-force optimum of the documented objective."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from novacron.placement.engine import Scheduler
from novacron.placement.state import FleetState
from novacron.placement.types import DecisionStatus, PlacementRequest
from placement_fleets import scenario
from placement_helpers import objective, violations

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def snapshot(state: FleetState) -> dict[str, object]:
    snap: dict[str, object] = {
        name: getattr(state, name).copy()
        for name in ("used", "free_t", "util_t", "vm_count", "cell_used", "cell_free_t")
    }
    snap["vms"] = dict(state.vms)
    snap["vms_by_label"] = {k: dict(v) for k, v in state.vms_by_label.items()}
    snap["pinned"] = set(state.pinned)
    for sel, dc in state.counters.items():
        for key in ("host", "cell", "rack", "zone"):
            snap[f"{sel}/{key}"] = getattr(dc, key).copy()
        snap[f"{sel}/total"] = dc.total
    return snap


def assert_same(a: dict[str, object], b: dict[str, object]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert np.array_equal(a[k], b[k]), k  # type: ignore[arg-type]
        else:
            assert a[k] == b[k], k


@FAST
@given(scenario())
def test_no_decision_violates_a_hard_constraint(case: tuple[Scheduler, PlacementRequest]) -> None:
    sched, req = case
    feasible = [h for h in range(sched.state.n_hosts) if not violations(sched.state, req, h)]
    d = sched.decide(req, commit=False)
    if d.status == DecisionStatus.PLACED:
        h = sched.state.index[d.target_node]  # type: ignore[index]
        cell = d.numa_cells[0] if req.vm.numa == "require" else None
        assert violations(sched.state, req, h, cell) == []
        assert d.feasible_hosts == len(feasible)
    elif d.status == DecisionStatus.INVALID:
        assert d.errors and all(e.field and e.reason for e in d.errors)
    else:
        # The engine evaluates every host, so "pending" must mean nothing fits at all.
        assert d.status == DecisionStatus.PENDING
        assert feasible == []


@FAST
@given(scenario())
def test_place_then_remove_restores_state_exactly(case: tuple[Scheduler, PlacementRequest]) -> None:
    sched, req = case
    for t in (*req.constraints.affinity, *req.constraints.spread):
        sched.state.counts(t.selector)  # register first, so the snapshot holds its counters
    before = snapshot(sched.state)
    d = sched.decide(req)
    if d.status == DecisionStatus.PLACED:
        assert not np.array_equal(sched.state.used, before["used"])  # type: ignore[arg-type]
        assert req.vm.vm_id in sched.state.vms
        sched.remove(req.vm.vm_id)
    assert_same(before, snapshot(sched.state))


@FAST
@given(scenario())
def test_group_is_all_or_nothing(case: tuple[Scheduler, PlacementRequest]) -> None:
    sched, req = case
    for t in (*req.constraints.affinity, *req.constraints.spread):
        sched.state.counts(t.selector)
    before = snapshot(sched.state)
    group = PlacementRequest(req.vm, req.constraints, strategy=req.strategy, replicas=3)
    g = sched.decide_group(group)
    if g.status == DecisionStatus.PLACED:
        assert len(g.decisions) == 3
        assert len({d.vm_id for d in g.decisions}) == 3
        for d in g.decisions:
            sched.remove(d.vm_id)
    else:
        # Nothing of a failed group may remain.
        assert not any(vm_id.startswith(f"{req.vm.vm_id}-") for vm_id in sched.state.vms)
    assert_same(before, snapshot(sched.state))


@FAST
@given(scenario())
def test_why_pending_counts_add_up(case: tuple[Scheduler, PlacementRequest]) -> None:
    sched, req = case
    d = sched.decide(req, commit=False)
    if d.status != DecisionStatus.PENDING:
        return
    wp = d.why_pending
    assert wp is not None
    assert sum(f.eliminated for f in wp.filters) + wp.feasible_hosts == wp.total_hosts
    assert wp.feasible_hosts == 0
    for f in wp.filters:
        assert f.only_blocker <= f.rejected and f.eliminated <= f.rejected <= wp.total_hosts
    if wp.binding is not None and any(f.only_blocker for f in wp.filters):
        top = max(f.only_blocker for f in wp.filters)
        assert next(f for f in wp.filters if f.filter == wp.binding).only_blocker == top
    assert wp.hints, "a pending decision always says what would help"


@FAST
@given(scenario(soft=False, strategies=("spread", "binpack", "balanced", "cost")))
def test_choice_is_the_brute_force_optimum(case: tuple[Scheduler, PlacementRequest]) -> None:
    sched, req = case
    if req.vm.numa == "prefer":
        return  # numa_locality's multi-cell grading is covered by its unit test
    feasible = [h for h in range(sched.state.n_hosts) if not violations(sched.state, req, h)]
    d = sched.decide(req, commit=False)
    if d.status == DecisionStatus.INVALID:
        return  # e.g. contradictory hard terms: covered by the validation tests
    if not feasible:
        assert d.status == DecisionStatus.PENDING
        return
    numa_bonus = 1.0 if req.vm.numa == "require" else 0.0
    scores = {h: objective(sched.state, req, h) + numa_bonus for h in feasible}
    best = max(scores.values())
    first_best = min(h for h, s in scores.items() if s >= best - 1e-9)
    assert d.status == DecisionStatus.PLACED
    assert d.score is not None and abs(d.score - best) < 1e-9
    assert sched.state.index[d.target_node] == first_best  # type: ignore[index]
