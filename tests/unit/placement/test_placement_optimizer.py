"""The rebalancing optimizer: brute-force optimality on tiny instances, hard constraints,
move budgets, and migration plans that execute under transient capacity."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from novacron.placement.optimizer import (
    BinProblem,
    greedy,
    objective,
    solve_exact,
    solve_lns,
    violations,
)
from novacron.placement.optimizer_plan import order_moves, rebalance
from novacron.placement.state import FleetState
from novacron.placement.types import Host, HostClass, VMSpec


@st.composite
def tiny(draw: st.DrawFn) -> BinProblem:
    n = draw(st.integers(1, 6))
    m = draw(st.integers(1, 3))
    demand = np.array(
        [[draw(st.integers(1, 6)), draw(st.integers(1, 6))] for _ in range(n)], dtype=np.int64
    )
    cap = np.array(
        [[draw(st.integers(4, 14)), draw(st.integers(4, 14))] for _ in range(m)], dtype=np.int64
    )
    cost = np.array([draw(st.integers(1, 20)) for _ in range(m)], dtype=np.int64)
    group = (
        np.array([draw(st.integers(-1, 1)) for _ in range(n)], dtype=np.int64)
        if draw(st.booleans())
        else None
    )
    return BinProblem(demand, cap, cost, group)


def brute_force(p: BinProblem) -> int | None:
    best = None
    for combo in itertools.product(range(p.n_bins), repeat=p.n_items):
        a = np.array(combo, dtype=np.int64)
        if not violations(p, a):
            v = objective(p, a)
            best = v if best is None else min(best, v)
    return best


@settings(max_examples=60, deadline=None)
@given(tiny())
def test_exact_and_lns_match_brute_force(p: BinProblem) -> None:
    opt = brute_force(p)
    exact = solve_exact(p, 5.0)
    if opt is None:
        assert not exact.feasible
        return
    assert exact.feasible and exact.objective == opt
    lns = solve_lns(p, 0.5, seed=0, target=opt)
    assert lns.feasible and lns.objective >= opt
    assert not violations(p, lns.assign)


def test_violations_catch_each_rule() -> None:
    p = BinProblem(
        demand=np.array([[4], [4]]),
        capacity=np.array([[6], [6]]),
        cost=np.array([1, 1]),
        group=np.array([0, 0]),
        allowed=np.array([[True, True], [True, False]]),
        initial=np.array([0, 0]),
        max_moves=0,
    )
    assert any("capacity" in v for v in violations(p, np.array([0, 0])))
    assert any("anti-affinity" in v for v in violations(p, np.array([0, 0])))
    assert any("not allowed" in v for v in violations(p, np.array([0, 1])))
    assert any("budget" in v for v in violations(p, np.array([1, 0])))


def test_lns_improves_greedy_and_keeps_constraints() -> None:
    rng = np.random.default_rng(3)
    n, m = 60, 25
    p = BinProblem(
        demand=rng.integers(1, 8, size=(n, 3)),
        capacity=rng.integers(10, 30, size=(m, 3)),
        cost=rng.integers(5, 50, size=m),
        group=rng.integers(-1, 6, size=n),
    )
    g = greedy(p)
    sol = solve_lns(p, 1.5, seed=1)
    assert sol.feasible and not violations(p, sol.assign)
    assert sol.objective <= objective(p, g)
    assert [v for _, v in sol.history] == sorted((v for _, v in sol.history), reverse=True)


def test_order_moves_parks_a_vm_to_break_a_swap() -> None:
    # Two full hosts swapping their VMs: neither move fits until one VM is parked.
    p = BinProblem(
        demand=np.array([[4], [4]]), capacity=np.array([[4], [4], [4]]), cost=np.array([1, 1, 1])
    )
    steps, ok = order_moves(p, np.array([0, 1]), np.array([1, 0]))
    assert ok and len(steps) == 3 and any(parking for *_, parking in steps)


def fleet() -> FleetState:
    classes = {
        "dear": HostClass("dear", price_per_hour=3.0),
        "cheap": HostClass("cheap", price_per_hour=1.0),
    }
    hosts = [Host(f"h{i}", 8, 16384, host_class="dear" if i < 3 else "cheap") for i in range(6)]
    s = FleetState(hosts, classes)
    for i in range(6):  # one small VM per host: everything could fit on two hosts
        s.place(VMSpec(f"v{i}", 2, 4096, labels={"app": "a" if i % 2 else "b"}), i)
    return s


def simulate(s: FleetState, plan_moves: list[tuple[str, str, str]]) -> dict[str, int]:
    """Replay the plan on a copy of the loads, checking transient capacity at every step."""
    loads = s.used.copy()
    where = {v: p.host for v, p in s.vms.items()}
    for vm, src, dst in plan_moves:
        d = np.asarray(s.vms[vm].demand)
        si, di = s.index[src], s.index[dst]
        assert where[vm] == si
        assert (loads[di] + d <= s.cap[di]).all(), f"{vm} does not fit on {dst} during migration"
        loads[di] += d
        loads[si] -= d
        where[vm] = di
    return where


def test_rebalance_consolidates_onto_cheap_hosts() -> None:
    s = fleet()
    before = s.used.copy()
    plan = rebalance(s, time_limit=1.0)
    assert np.array_equal(s.used, before), "planning does not change the fleet"
    assert plan.executable and plan.cost_per_hour_after < plan.cost_per_hour_before
    assert set(plan.freed_hosts) >= {"h0", "h1", "h2"}
    where = simulate(s, [(m.vm_id, m.source, m.target) for m in plan.moves])
    assert len(set(where.values())) == plan.hosts_used_after


def test_rebalance_respects_budget_and_anti_affinity() -> None:
    s = fleet()
    groups = {f"v{i}": "a" if i % 2 else "b" for i in range(6)}
    plan = rebalance(s, time_limit=1.0, max_moves=2, anti_affinity_groups=groups)
    assert plan.executable and len([m for m in plan.moves if not m.parking]) <= 2
    where = simulate(s, [(m.vm_id, m.source, m.target) for m in plan.moves])
    for g in "ab":
        hosts = [where[v] for v, gg in groups.items() if gg == g]
        assert len(hosts) == len(set(hosts))


def test_drain_empties_the_host() -> None:
    s = fleet()
    plan = rebalance(s, time_limit=1.0, drain=["h4"])
    assert plan.executable
    where = simulate(s, [(m.vm_id, m.source, m.target) for m in plan.moves])
    assert s.index["h4"] not in where.values()
