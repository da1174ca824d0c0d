"""Place a VM: decide on the stored fleet, record the explained decision and, when it acts, the
VM (every dimension in ``vms.spec``, its NUMA cells, its intent) and a PLACE decision for the
actuators in the decision outbox, all in the caller's transaction. The API, the CLI and an
operator's approval all come here; the worker relays the outbox to the actuators, which define
and start the domain on the chosen host and report the outcome.

Refusals are typed (:class:`PlacementConflict`, :class:`PlacementInvalid`) and raised before
the first write, so a caller sharing the transaction with other placements loses nothing by
catching one; the API turns them into its 409 and 422 bodies."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy.orm import Session

from novacron.api import fleet_cache, placing
from novacron.api.policies_store import policy_set_of
from novacron.api.schemas import PlacementIn
from novacron.events import ActionKind, Alternative, AutonomyMode, Decision, utcnow
from novacron.placement.types import DecisionStatus
from novacron.store import control, fleet, models

T = TypeVar("T")

# Keys of a stored placement request that are the VM's own (vms.spec), as given.
_SPEC_KEYS = ("strategy", "affinity", "anti_affinity", "spread", "host_affinity", "allow_spot")


class PlacementError(Exception):
    """A placement refused before anything was written. ``detail`` is the API's error body
    (a message, a dict, or a list of field errors) and ``status_code`` its HTTP status."""

    status_code = 400

    def __init__(self, detail: str | dict[str, Any] | list[Any]) -> None:
        super().__init__(detail if isinstance(detail, str) else str(detail))
        self.detail = detail


class PlacementConflict(PlacementError):
    """The fleet or the VM says no: the id exists, the host has no room or is down, a hard
    constraint is broken, the placement waits for an operator."""

    status_code = 409


class PlacementInvalid(PlacementError):
    """The request cannot be placed as written (a field, an unknown host)."""

    status_code = 422


@dataclass
class Outcome:
    row: models.PlacementDecision | None
    applied: bool
    preview: dict[str, Any] | None = None  # a dry run's decision, not recorded
    place: Decision | None = None  # the PLACE queued for the actuators, when it acts


def invalid(errors: Sequence[object]) -> PlacementInvalid:
    return PlacementInvalid([{"loc": ["body", *str(e).split(":", 1)[0].split(".")],
                              "msg": str(e), "type": "placement"} for e in errors])


def place(session: Session, body: PlacementIn, actor: str, *, tags: Sequence[str] = (),
          start: bool = True, require_applied: bool = False) -> Outcome:
    """Decide and record; when the decision acts, queue its PLACE. ``actor`` says who asked
    (``token:<id> (<name>)``, ``cli:<user>``)."""
    vm_id = body.vm.vm_id or f"vm-{uuid.uuid4().hex[:12]}"
    # The lock, the fingerprint and the policies in one round trip, once per transaction. A dry
    # run takes the lock too: the cached fleet state is shared and not thread-safe.
    fingerprint, policy_rows = _once_per_transaction(session, "lock_and_read", fleet.lock_and_read)
    policies = _once_per_transaction(session, "policy_set", lambda _: policy_set_of(policy_rows))
    mode = policies.effective(dict(body.vm.labels), tags).autonomy("place").value
    paused = _once_per_transaction(session, "pause_state", control.pause_state)
    snap = fleet_cache.current(session, fingerprint)
    if not body.dry_run and vm_id in snap.state.vms:  # the cache knows: no round trip
        raise PlacementConflict(f"VM {vm_id} already exists")
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
            # own request is that human, so recommend and auto both act here.
            status = "recommended"
        if waits:
            status = "awaiting-approval"
    creates = not body.dry_run and status == DecisionStatus.PLACED.value and d.target_node is not None
    # A VM that is created is checked by its own insert (a taken id inserts nothing): one
    # round trip less per placement. Any other decision on an existing VM is refused here.
    if not body.dry_run and not creates and fleet.vm(session, vm_id) is not None:
        raise PlacementConflict(f"VM {vm_id} already exists")
    if require_applied and not body.dry_run and not creates:
        raise PlacementConflict({"message": f"VM not created: {status}",
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
        order = place_decision(decision_id, vm_id, d.target_node, request, list(d.numa_cells),
                               actor, score=d.score, explanation=d.explanation,
                               alternatives=alternatives, at=row.decided_at)
        _add_vm(session, snap, vm_id, d.target_node, request, list(d.numa_cells), order, row)
        return Outcome(row, True, place=order)
    row = fleet.record_placement(
        session, decision_id=decision_id, vm_id=vm_id, target_host=d.target_node, score=d.score,
        explanation=d.explanation, alternatives=alternatives, policy="default", status=status,
        request=request, detail=detail)
    if waits:
        control.add_pending(session, decision_id, "place", vm_id,
                            {"target_host": d.target_node, "score": d.score,
                             "explanation": d.explanation, "request": request,
                             "requested_by": actor}, waits)
    return Outcome(row, False)


def vm_spec(request: Mapping[str, Any]) -> dict[str, Any]:
    """What ``vms.spec`` holds: every dimension the engine decided on, the devices as given,
    the constraints it was placed under and the start flag."""
    vm = dict(request["vm"])
    vm.pop("vm_id", None)
    return {**vm, **{k: request[k] for k in _SPEC_KEYS if k in request},
            "start": bool(request.get("start", True))}


def place_decision(decision_id: uuid.UUID, vm_id: str, host_id: str, request: Mapping[str, Any],
                   numa_cells: Sequence[int], actor: str, *, score: float | None = None,
                   explanation: str | None = None, alternatives: Sequence[Mapping[str, Any]] = (),
                   at: Any = None) -> Decision:
    """The PLACE the actuators carry out: its id is the placement decision's, so the outcome
    lands on that decision; its params are the VM's whole spec and the NUMA cells chosen."""
    spec = vm_spec(request)
    params = {**spec, "numa_cells": [int(c) for c in numa_cells], "tags": list(request.get("tags") or [])}
    return Decision(
        decision_id=decision_id, occurred_at=at or utcnow(), action=ActionKind.PLACE,
        target_id=vm_id, host_id=host_id, params=params, score=score,
        explanation=explanation or f"place {vm_id} on {host_id}",
        alternatives=[Alternative(option=f"place {vm_id} on {a['host']}", score=a.get("score"),
                                  why_not=str(a.get("why_lost") or "scored lower"))
                      for a in alternatives],
        mode=AutonomyMode.AUTO, decided_by=actor[:200] or "placement")


