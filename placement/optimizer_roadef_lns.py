"""Large-neighbourhood steps for machine reassignment: re-solve a few machines with CP-SAT.

Shift and swap moves stall when the remaining cost needs several processes to change places
at once (a2_1 is a tight multi-dimensional packing: every machine must end under its safety
capacity, and no single move or swap gets there). Here a handful of machines is chosen, a
subset of the processes on them is freed, and CP-SAT re-assigns the freed processes among
those machines with every hard rule and every cost term that the change can touch; the rest of
the assignment stays fixed and enters as constants. The service-move term (a max over all
services) is exact too: a variable at least every touched service's count and the largest
untouched one. Pure: arrays in, moves out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from novacron.placement.optimizer_roadef import _State
from numpy.typing import NDArray
from ortools.sat.python import cp_model

I64 = NDArray[np.int64]


def reoptimise(
    st: _State, machines: I64, free: I64, time_limit: float
) -> list[tuple[int, int]] | None:
    """Best re-assignment of processes `free` (all on `machines`) among `machines`, as
    (process, machine) moves that differ from now, or None if CP-SAT found nothing better."""
    pb = st.pb
    ms = sorted({int(m) for m in machines})  # a machine listed twice would be counted twice
    fr = [int(p) for p in free]
    cur = st.assign
    req = pb.requirement
    # What stays when the free processes leave: usage, transient holds, per-service counters.
    fix_use = st.usage[ms].copy()
    fix_held = st.held[ms].copy()
    idx = {m: k for k, m in enumerate(ms)}
    on_m = st.on_machine.copy()
    in_loc = st.in_loc.copy()
    in_nbh = st.in_nbh.copy()
    moved = st.moved.copy()
    for p in fr:
        m, h, s = int(cur[p]), int(pb.initial[p]), int(pb.service[p])
        fix_use[idx[m]] -= req[p]
        if m != h:
            moved[s] -= 1
            if h in idx:
                fix_held[idx[h]] -= req[p]
        on_m[s, m] -= 1
        in_loc[s, pb.location[m]] -= 1
        in_nbh[s, pb.neighborhood[m]] -= 1
    md = cp_model.CpModel()
    x: dict[tuple[int, int], Any] = {}
    by_service: dict[int, list[int]] = {}
    for p in fr:
        s = int(pb.service[p])
        by_service.setdefault(s, []).append(p)
        row = []
        for m in ms:
            if on_m[s, m] > 0 or (req[p] > pb.capacity[m] - fix_use[idx[m]]).any():
                continue
            v = md.new_bool_var("")
            x[p, m] = v
            row.append(v)
        if not row:
            return None
        md.add_exactly_one(row)
    obj: list[Any] = []
    trans = pb.transient
    for m in ms:
        k = idx[m]
        col = [(p, x[p, m]) for p in fr if (p, m) in x]
        use = []
        for r in range(req.shape[1]):
            u = sum(int(req[p, r]) * v for p, v in col) + int(fix_use[k, r])
            if trans[r]:
                # A process whose home is m and that ends elsewhere still holds its share here.
                held = [
                    (int(req[p, r]), x.get((p, m)))
                    for p in fr
                    if int(pb.initial[p]) == m and req[p, r]
                ]
                # One expression, no `+=`: CP-SAT's `u + 0` can hand back `u` itself, and an
                # in-place add would then put the held shares into the load and balance terms.
                u_cap = u + int(fix_held[k, r]) + sum(
                    c * (1 - v) if v is not None else c for c, v in held
                )
            else:
                u_cap = u
            md.add(u_cap <= int(pb.capacity[m, r]))
            if pb.load_weight[r]:
                over = md.new_int_var(0, int(pb.capacity[m, r]), "")
                md.add(over >= u - int(pb.safety[m, r]))
                obj.append(int(pb.load_weight[r]) * over)
            use.append(u)
        for r1, r2, target, w in pb.balances:
            b = md.new_int_var(0, int(target * pb.capacity[m, r1]) + 1, "")
            avail1 = int(pb.capacity[m, r1]) - use[r1]
            avail2 = int(pb.capacity[m, r2]) - use[r2]
            md.add(b >= target * avail1 - avail2)
            obj.append(w * b)
    # Move costs of the freed processes.
    moved_terms: dict[int, list[Any]] = {}
    for p in fr:
        h = int(pb.initial[p])
        stay = x.get((p, h))
        mv: Any = 1 - stay if stay is not None else 1
        moved_terms.setdefault(int(pb.service[p]), []).append(mv)
        obj.append(pb.w_process * int(pb.process_move_cost[p]) * mv)
        if pb.w_machine:
            for m in ms:
                c = int(pb.machine_move_cost[h, m])
                if c and (p, m) in x:
                    obj.append(pb.w_machine * c * x[p, m])
    # Service-move term, exactly: the max over services of moved processes, where `moved`
    # already holds the counts without the freed processes.
    top = md.new_int_var(int(moved.max(initial=0)), len(pb.service), "")
    for s, terms in moved_terms.items():
        md.add(top >= sum(terms) + int(moved[s]))
    obj.append(pb.w_service * top)
    # Conflict among the freed processes of one service.
    for ps in by_service.values():
        if len(ps) > 1:
            for m in ms:
                vs = [x[p, m] for p in ps if (p, m) in x]
                if len(vs) > 1:
                    md.add_at_most_one(vs)
    # Spread: distinct locations of each touched service stay >= spreadMin.
    for s, ps in by_service.items():
        need = int(pb.spread_min[s])
        have = int((in_loc[s] > 0).sum())
        if need <= have:
            continue
        gain = []
        for loc in {int(pb.location[m]) for m in ms}:
            if in_loc[s, loc] > 0:
                continue
            vs = [x[p, m] for p in ps for m in ms if pb.location[m] == loc and (p, m) in x]
            if vs:
                y = md.new_bool_var("")
                md.add(y <= sum(vs))
                gain.append(y)
        if have + len(gain) < need:
            return None
        md.add(sum(gain) + have >= need)
    # Dependencies within the neighbourhoods of the chosen machines.
    nbhs = sorted({int(pb.neighborhood[m]) for m in ms})
    present: dict[tuple[int, int], Any] = {}

    def pres(s: int, n: int) -> Any:
        if in_nbh[s, n] > 0 or s not in by_service:
            return bool(in_nbh[s, n] > 0)
        key = (s, n)
        if key not in present:
            vs = [
                x[p, m] for p in by_service[s] for m in ms if pb.neighborhood[m] == n and (p, m) in x
            ]
            v = md.new_bool_var("")
            if vs:
                md.add_max_equality(v, vs)
            else:
                md.add(v == 0)
            present[key] = v
        return present[key]

    pairs = {(s, d) for s in by_service for d in pb.deps[s]}
    pairs |= {(r, d) for d in by_service for r in st.rdeps[d]}
    for s, d in pairs:
        for n in nbhs:
            a, b = pres(s, n), pres(d, n)
            if a is False or b is True:
                continue
            if a is True and b is False:
                return None
            if a is True:
                md.add(b == 1)
            elif b is False:
                md.add(a == 0)
            else:
                md.add_implication(a, b)
    for (p, m), v in x.items():
        md.add_hint(v, int(cur[p]) == m)
    md.minimize(sum(obj))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = 1
    status = solver.solve(md)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    out = []
    for p in fr:
        for m in ms:
            chosen = x.get((p, m))
            if chosen is not None and solver.boolean_value(chosen):
                if m != int(cur[p]):
                    out.append((p, m))
                break
    return out
