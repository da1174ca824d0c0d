"""The placement engine on the fleet as the database holds it: hosts and their VMs become a
``FleetState``; the pure engine decides; this module turns the decision into JSON."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from novacron.api.schemas import PlacementIn
from novacron.placement.engine import Scheduler
from novacron.placement.state import FleetState
from novacron.placement.types import (
    AffinityTerm,
    Constraints,
    Host,
    HostAffinityTerm,
    HostClass,
    LabelSelector,
    NumaCell,
    PlacementDecision,
    PlacementRequest,
    ScorerContribution,
    StatusCode,
    TopologyKey,
    TopologySpreadTerm,
    VMSpec,
)
from novacron.store import fleet, repository
from sqlalchemy.orm import Session

from novacron.inventory import MAX_OVERCOMMIT

log = logging.getLogger(__name__)

# VMs in these states hold no capacity ("vanished": the reconciler found it on no host).
FREE_STATES = frozenset({"deleted", "failed", "vanished"})


def fleet_state(session: Session) -> FleetState:
    host_rows, vm_rows = fleet.placement_rows(session, sorted(FREE_STATES))
    facts = repository.host_facts(session)
    classes: dict[str, HostClass] = {}
    hosts = [
        Host(host_id=hid, vcpus=vcpus, memory_mib=mem,
             rack=str(labels.get("rack", "rack-0")), zone=str(labels.get("zone", "zone-0")),
             labels={str(k): str(v) for k, v in labels.items()}, cordoned=state != "up",
             **_from_facts(hid, facts.get(hid, {}), classes))
        for hid, vcpus, mem, labels, state in host_rows
    ]
    state = FleetState(hosts, classes)
    placed = [r for r in vm_rows if r[1] in state.index and not r[5]]
    state.place_many([vm_spec(vm_id, vcpus, mem, labels) for vm_id, _, vcpus, mem, labels, _ in placed],
                     [state.index[r[1]] for r in placed])
    # VMs that declared hard anti-affinity go one by one, so their terms bind again.
    for vm_id, host_id, vcpus, mem, labels, anti in vm_rows:
        if anti and host_id in state.index:
            state.place(vm_spec(vm_id, vcpus, mem, labels), state.index[host_id], anti=anti_keys(anti))
    return state


def _number(doc: Mapping[str, Any], key: str) -> float | None:
    v = doc.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 else None


def _from_facts(host_id: str, doc: Mapping[str, Any], classes: dict[str, HostClass]) -> dict[str, Any]:
    """Host fields from its facts (hosts.facts): NUMA cells, network, disk and IOPS capacity,
    and its host class. A class per distinct (price, CPU and memory overcommit): a fleet has a
    few offers, not one per host, and each class is checked once. A value that does not make
    sense is left out (placement's default) with a warning, rather than stopping every
    placement on one bad row."""
    out: dict[str, Any] = {}
    cells = doc.get("numa")
    if isinstance(cells, list) and cells:
        try:
            parsed = tuple(NumaCell(float(c["cpus"]), float(c["memory_mib"])) for c in cells)
        except (TypeError, KeyError, ValueError):
            log.warning("host %s: facts.numa %r is not a list of {cpus, memory_mib}; ignored",
                        host_id, cells)
        else:
            if all(c.vcpus > 0 and c.memory_mib > 0 for c in parsed):
                out["numa_cells"] = parsed
    for key in ("net_mbps", "disk_gib", "iops"):
        if (v := _number(doc, key)) is not None:
            out[key] = v
    price = _number(doc, "price_per_hour")
    given = doc.get("overcommit")
    oc: Mapping[str, Any] = given if isinstance(given, dict) else {}
    ratios: dict[str, float] = {}
    for r in ("cpu", "memory"):
        v = _number(oc, r)
        if v is not None and 0 < v <= MAX_OVERCOMMIT:
            ratios[r] = v
        elif r in oc:
            log.warning("host %s: facts.overcommit.%s %r not in (0, %g]; 1.0 is used", host_id,
                        r, oc[r], MAX_OVERCOMMIT)
    if price is None and all(v == 1.0 for v in ratios.values()):
        return out  # the default class: price 1.0, no overcommit
    p, c, m = price if price is not None else 1.0, ratios.get("cpu", 1.0), ratios.get("memory", 1.0)
    name = f"price={p:g},cpu={c:g},memory={m:g}"
    if name not in classes:
        classes[name] = HostClass(name, {"cpu": c, "memory": m}, price_per_hour=p)
    out["host_class"] = name
    return out


def reload_hosts(session: Session, state: FleetState, host_ids: set[str]) -> None:
    """Bring the VMs on ``host_ids`` in ``state`` back in line with the database. Only the
    difference is applied: usually another process added a few VMs to a host that holds
    dozens, and removing and placing them all again cost more than the placement itself."""
    idx = {state.index[h] for h in host_ids if h in state.index}
    _, rows = fleet.placement_rows(session, sorted(FREE_STATES), on_hosts=sorted(host_ids))
    stored = {vm_id: (state.index[host_id], vm_spec(vm_id, vcpus, mem, labels))
              for vm_id, host_id, vcpus, mem, labels, _ in rows if host_id in state.index}
    declared = {r[0]: anti_keys(r[5]) for r in rows if r[5]}  # a VM's terms never change
    for vm_id in [v for v, p in state.vms.items() if p.host in idx]:
        p = state.vms[vm_id]
        if stored.get(vm_id) == (p.host, p.vm):
            del stored[vm_id]  # unchanged
        else:
            state.remove(vm_id)  # gone, moved or changed
    for vm_id, (host, spec) in stored.items():
        if vm_id in state.vms:  # moved here from a host not reloaded: cannot be, but be exact
            state.remove(vm_id)
        state.place(spec, host, anti=declared.get(vm_id, ()))


def refusals(state: FleetState, request: Mapping[str, Any], host_id: str) -> list[str]:
    """Why ``host_id`` cannot take the VM of a stored placement request (its JSON): every hard
    filter that rejects it, in words; empty when it fits. For an operator's override, which
    names the host: it must not break a hard constraint either."""
    # A parked request may carry the v1 create's own keys (start, tags): keep the placement's.
    body = PlacementIn.model_validate({k: v for k, v in request.items() if k in PlacementIn.model_fields})
    req = to_request(body, str(request["vm"]["vm_id"]))
    sched = Scheduler(state)
    idx = state.index[host_id]
    return [f"{f.name}: {res.reason}" for f, res in sched.run_filters(sched.context(req))
            if int(res.codes[idx]) != int(StatusCode.SUCCESS)]


def declared_anti_affinity(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The terms of a placement request (its JSON) that bind VMs placed after it, as stored
    on the VM: hard anti-affinity on host, rack or zone (as ``symmetric.mirrored``)."""
    return [{"labels": dict(t["labels"]), "topology_key": t["topology_key"]}
            for t in request.get("anti_affinity") or []
            if t.get("hard", True) and t.get("topology_key", "host") != TopologyKey.NUMA.value]


def anti_keys(stored: Sequence[Mapping[str, Any]]) -> tuple[tuple[LabelSelector, str], ...]:
    """Stored terms back into what ``FleetState.place`` keeps."""
    return tuple((LabelSelector.of(t["labels"]), str(TopologyKey(t["topology_key"]))) for t in stored)


def vm_spec(vm_id: str, vcpus: int, memory_mib: int, labels: Mapping[str, object]) -> VMSpec:
    """A VM as the fleet state holds it: its stored (whole) vCPUs and MiB and its labels."""
    return VMSpec(vm_id, vcpus, memory_mib, labels={str(k): str(x) for k, x in labels.items()})


def to_request(body: PlacementIn, vm_id: str) -> PlacementRequest:
    v = body.vm
    aff = tuple(
        AffinityTerm(LabelSelector.of(t.labels), t.topology_key, anti=anti, hard=t.hard, weight=t.weight)
        for anti, terms in ((False, body.affinity), (True, body.anti_affinity)) for t in terms
    )
    constraints = Constraints(
        affinity=aff,
        host_affinity=tuple(HostAffinityTerm(t.label, frozenset(t.values), t.operator, t.hard, t.weight)
                            for t in body.host_affinity),
        spread=tuple(TopologySpreadTerm(LabelSelector.of(t.labels), t.topology_key, t.max_skew, t.hard,
                                        t.weight) for t in body.spread),
        allow_spot=body.allow_spot,
    )
    spec = VMSpec(vm_id, v.vcpus, v.memory_mib, v.net_mbps, v.disk_gib, v.iops, dict(v.labels), v.numa,
                  v.gpus)
    return PlacementRequest(spec, constraints, strategy=body.strategy)


def _breakdown(parts: tuple[ScorerContribution, ...]) -> list[dict[str, Any]]:
    return [{"scorer": p.scorer, "raw": p.raw, "weight": p.weight, "contribution": p.contribution}
            for p in parts]


def decide(state: FleetState, body: PlacementIn, vm_id: str) -> PlacementDecision:
    return Scheduler(state).decide(to_request(body, vm_id), commit=False)


def alternatives(d: PlacementDecision) -> list[dict[str, Any]]:
    return [{"host": a.node, "score": a.score, "why_lost": a.why_lost,
             "breakdown": _breakdown(a.breakdown)} for a in d.alternatives]


def detail(d: PlacementDecision) -> dict[str, Any]:
    return {
        "engine_status": d.status.value,
        "breakdown": _breakdown(d.breakdown),
        "why_pending": d.why_pending.as_dict() if d.why_pending else None,
        "feasible_hosts": d.feasible_hosts,
        "trace": [{"filter": f, "removed": n} for f, n in d.trace],
        "numa_cells": list(d.numa_cells),
    }
