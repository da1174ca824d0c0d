"""Rebalancing/consolidation optimizer: large-neighbourhood search over CP-SAT sub-problems.

The problem is a multi-resource assignment: items (VMs) with demand vectors go to bins
(hosts) with capacities; a bin that holds anything costs its price; items of one
anti-affinity group never share a bin; an item may be limited to allowed bins (labels,
cordons, a host being drained); moving an item away from its current bin costs
`move_weight`, and at most `max_moves` items may move.

A greedy pass gives a first feasible answer; then each LNS step frees every item on a few
bins (chosen to be expensive for what they hold), adds a few empty bins and a few open bins
with slack, and lets CP-SAT re-solve that sub-problem exactly under a short time limit,
hinted with the current answer, so a step never makes the objective worse.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

I64 = NDArray[np.int64]


@dataclass(frozen=True)
class BinProblem:
    demand: I64  # (items, resources)
    capacity: I64  # (bins, resources)
    cost: I64  # (bins,) paid once per bin that holds at least one item
    group: I64 | None = None  # (items,) anti-affinity group id, -1 for none
    allowed: NDArray[np.bool_] | None = None  # (items, bins)
    initial: I64 | None = None  # (items,) current bin, -1 if unplaced
    move_weight: int = 0
    max_moves: int | None = None

    @property
    def n_items(self) -> int:
        return int(self.demand.shape[0])

    @property
    def n_bins(self) -> int:
        return int(self.capacity.shape[0])


@dataclass
class Solution:
    assign: I64
    objective: int
    feasible: bool
    history: list[tuple[float, int]] = field(default_factory=list)  # (seconds, objective)
    steps: int = 0
    improved_steps: int = 0


def load(problem: BinProblem, assign: I64) -> I64:
    out = np.zeros_like(problem.capacity)
    ok = assign >= 0
    np.add.at(out, assign[ok], problem.demand[ok])
    return out


def moves(problem: BinProblem, assign: I64) -> int:
    if problem.initial is None:
        return 0
    return int(((assign != problem.initial) & (problem.initial >= 0)).sum())


def objective(problem: BinProblem, assign: I64) -> int:
    used = np.zeros(problem.n_bins, dtype=bool)
    used[assign[assign >= 0]] = True
    return int(problem.cost[used].sum()) + problem.move_weight * moves(problem, assign)


def violations(problem: BinProblem, assign: I64) -> list[str]:
    """Every broken hard constraint, checked from scratch (used by tests and benchmarks)."""
    out = []
    if (assign < 0).any() or (assign >= problem.n_bins).any():
        out.append(f"{int(((assign < 0) | (assign >= problem.n_bins)).sum())} items unassigned")
        return out
    over = load(problem, assign) > problem.capacity
    if over.any():
        out.append(f"capacity exceeded on {int(over.any(axis=1).sum())} bins")
    if problem.group is not None:
        g = problem.group
        pairs = {(int(a), int(b)) for a, b in zip(g, assign, strict=True) if a >= 0}
        if len(pairs) != int((g >= 0).sum()):
            out.append("anti-affinity group shares a bin")
    if (
        problem.allowed is not None
        and not problem.allowed[np.arange(problem.n_items), assign].all()
    ):
        out.append("item on a bin it is not allowed on")
    if problem.max_moves is not None and moves(problem, assign) > problem.max_moves:
        out.append(f"{moves(problem, assign)} moves exceed the budget of {problem.max_moves}")
    return out


def greedy(problem: BinProblem) -> I64:
    """Best-fit decreasing into bins opened cheapest-per-capacity first; keeps `initial`
    placements that are still valid when there is a current assignment."""
    cap = problem.capacity.astype(np.float64)
    scale = np.maximum(cap.max(axis=0), 1.0)
    size = (problem.demand / scale).sum(axis=1)
    eff = problem.cost / np.maximum((cap / scale).sum(axis=1), 1e-9)
    bin_order = np.argsort(eff, kind="stable")
    rank = np.empty(problem.n_bins, dtype=np.int64)
    rank[bin_order] = np.arange(problem.n_bins)
    assign = np.full(problem.n_items, -1, dtype=np.int64)
    free = problem.capacity.copy()
    opened = np.zeros(problem.n_bins, dtype=bool)
    taken: set[tuple[int, int]] = set()
    if problem.initial is not None:
        for i in range(problem.n_items):
            b = int(problem.initial[i])
            if b >= 0 and _can(problem, i, b, free, taken):
                _put(problem, i, b, assign, free, taken)
                opened[b] = True
    for i_ in np.argsort(-size, kind="stable"):
        i = int(i_)
        if assign[i] >= 0:
            continue
        fits = (free >= problem.demand[i]).all(axis=1)
        if problem.allowed is not None:
            fits &= problem.allowed[i]
        if problem.group is not None and problem.group[i] >= 0:
            g = int(problem.group[i])
            for bb in np.flatnonzero(fits):
                if (g, int(bb)) in taken:
                    fits[bb] = False
        cand = np.flatnonzero(fits & opened)
        if cand.size:  # best fit among open bins: least normalised slack left
            slack = ((free[cand] - problem.demand[i]) / scale).sum(axis=1)
            b = int(cand[np.argmin(slack)])
        else:
            cand = np.flatnonzero(fits)
            if not cand.size:
                continue  # left unassigned: infeasible, reported by violations()
            b = int(cand[np.argmin(rank[cand])])
            opened[b] = True
        _put(problem, i, b, assign, free, taken)
    return assign


def _can(problem: BinProblem, i: int, b: int, free: I64, taken: set[tuple[int, int]]) -> bool:
    if not (free[b] >= problem.demand[i]).all():
        return False
    if problem.allowed is not None and not problem.allowed[i, b]:
        return False
    return not (problem.group is not None and (int(problem.group[i]), b) in taken)


def _put(
    problem: BinProblem, i: int, b: int, assign: I64, free: I64, taken: set[tuple[int, int]]
) -> None:
    assign[i] = b
    free[b] -= problem.demand[i]
    if problem.group is not None and problem.group[i] >= 0:
        taken.add((int(problem.group[i]), b))


def fast_moves(problem: BinProblem, assign: I64) -> I64:
    """Cheap vectorised moves, repeated until none helps: (1) move a bin's whole content to a
    cheaper empty bin that holds it; (2) empty a bin into the slack of other open bins
    (best fit, largest item first). Used only without a move budget, where every move is
    free and only host-hours count."""
    if problem.initial is not None and (problem.max_moves is not None or problem.move_weight):
        return assign
    assign = assign.copy()
    scale = np.maximum(problem.capacity.max(axis=0), 1).astype(np.float64)
    changed = True
    while changed:
        changed = False
        ld = load(problem, assign)
        used = np.zeros(problem.n_bins, dtype=bool)
        used[assign] = True
        fill = (ld / scale).sum(axis=1) + 1e-9
        for b in np.argsort(-(problem.cost / fill) * used):
            b = int(b)
            if not used[b]:
                continue
            items = np.flatnonzero(assign == b)
            # (1) a cheaper empty bin big enough for everything on b
            ok = ~used & (problem.capacity >= ld[b]).all(axis=1) & (problem.cost < problem.cost[b])
            if problem.allowed is not None:
                ok &= problem.allowed[items].all(axis=0)
            if ok.any():
                c = int(np.flatnonzero(ok)[np.argmin(problem.cost[ok])])
                assign[items] = c
                ld[c], ld[b] = ld[b], 0
                used[c], used[b] = True, False
                changed = True
                continue
            # (2) spread b's items over the other open bins
            free = problem.capacity - ld
            trial = {}
            taken = set()
            if problem.group is not None:
                taken = {
                    (int(problem.group[i]), int(assign[i]))
                    for i in np.flatnonzero(problem.group >= 0)
                }
            for i_ in items[np.argsort(-(problem.demand[items] / scale).sum(axis=1))]:
                i = int(i_)
                fits = used & (free >= problem.demand[i]).all(axis=1)
                fits[b] = False
                if problem.allowed is not None:
                    fits &= problem.allowed[i]
                if problem.group is not None and problem.group[i] >= 0:
                    for cc in np.flatnonzero(fits):
                        if (int(problem.group[i]), int(cc)) in taken:
                            fits[cc] = False
                if not fits.any():
                    break
                cand = np.flatnonzero(fits)
                c = int(cand[np.argmin(((free[cand] - problem.demand[i]) / scale).sum(axis=1))])
                free[c] -= problem.demand[i]
                trial[i] = c
                if problem.group is not None and problem.group[i] >= 0:
                    taken.add((int(problem.group[i]), c))
            else:
                for i, c in trial.items():
                    assign[i] = c
                ld = problem.capacity - free
                ld[b] = 0
                used[b] = False
                changed = True
    return assign


def solve_exact(
    problem: BinProblem, time_limit: float, hint: I64 | None = None, workers: int = 1
) -> Solution:
    """The whole problem as one CP-SAT model (small instances, and the LNS sub-problems)."""
    bins = np.arange(problem.n_bins)
    items = np.arange(problem.n_items)
    fixed_load = np.zeros_like(problem.capacity)
    res = _solve_sub(
        problem,
        items,
        bins,
        fixed_load,
        np.zeros(problem.n_bins, dtype=bool),
        0,
        set(),
        hint,
        time_limit,
        workers,
    )
    if res is None:
        assign = hint if hint is not None else np.full(problem.n_items, -1, dtype=np.int64)
        return Solution(assign.copy(), objective(problem, assign), not violations(problem, assign))
    assign = np.full(problem.n_items, -1, dtype=np.int64)
    assign[items] = res
    return Solution(assign, objective(problem, assign), not violations(problem, assign))


def _solve_sub(
    problem: BinProblem,
    items: NDArray[np.int64],
    bins: NDArray[np.int64],
    fixed_load: I64,
    paid: NDArray[np.bool_],
    fixed_moves: int,
    fixed_groups: set[tuple[int, int]],
    hint: I64 | None,
    time_limit: float,
    workers: int,
    improve_only: bool = False,
) -> NDArray[np.int64] | None:
    """Re-assign `items` among `bins`; bins already open for other items (`paid`) cost nothing
    more; `fixed_load` is what stays on each bin. Returns the bins chosen, or None."""
    m = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    col: dict[int, list[tuple[int, cp_model.IntVar]]] = {int(b): [] for b in bins}
    for i_ in items:
        i = int(i_)
        row = []
        for b in bins:
            b = int(b)
            if problem.allowed is not None and not problem.allowed[i, b]:
                continue
            if (problem.demand[i] > problem.capacity[b] - fixed_load[b]).any():
                continue
            if problem.group is not None and (int(problem.group[i]), b) in fixed_groups:
                continue
            v = m.new_bool_var("")
            x[i, b] = v
            row.append(v)
            col[b].append((i, v))
        if not row:
            return None
        m.add_exactly_one(row)
    obj = []
    for b in bins:
        b = int(b)
        if not col[b]:
            continue
        free = problem.capacity[b] - fixed_load[b]
        if paid[b]:
            y = None
        else:
            y = m.new_bool_var("")
            obj.append(int(problem.cost[b]) * y)
        for r in range(problem.capacity.shape[1]):
            terms = [(int(problem.demand[i, r]), v) for i, v in col[b] if problem.demand[i, r]]
            if not terms:
                continue
            lhs = sum(c * v for c, v in terms)
            m.add(lhs <= int(free[r]) * y if y is not None else lhs <= int(free[r]))
        if y is not None:
            for _, v in col[b]:
                m.add_implication(v, y)
        if problem.group is not None:
            by_group: dict[int, list[cp_model.IntVar]] = {}
            for i, v in col[b]:
                g = int(problem.group[i])
                if g >= 0:
                    by_group.setdefault(g, []).append(v)
            for vs in by_group.values():
                if len(vs) > 1:
                    m.add_at_most_one(vs)
    if problem.initial is not None:
        moved: list[Any] = []
        for i_ in items:
            i = int(i_)
            home = int(problem.initial[i])
            if home < 0:
                continue
            stay = x.get((i, home))
            moved.append(1 - stay if stay is not None else 1)
        if problem.move_weight:
            obj.append(problem.move_weight * sum(moved))
        if problem.max_moves is not None:
            m.add(sum(moved) <= problem.max_moves - fixed_moves)
    m.minimize(sum(obj))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = workers
    solver.parameters.cp_model_presolve = False
    if hint is not None:
        for (i, b), v in x.items():
            m.add_hint(v, int(hint[i] == b))
        if improve_only:
            # Ask only for a strictly better sub-assignment and take the first one found:
            # many quick steps beat a few steps spent proving optimality.
            m.add(sum(obj) <= _sub_value(problem, items, bins, paid, hint) - 1)
            solver.parameters.stop_after_first_solution = True
    st = solver.solve(m)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    out = np.empty(items.size, dtype=np.int64)
    for k, i_ in enumerate(items):
        i = int(i_)
        for b in bins:
            got = x.get((i, int(b)))
            if got is not None and solver.boolean_value(got):
                out[k] = int(b)
                break
    return out


def _sub_value(
    problem: BinProblem,
    items: NDArray[np.int64],
    bins: NDArray[np.int64],
    paid: NDArray[np.bool_],
    hint: I64,
) -> int:
    """The sub-problem objective of the current assignment (the value to beat)."""
    chosen = np.unique(hint[items])
    val = int(problem.cost[[int(b) for b in chosen if not paid[b]]].sum())
    if problem.initial is not None and problem.move_weight:
        home = problem.initial[items]
        val += problem.move_weight * int(((hint[items] != home) & (home >= 0)).sum())
    return val


def solve_lns(
    problem: BinProblem,
    time_limit: float,
    seed: int = 0,
    start: I64 | None = None,
    sub_time: float = 0.12,
    target: int | None = None,
    improve_only: bool = True,
    max_stall: int = 300,
) -> Solution:
    """Greedy start, then LNS steps until `time_limit` seconds (or `target` reached)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    assign = (start if start is not None else greedy(problem)).copy()
    if violations(problem, assign):
        # Let CP-SAT find a first feasible answer (small and medium instances).
        exact = solve_exact(problem, max(time_limit / 2, 1.0), hint=None)
        if exact.feasible:
            assign = exact.assign
    sol = Solution(assign, objective(problem, assign), not violations(problem, assign))
    if not sol.feasible:
        return sol
    assign = fast_moves(problem, assign)
    best = objective(problem, assign)
    sol.history.append((time.perf_counter() - t0, best))
    n_bins = problem.n_bins
    scale = np.maximum(problem.capacity.max(axis=0), 1).astype(np.float64)
    k_used = 6
    stall = 0
    while time.perf_counter() - t0 < time_limit and (target is None or best > target):
        if stall >= max_stall and n_bins <= 16:
            break  # the neighbourhoods already cover a small fleet: more steps cannot help
        stall += 1
        ld = load(problem, assign)
        used = (ld > 0).any(axis=1) | np.isin(np.arange(n_bins), assign)
        used_idx = np.flatnonzero(used)
        free_idx = np.flatnonzero(~used)
        if used_idx.size == 0:
            break
        # Expensive for what they hold: cost per unit of normalised load, sampled by weight.
        fill = (ld[used_idx] / scale).sum(axis=1) + 1e-9
        w = problem.cost[used_idx] / fill + 1e-9
        if rng.random() < 0.5:  # half the steps: uniform, so every bin gets revisited
            w = np.ones(used_idx.size)
        k = min(int(rng.integers(max(k_used // 2, 2), k_used + 2)), used_idx.size)
        pick = rng.choice(used_idx, size=k, replace=False, p=w / w.sum())
        extra_free = np.empty(0, dtype=np.int64)
        if free_idx.size:
            cap_n = (problem.capacity[free_idx] / scale).sum(axis=1)
            wf = cap_n / np.maximum(problem.cost[free_idx], 1)
            kf = min(int(rng.integers(0, 9)), free_idx.size)
            if kf:
                extra_free = rng.choice(free_idx, size=kf, replace=False, p=wf / wf.sum())
        rest = np.setdiff1d(used_idx, pick)
        extra_open = np.empty(0, dtype=np.int64)
        if rest.size:
            slack = ((problem.capacity[rest] - ld[rest]) / scale).min(axis=1)
            ko = min(int(rng.integers(3, 12)), rest.size)
            top = rest[np.argsort(-slack)[: ko * 3]]
            extra_open = rng.choice(top, size=min(ko, top.size), replace=False)
        bins = np.unique(np.concatenate([pick, extra_free, extra_open]))
        items = np.flatnonzero(np.isin(assign, pick))
        stay = np.ones(problem.n_items, dtype=bool)
        stay[items] = False
        fixed_load = load(problem, np.where(stay, assign, -1))
        paid = np.zeros(n_bins, dtype=bool)
        paid[extra_open] = True
        fixed_groups: set[tuple[int, int]] = set()
        if problem.group is not None:
            g = problem.group
            fixed_groups = {(int(g[i]), int(assign[i])) for i in np.flatnonzero(stay & (g >= 0))}
        fixed_moves = 0
        if problem.initial is not None:
            fixed_moves = int(((assign != problem.initial) & stay & (problem.initial >= 0)).sum())
        res = _solve_sub(
            problem,
            items,
            bins,
            fixed_load,
            paid,
            fixed_moves,
            fixed_groups,
            assign,
            # Never run past the caller's limit: the last step gets what is left.
            max(min(sub_time, time_limit - (time.perf_counter() - t0)), 0.01),
            1,
            improve_only,
        )
        sol.steps += 1
        if res is not None:
            cand = assign.copy()
            cand[items] = res
            val = objective(problem, cand)
            improved = val < best
            if val <= best:  # accept sideways moves too: they diversify the search
                if improved:
                    stall = 0
                    sol.improved_steps += 1
                    sol.history.append((time.perf_counter() - t0, val))
                assign, best = cand, val
            if not improved:  # widen the neighbourhood while it stalls, then start small again
                k_used = k_used + 1 if k_used < 14 else 4
    sol.assign, sol.objective = assign, best
    sol.feasible = not violations(problem, assign)
    return sol
