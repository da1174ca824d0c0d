"""The placement engine on the fleet as the database holds it: hosts and their VMs become a
``FleetState``; the pure engine decides; this module turns the decision into JSON."""

from __future__ import annotations

from typing import Any

from novacron.api.schemas import PlacementIn
from novacron.placement.engine import Scheduler
from novacron.placement.state import FleetState
from novacron.placement.types import (
    AffinityTerm,
    Constraints,
    Host,
    HostAffinityTerm,
    LabelSelector,
    PlacementDecision,
    PlacementRequest,
    ScorerContribution,
    TopologySpreadTerm,
    VMSpec,
)
from novacron.store import fleet
from sqlalchemy.orm import Session

# VMs in these states hold no capacity.
FREE_STATES = frozenset({"deleted", "failed"})


def fleet_state(session: Session) -> FleetState:
    rows = fleet.hosts(session)
    hosts = [
        Host(host_id=h.host_id, vcpus=h.vcpus, memory_mib=h.memory_mib,
             rack=str(h.labels.get("rack", "rack-0")), zone=str(h.labels.get("zone", "zone-0")),
             labels={str(k): str(v) for k, v in h.labels.items()},
             cordoned=h.state != "up")
        for h in rows
    ]
    state = FleetState(hosts)
    placed = [v for v in fleet.vms(session, limit=None)
              if v.host_id is not None and v.host_id in state.index and v.state not in FREE_STATES]
    state.place_many(
        [VMSpec(v.vm_id, v.vcpus, v.memory_mib, labels={str(k): str(x) for k, x in v.labels.items()})
         for v in placed],
        [state.index[v.host_id] for v in placed if v.host_id is not None],
    )
    return state


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


def decide(session: Session, body: PlacementIn, vm_id: str) -> PlacementDecision:
    return Scheduler(fleet_state(session)).decide(to_request(body, vm_id), commit=False)


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
