"""Independent references for the placement tests: a from-first-principles hard-constraint
checker and objective, written against the plain Host/VM records (scanning every VM), not
against the engine's arrays and counters."""

from __future__ import annotations

import math
from collections.abc import Mapping

from novacron.placement.state import FleetState
from novacron.placement.strategies import weights_for
from novacron.placement.types import (
    RESOURCES,
    Host,
    HostClass,
    NumaPolicy,
    PlacementRequest,
    VMSpec,
)


def capacity(h: Host, classes: Mapping[str, HostClass]) -> list[int]:
    hc = classes.get(h.host_class, HostClass())
    raw = [h.vcpus * 1000, h.memory_mib, h.net_mbps, h.disk_gib, h.iops, h.gpus * 1000]
    reserved = [hc.reserved_vcpus * 1000, hc.reserved_memory_mib, 0, 0, 0, 0]
    return [
        max(math.floor(r * hc.overcommit.get(n, 1.0) - z), 0)
        for r, n, z in zip(raw, RESOURCES, reserved, strict=True)
    ]


def domain(h: Host, key: str) -> str:
    return {"host": h.host_id, "rack": f"{h.zone}/{h.rack}", "zone": h.zone}[key]


def cells_of(h: Host) -> list[tuple[int, int]]:
    if not h.numa_cells:
        return [(math.floor(h.vcpus * 1000), math.floor(h.memory_mib))]
    return [(round(c.vcpus * 1000), round(c.memory_mib)) for c in h.numa_cells]


def usage(state: FleetState, hi: int) -> list[int]:
    tot = [0] * 6
    for p in state.vms.values():
        if p.host == hi:
            tot = [a + b for a, b in zip(tot, p.vm.demand(), strict=True)]
    return tot


def host_ok_static(state: FleetState, req: PlacementRequest, hi: int) -> bool:
    h = state.hosts[hi]
    if h.cordoned or h.maintenance:
        return False
    if state.host_classes[h.host_class].spot and not req.constraints.allow_spot:
        return False
    for t in req.constraints.host_affinity:
        if t.hard:
            inside = h.labels.get(t.label) in t.values
            if inside == (t.operator == "NotIn"):
                return False
    return True


def violations(
    state: FleetState, req: PlacementRequest, hi: int, cell: int | None = None
) -> list[str]:
    """Hard constraints `req` would break on host `hi` (and NUMA cell `cell`), given `state`."""
    vm: VMSpec = req.vm
    h = state.hosts[hi]
    out = []
    if not host_ok_static(state, req, hi):
        out.append("static")
    cap = capacity(h, state.host_classes)
    used = usage(state, hi)
    if any(u + d > c for u, d, c in zip(used, vm.demand(), cap, strict=True)):
        out.append("resources")
    d = vm.demand()
    cell_free = []
    for c, (ccpu, cmem) in enumerate(cells_of(h)):
        ucpu = umem = 0
        for p in state.vms.values():
            if p.host == hi:
                for pc, pcpu, pmem in p.cell_use:
                    if pc == c:
                        ucpu += pcpu
                        umem += pmem
        cell_free.append((ccpu - ucpu, cmem - umem))
    fitting = [c for c, (fc, fm) in enumerate(cell_free) if fc >= d[0] and fm >= d[1]]
    if vm.numa == NumaPolicy.REQUIRE:
        if not fitting:
            out.append("numa")
        elif cell is not None and cell not in fitting:
            out.append("numa-cell")
    for t in req.constraints.affinity:
        if not t.hard:
            continue
        matching = [p for p in state.vms.values() if t.selector.matches(p.vm.labels)]
        if t.topology_key == "numa":

            def in_cell(c: int, matching: list = matching) -> int:
                return sum(
                    1 for p in matching if p.host == hi and any(pc == c for pc, _, _ in p.cell_use)
                )

            ok_cells = [c for c in fitting if (in_cell(c) == 0) == t.anti]
            if not t.anti and not matching and t.selector.matches(vm.labels):
                ok_cells = fitting
            if (cell is None and not ok_cells) or (cell is not None and cell not in ok_cells):
                out.append("vm_affinity-numa")
            continue
        here = sum(
            1
            for p in matching
            if domain(state.hosts[p.host], t.topology_key) == domain(h, t.topology_key)
        )
        if t.anti and here > 0:
            out.append("anti-affinity")
        if not t.anti and here == 0 and not (not matching and t.selector.matches(vm.labels)):
            out.append("affinity")
    # Hard anti-affinity binds both ways: what each placed VM asked for (its request's terms,
    # as recorded at placement) also keeps matching newcomers out of its domain. Scans VMs.
    for vm_id, p in state.vms.items():
        for sel, key in state.declared.by_vm.get(vm_id, ()):
            if sel.matches(vm.labels) and domain(state.hosts[p.host], key) == domain(h, key):
                out.append("declared-anti-affinity")
    for t in req.constraints.spread:
        if not t.hard:
            continue
        counts: dict[str, int] = {}
        for j, hj in enumerate(state.hosts):
            if host_ok_static(state, req, j):
                counts.setdefault(domain(hj, t.topology_key), 0)
        for p in state.vms.values():
            dn = domain(state.hosts[p.host], t.topology_key)
            if t.selector.matches(p.vm.labels):
                counts[dn] = counts.get(dn, 0) + 1
        eligible = {
            domain(hj, t.topology_key)
            for j, hj in enumerate(state.hosts)
            if host_ok_static(state, req, j)
        }
        floor = min((counts[x] for x in eligible), default=0)
        mine = counts.get(domain(h, t.topology_key), 0) + int(t.selector.matches(vm.labels))
        if mine - floor > t.max_skew:
            out.append("spread")
    return out


def objective(state: FleetState, req: PlacementRequest, hi: int) -> float:
    """The allocation/cost/failure part of the objective, from the documented formulas."""
    w = weights_for(req.strategy, req.preferences)
    h = state.hosts[hi]
    cap = capacity(h, state.host_classes)
    used = usage(state, hi)
    d = req.vm.demand()
    u = [min((used[r] + d[r]) / cap[r], 1.0) if cap[r] > 0 else 1.0 for r in (0, 1)]
    price = state.host_classes[h.host_class].price_per_hour
    max_price = max(state.host_classes[x.host_class].price_per_hour for x in state.hosts)
    empty = not any(p.host == hi for p in state.vms.values())
    raw = {
        "least_allocated": 1 - (u[0] + u[1]) / 2,
        "most_allocated": (u[0] + u[1]) / 2,
        "balanced_allocation": 1 - abs(u[0] - u[1]),
        "cost": 1 - (0.9 * empty + 0.1) * price / max_price,
    }
    fails = [state.failures[j] for j in range(state.n_hosts)]
    if any(fails):
        raw["recent_failure"] = 1 / (1 + fails[hi] / 1.0)
    return sum(w.get(k, 0.0) * v for k, v in raw.items())