def _add_vm(session: Session, snap: fleet_cache.Snapshot, vm_id: str, host_id: str,
            request: dict[str, Any], numa_cells: list[int], order: Decision,
            decision: models.PlacementDecision | None = None) -> None:
    """Insert the VM and its PLACE (with ``decision``, in the same statement, if given) and
    count it in the cached state. A taken id writes nothing and is a conflict."""
    vm = request["vm"]
    # A fraction of a vCPU is a share the engine counts; the domain gets whole vCPUs.
    vcpus, memory_mib = max(1, math.ceil(vm["vcpus"] - 1e-9)), math.ceil(vm["memory_mib"] - 1e-9)
    labels = {str(k): str(v) for k, v in (vm.get("labels") or {}).items()}
    desired = "running" if request.get("start", True) else "stopped"
    tags = request.get("tags") or []
    anti = placing.declared_anti_affinity(request)
    new = fleet.NewVm(vcpus=vcpus, memory_mib=memory_mib, labels=labels, tags=list(tags),
                      state=desired, desired_state=desired, spec=vm_spec(request),
                      numa_cells=numa_cells, anti_affinity=anti)
    row_hash = fleet.place_vm(session, decision, new, order) if decision is not None else \
        fleet.add_placed_vm(session, vm_id, host_id, new, order)
    if row_hash is None:  # the id is taken: nothing was written
        raise PlacementConflict(f"VM {vm_id} already exists")
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


def apply_to_host(session: Session, decision_id: uuid.UUID, request: dict[str, Any], host_id: str,
                  actor: str) -> Decision:
    """Create the VM of a parked placement on ``host_id`` after checking it still fits, and
    queue its PLACE (under the parked decision's id, so its outcome lands there)."""
    fleet.lock_placement(session)
    vm = request["vm"]
    if fleet.vm(session, vm["vm_id"]) is not None:
        raise PlacementConflict(f"VM {vm['vm_id']} already exists")
    snap = fleet_cache.current(session)
    state = snap.state
    idx = state.index.get(host_id)
    if idx is None:
        raise PlacementInvalid(f"unknown host {host_id}")
    if state.cordoned[idx]:
        raise PlacementConflict(f"host {host_id} is not up")
    need = (round(vm["vcpus"] * 1000), round(vm["memory_mib"]))
    free = state.cap[idx] - state.used[idx]
    if free[0] < need[0] or free[1] < need[1]:
        raise PlacementConflict(f"host {host_id} no longer has room: free {free[0] / 1000:g} vCPU, "
                                f"{int(free[1])} MiB; the VM needs {vm['vcpus']:g} vCPU, "
                                f"{vm['memory_mib']:g} MiB")
    # Every hard constraint, not only room: an override names a host, it does not waive rules.
    refused = placing.refusals(state, request, host_id)
    if refused:
        raise PlacementConflict(f"host {host_id} breaks a hard constraint of this VM: " + "; ".join(refused))
    # NUMA cells are chosen for the host actually used (an override may name another one).
    cells = _cells_on(state, request, host_id)
    order = place_decision(decision_id, vm["vm_id"], host_id, request, cells, actor,
                           explanation=f"place {vm['vm_id']} on {host_id}, approved by {actor}")
    _add_vm(session, snap, vm["vm_id"], host_id, request, cells, order)
    return order


def _cells_on(state: Any, request: Mapping[str, Any], host_id: str) -> list[int]:
    body = PlacementIn.model_validate({k: v for k, v in request.items() if k in PlacementIn.model_fields})
    cells = state.choose_cells(placing.to_request(body, str(request["vm"]["vm_id"])).vm,
                               state.index[host_id])
    return [int(c) for c, _, _ in cells or ()]
