"""One placement, as v1 create and v2 placement both run it: decide on the stored fleet,
record the explained decision, then act as the autonomy mode and the pause switch allow."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from fastapi import HTTPException
from novacron.api import fleet_cache, placing
from novacron.api.policies_store import policy_set_of
from novacron.api.schemas import PlacementIn
from novacron.api.tokens import Principal
from novacron.placement.types import DecisionStatus
from novacron.store import control, fleet, models
from sqlalchemy.orm import Session

from novacron.events import utcnow

T = TypeVar("T")


@dataclass
class Outcome:
    row: models.PlacementDecision | None
    applied: bool
    preview: dict[str, Any] | None = None  # a dry run's decision, not recorded


def invalid(errors: Sequence[object]) -> HTTPException:
    return HTTPException(422, [{"loc": ["body", *str(e).split(":", 1)[0].split(".")],
                                "msg": str(e), "type": "placement"} for e in errors])


def place(session: Session, body: PlacementIn, who: Principal, *, tags: Sequence[str] = (),
          start: bool = True, require_applied: bool = False) -> Outcome:
    """Decide and record. Every refusal (409, 422) is raised before the first write, so a
    caller sharing the transaction with other placements loses nothing by catching it."""
    vm_id = body.vm.vm_id or f"vm-{uuid.uuid4().hex[:12]}"
    # The lock, the fingerprint and the policies in one round trip, once per transaction. A dry
    # run takes the lock too: the cached fleet state is shared and not thread-safe.
    fingerprint, policy_rows = _once_per_transaction(session, "lock_and_read", fleet.lock_and_read)
    policies = _once_per_transaction(session, "policy_set", lambda _: policy_set_of(policy_rows))
    mode = policies.effective(dict(body.vm.labels), tags).autonomy("place").value
    paused = _once_per_transaction(session, "pause_state", control.pause_state)
    snap = fleet_cache.current(session, fingerprint)
    if not body.dry_run and vm_id in snap.state.vms:  # the cache knows: no round trip
        raise HTTPException(409, f"VM {vm_id} already exists")
    d = placing.decide(snap.state, body, vm_id)
    if d.status == DecisionStatus.INVALID:
        raise invalid(d.errors)
    request = body.model_dump(mode="json")
    request["vm"]["vm_id"] = vm_id
    request["start"], request["tags"] = start, list(tags)
    alternatives, detail = placing.alternatives(d), placing.detail(d)
    detail["mode"] = mode
    status = d.status.value
    waits: str | None = None
    if d.status == DecisionStatus.PLACED:
        if paused["paused"]:
            waits = f"the fleet is paused by {paused['updated_by']}: {paused['reason']}"
        elif mode == "approve":
            waits = "the effective policy's autonomy for place is approve"
        elif mode == "observe":
            # observe: log only. recommend waits for a human to act on it, and an operator's
            # own request through the API is that human, so recommend and auto both act here.
            status = "recommended"
        if waits:
            status = "awaiting-approval"
    creates = not body.dry_run and status == DecisionStatus.PLACED.value and d.target_node is not None
    # A VM that is created is checked by its own insert (a taken id inserts nothing): one
    # round trip less per placement. Any other decision on an existing VM is refused here.
    if not body.dry_run and not creates and fleet.vm(session, vm_id) is not None:
        raise HTTPException(409, f"VM {vm_id} already exists")
    if require_applied and not body.dry_run and not creates:
        raise HTTPException(409, {"message": f"VM not created: {status}",
                                  "explanation": waits or d.explanation})
    if body.dry_run:
        preview = {"decision_id": uuid.uuid4(), "vm_id": vm_id, "status": status,
                   "target_host": d.target_node, "score": d.score, "explanation": d.explanation,
                   "alternatives": alternatives, "policy": "default", "decided_at": None,
                   "detail": detail, "applied": False}
        return Outcome(None, False, preview)
    decision_id = uuid.uuid4()
    if creates:
        assert d.target_node is not None
        row = models.PlacementDecision(
            decision_id=decision_id, vm_id=vm_id, target_host=d.target_node, score=d.score,
            explanation=d.explanation, alternatives=alternatives, policy="default", status=status,
            request=request, detail=detail, decided_at=utcnow())
        _add_vm(session, snap, vm_id, d.target_node, request, row)
        return Outcome(row, True)
    row = fleet.record_placement(
        session, decision_id=decision_id, vm_id=vm_id, target_host=d.target_node, score=d.score,
        explanation=d.explanation, alternatives=alternatives, policy="default", status=status,
        request=request, detail=detail)
    if waits:
        control.add_pending(session, decision_id, "place", vm_id,
                            {"target_host": d.target_node, "score": d.score,
                             "explanation": d.explanation, "request": request,
                             "requested_by": who.token_id}, waits)
    return Outcome(row, False)


def _add_vm(session: Session, snap: fleet_cache.Snapshot, vm_id: str, host_id: str,
            request: dict[str, Any], decision: models.PlacementDecision | None = None) -> None:
    """Insert the VM (with ``decision``, in the same statement, if given) and count it in the
    cached state. A taken id writes nothing and answers 409."""
    vm = request["vm"]
    vcpus, memory_mib = round(vm["vcpus"]), round(vm["memory_mib"])
    labels = {str(k): str(v) for k, v in (vm.get("labels") or {}).items()}
    tags, state = request.get("tags") or [], "running" if request.get("start", True) else "stopped"
    anti = placing.declared_anti_affinity(request)
    if decision is None:
        row_hash = fleet.add_placed_vm(session, vm_id, host_id, vcpus, memory_mib, labels, tags, state,
                                       anti)
    else:
        row_hash = fleet.place_vm(session, decision, vcpus, memory_mib, labels, tags, state, anti)
    if row_hash is None:  # the id is taken: nothing was written
        raise HTTPException(409, f"VM {vm_id} already exists")
    fleet_cache.vm_added(snap, vm_id, host_id, vcpus, memory_mib, labels, row_hash, anti)


def _once_per_transaction(session: Session, key: str, read: Callable[[Session], T]) -> T:
    """Placements batched in one transaction (api.deps.placement) read these once."""
    txn = session.get_transaction()
    hit = session.info.get(key)
    if hit is not None and hit[0] is txn:
        return cast(T, hit[1])
    value = read(session)
    session.info[key] = (txn, value)
    return value


def apply_to_host(session: Session, request: dict[str, Any], host_id: str) -> None:
    """Create the VM of a parked placement on ``host_id`` after checking it still fits."""
    fleet.lock_placement(session)
    vm = request["vm"]
    if fleet.vm(session, vm["vm_id"]) is not None:
        raise HTTPException(409, f"VM {vm['vm_id']} already exists")
    snap = fleet_cache.current(session)
    state = snap.state
    idx = state.index.get(host_id)
    if idx is None:
        raise HTTPException(422, f"unknown host {host_id}")
    if state.cordoned[idx]:
        raise HTTPException(409, f"host {host_id} is not up")
    need = (round(vm["vcpus"] * 1000), round(vm["memory_mib"]))
    free = state.cap[idx] - state.used[idx]
    if free[0] < need[0] or free[1] < need[1]:
        raise HTTPException(409, f"host {host_id} no longer has room: free {free[0] / 1000:g} vCPU, "
                                 f"{int(free[1])} MiB; the VM needs {vm['vcpus']:g} vCPU, "
                                 f"{vm['memory_mib']:g} MiB")
    # Every hard constraint, not only room: an override names a host, it does not waive rules.
    refused = placing.refusals(state, request, host_id)
    if refused:
        raise HTTPException(409, f"host {host_id} breaks a hard constraint of this VM: " + "; ".join(refused))
    _add_vm(session, snap, vm["vm_id"], host_id, request)
