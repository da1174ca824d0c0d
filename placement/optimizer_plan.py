"""From the fleet's current assignment to an ordered, executable migration plan.

`rebalance` builds a `BinProblem` from the fleet (host-hour prices as bin costs, current
hosts as the initial assignment, a price per move and a move budget), lets the LNS optimizer
find a cheaper assignment, then orders the moves so that each one is executable when it
runs: during a live migration the VM holds resources on both hosts, so a move may start only
when its target has room while the source still holds the VM. Cycles (A waits for B's room
and B for A's) are broken by parking one VM on a host with room, an extra move that the plan
shows. VMs pinned to NUMA cells stay where they are (their cell choice is the engine's job at
placement time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .optimizer import BinProblem, objective, solve_lns, violations
from .state import FleetState

I64 = NDArray[np.int64]


@dataclass(frozen=True)
class Move:
    vm_id: str
    source: str
    target: str
    parking: bool = False  # a temporary hop that breaks a cycle of waiting moves


@dataclass(frozen=True)
class MigrationPlan:
    moves: tuple[Move, ...]
    freed_hosts: tuple[str, ...]
    hosts_used_before: int
    hosts_used_after: int
    cost_per_hour_before: float
    cost_per_hour_after: float
    executable: bool  # every move fits transiently, in this order
    explanation: str


def fleet_problem(
    state: FleetState,
    *,
    max_moves: int | None = None,
    move_cost: float = 0.01,
    drain: Sequence[str] = (),
    anti_affinity_groups: Mapping[str, str] | None = None,
) -> tuple[BinProblem, list[str]]:
    """The fleet as a bin problem; costs in 1/100 of the price unit so they are integers."""
    vm_ids = list(state.vms)
    n, m = len(vm_ids), state.n_hosts
    demand = np.array([state.vms[v].demand for v in vm_ids], dtype=np.int64).reshape(n, -1)
    initial = np.array([state.vms[v].host for v in vm_ids], dtype=np.int64)
    allowed = np.ones((n, m), dtype=bool)
    blocked = state.cordoned | state.maintenance
    for h in drain:
        blocked = blocked.copy()
        blocked[state.index[h]] = True
    allowed[:, blocked] = False
    # A VM may stay on a cordoned host (cordon stops new arrivals), but not on a drained one.
    drained = {state.index[h] for h in drain}
    for i, v in enumerate(vm_ids):
        p = state.vms[v]
        if p.host not in drained:
            allowed[i, p.host] = True
        if p.cell_use:
            allowed[i] = False
            allowed[i, p.host] = True
    group = None
    if anti_affinity_groups:
        names: dict[str, int] = {}
        group = np.array(
            [
                names.setdefault(anti_affinity_groups[v], len(names))
                if v in anti_affinity_groups
                else -1
                for v in vm_ids
            ],
            dtype=np.int64,
        )
    problem = BinProblem(
        demand=demand,
        capacity=state.cap.copy(),
        cost=np.round(state.price * 100).astype(np.int64),
        group=group,
        allowed=allowed,
        initial=initial,
        move_weight=max(round(move_cost * 100), 0),
        max_moves=max_moves,
    )
    return problem, vm_ids


def order_moves(
    problem: BinProblem, start: I64, final: I64
) -> tuple[list[tuple[int, int, int, bool]], bool]:
    """Order the moves start -> final so each fits while the VM still occupies its source.
    Returns (moves as (item, source, target, parking), executable)."""
    loads = np.zeros_like(problem.capacity)
    np.add.at(loads, start, problem.demand)
    pending = {int(i): int(final[i]) for i in np.flatnonzero(start != final)}
    where = start.copy()
    out: list[tuple[int, int, int, bool]] = []

    def fits(i: int, b: int) -> bool:
        if not (loads[b] + problem.demand[i] <= problem.capacity[b]).all():
            return False
        if problem.group is not None and problem.group[i] >= 0:
            same = (problem.group == problem.group[i]) & (where == b)
            same[i] = False
            if same.any():
                return False
        return True

    def go(i: int, b: int, parking: bool) -> None:
        out.append((i, int(where[i]), b, parking))
        loads[where[i]] -= problem.demand[i]
        loads[b] += problem.demand[i]
        where[i] = b

    while pending:
        progressed = False
        for i, b in list(pending.items()):
            if fits(i, b):
                go(i, b, False)
                del pending[i]
                progressed = True
        if progressed:
            continue
        # Every pending move waits on another: park the smallest VM somewhere with room.
        i = min(pending, key=lambda k: int(problem.demand[k].sum()))
        ok = [
            b
            for b in range(problem.n_bins)
            if b != where[i] and (problem.allowed is None or problem.allowed[i, b]) and fits(i, b)
        ]
        if not ok:
            return out, False
        go(i, ok[0], True)
    return out, True


def rebalance(
    state: FleetState,
    *,
    time_limit: float = 5.0,
    max_moves: int | None = None,
    move_cost: float = 0.01,
    drain: Sequence[str] = (),
    anti_affinity_groups: Mapping[str, str] | None = None,
    seed: int = 0,
) -> MigrationPlan:
    """A consolidation plan: fewer/cheaper hosts in use, within the move budget, every hard
    constraint kept, moves ordered to be executable. Does not change `state`."""
    problem, vm_ids = fleet_problem(
        state,
        max_moves=max_moves,
        move_cost=move_cost,
        drain=drain,
        anti_affinity_groups=anti_affinity_groups,
    )
    start = problem.initial if problem.initial is not None else np.zeros(0, dtype=np.int64)
    if drain:
        # The current assignment breaks the drain; the optimizer's greedy start repairs it.
        sol = solve_lns(problem, time_limit, seed=seed)
    else:
        sol = solve_lns(problem, time_limit, seed=seed, start=start)
    if not sol.feasible:
        bad = "; ".join(violations(problem, sol.assign))
        return MigrationPlan((), (), 0, 0, 0.0, 0.0, False, f"no feasible plan: {bad}")
    steps, executable = order_moves(problem, start, sol.assign)
    ids = state.host_ids
    moves = tuple(Move(vm_ids[i], ids[s], ids[t], p) for i, s, t, p in steps)
    before = set(start.tolist())
    after = set(sol.assign.tolist())
    freed = tuple(ids[h] for h in sorted(before - after))
    price_before = float(state.price[sorted(before)].sum()) if before else 0.0
    price_after = float(state.price[sorted(after)].sum()) if after else 0.0
    text = (
        f"{len(moves)} moves ({sum(mv.parking for mv in moves)} parking hops) free "
        f"{len(freed)} hosts: {len(before)} -> {len(after)} hosts in use, host-hour cost "
        f"{price_before:.2f} -> {price_after:.2f}; objective {objective(problem, start)} -> "
        f"{sol.objective}" + ("" if executable else "; NOT executable in any order found")
    )
    return MigrationPlan(
        moves, freed, len(before), len(after), price_before, price_after, executable, text
    )
