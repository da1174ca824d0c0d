"""Rebalance for even load: a migration plan that brings every host under a common level.

The consolidation optimizer (optimizer_plan.rebalance) frees hosts; this one evens load,
which is what a hot spot needs. It is the ROADEF/EURO 2012 machine-reassignment model, whose
solver (optimizer_roadef: descent, CP-SAT neighbourhoods, annealing) is measured on Google's
instances: each host gets a safety capacity at the fleet's mean utilisation plus
`headroom`, per resource, and the load cost is what any host holds above it, weighted so
every resource counts alike; each move costs `move_cost`. Anti-affinity groups become
services (never two members on one host). Every resource is transient, as during live
migration the VM holds its share on both hosts: the final state then leaves room for every
move in any order, so the plan is always executable. Cordoned, in-maintenance or drained
hosts take nothing new (capacity = what they hold); VMs pinned to NUMA cells stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .optimizer_roadef import Reassignment, _State, solve
from .state import FleetState

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


@dataclass(frozen=True)
class EvenLoadPlan:
    moves: tuple[tuple[str, str, str], ...]  # (vm_id, source, target)
    max_util_before: tuple[float, ...]  # per resource, over hosts
    max_util_after: tuple[float, ...]
    cost_before: int
    cost_after: int
    explanation: str


def _max_util(used: I64, cap: I64) -> F64:
    util = used / np.maximum(cap, 1)
    return np.asarray(util.max(axis=0), dtype=np.float64)


def even_load(
    state: FleetState,
    *,
    time_limit: float = 5.0,
    headroom: float = 0.05,
    move_cost: int = 1,
    anti_affinity_groups: Mapping[str, str] | None = None,
    seed: int = 0,
) -> EvenLoadPlan:
    """Moves that bring every host to at most mean utilisation + `headroom` per resource where
    possible, trading load above that level against `move_cost` per move (both in the units
    of the load cost: one unit of the most plentiful resource's share). Does not change
    `state`. `time_limit` is CPU seconds."""
    movable = [v for v, p in state.vms.items() if not p.cell_use]
    n_m = state.n_hosts
    cap = state.cap.copy()
    pinned_use = np.zeros_like(cap)
    for p in state.vms.values():
        if p.cell_use:
            pinned_use[p.host] += np.asarray(p.demand, dtype=np.int64)
    cap -= pinned_use
    used = np.zeros_like(cap)
    req = np.array([state.vms[v].demand for v in movable], dtype=np.int64).reshape(
        len(movable), -1
    )
    initial = np.array([state.vms[v].host for v in movable], dtype=np.int64)
    np.add.at(used, initial, req)
    closed = state.cordoned | state.maintenance
    cap[closed] = used[closed]  # nothing new lands there; what is there may leave
    level = used.sum(axis=0) / np.maximum(cap.sum(axis=0), 1) + headroom
    safety = np.minimum(np.ceil(cap * level).astype(np.int64), cap)
    # Weights so one percent of a host counts the same in every resource.
    mean_cap = np.maximum(cap.mean(axis=0), 1.0)
    weight = np.maximum(np.round(mean_cap.max() / mean_cap), 1).astype(np.int64)
    weight[req.sum(axis=0) == 0] = 0
    names: dict[str, int] = {}
    service = np.array(
        [
            names.setdefault("g:" + anti_affinity_groups[v], len(names))
            if anti_affinity_groups and v in anti_affinity_groups
            else names.setdefault("v:" + v, len(names))
            for v in movable
        ],
        dtype=np.int64,
    )
    n_s = len(names)
    pb = Reassignment(
        transient=np.ones(cap.shape[1], dtype=bool),
        load_weight=weight,
        neighborhood=np.zeros(n_m, dtype=np.int64),
        location=np.zeros(n_m, dtype=np.int64),
        capacity=cap,
        safety=safety,
        machine_move_cost=np.zeros((n_m, n_m), dtype=np.int64),
        spread_min=np.zeros(n_s, dtype=np.int64),
        deps=[[] for _ in range(n_s)],
        service=service,
        requirement=req,
        process_move_cost=np.ones(len(movable), dtype=np.int64),
        balances=[],
        w_process=int(move_cost) * int(weight.max(initial=1)),
        w_service=0,
        w_machine=0,
        initial=initial,
    )
    before = _State(pb, initial).total()
    res = solve(pb, time_limit, seed=seed) if movable else None
    final = res.assign if res is not None else initial
    after = _State(pb, final).total()
    ids = state.host_ids
    moves = tuple(
        (movable[i], ids[int(initial[i])], ids[int(final[i])])
        for i in np.flatnonzero(final != initial)
    )
    used_after = np.zeros_like(cap)
    np.add.at(used_after, final, req)
    full = state.cap
    mu_b = _max_util(used + pinned_use, full)
    mu_a = _max_util(used_after + pinned_use, full)
    text = (
        f"{len(moves)} moves; busiest host CPU {mu_b[0]:.0%} -> {mu_a[0]:.0%}, memory "
        f"{mu_b[1]:.0%} -> {mu_a[1]:.0%} (level: mean + {headroom:.0%}); load cost above the "
        f"level plus moves {before} -> {after}"
    )
    return EvenLoadPlan(
        moves,
        tuple(float(x) for x in mu_b),
        tuple(float(x) for x in mu_a),
        before,
        after,
        text,
    )
