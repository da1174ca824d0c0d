"""What the actuators made of a placement, written where operators read placements: the
outcome on its decision (``placement_decisions.outcome``), the VM's row (running, stopped, or
failed: a failed VM holds no capacity), and a fleet event with libvirt's reason when it failed.

Placements come from the API and CLI (``novacron.place_vm``, one decision per VM) and from a
group's scale-out (one decision per replica, recorded here from the group's SCALE_OUT, with
policy ``group:<id>``). An operator's start and stop (queued in the decision outbox) update
the VM's row the same way."""

from __future__ import annotations

import uuid
from typing import Any

from novacron.store import models
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from novacron.events import ActionKind, ActionResult, ActionStatus, AutonomyMode, Decision

# A replica's placement decision id, derived from its group decision and its name.
_REPLICA_NS = uuid.uuid5(uuid.NAMESPACE_URL, "novacron/group-replica-placement")
_POWER = {ActionKind.START, ActionKind.SHUTDOWN, ActionKind.DESTROY}
_STATUS_BY_MODE = {AutonomyMode.AUTO: "placed", AutonomyMode.APPROVE: "awaiting-approval",
                   AutonomyMode.RECOMMEND: "recommended", AutonomyMode.OBSERVE: "recommended"}


def outcome_of(result: ActionResult, host_id: str | None = None) -> dict[str, Any]:
    return {"status": result.status.value, "detail": result.detail,
            "host_id": host_id or result.host_id, "at": result.occurred_at.isoformat(),
            "duration_ms": round(result.duration_ms, 3)}


def record_outcome(session: Session, result: ActionResult) -> bool:
    """Record ``result`` if it is the outcome of a placement or of an operator's queued
    start/stop; False when it is neither (another agent's action)."""
    if result.action == ActionKind.PLACE:
        return _placed(session, result)
    if result.action == ActionKind.SCALE_OUT:
        return _replicas(session, result)
    if result.action in _POWER and session.get(models.DecisionOutbox, result.decision_id) is not None:
        return _powered(session, result)
    return False


def _placement_row(session: Session, result: ActionResult) -> models.PlacementDecision | None:
    row = session.get(models.PlacementDecision, result.decision_id, with_for_update=True)
    if row is not None:
        return row
    # An approved copy of a PLACE the actuators parked (the fleet was paused when it came):
    # its id is derived, so it lands on the VM's newest placement.
    m = models.PlacementDecision
    q = (select(m).where(m.vm_id == result.target_id, m.status == "placed")
         .order_by(m.decided_at.desc()).limit(1).with_for_update())
    newest = session.scalars(q).first()
    if newest is not None and (newest.outcome or {}).get("status", "skipped") == "skipped":
        return newest
    return None


def _placed(session: Session, result: ActionResult) -> bool:
    row = _placement_row(session, result)
    host = row.target_host if row is not None else result.host_id
    if row is not None:
        row.outcome = outcome_of(result, host)
    vm = session.get(models.VM, result.target_id, with_for_update=True)
    if vm is None or (host is not None and vm.host_id != host):
        return row is not None  # deleted meanwhile, or placed again elsewhere: not this one
    if result.status == ActionStatus.SUCCEEDED:
        vm.state = "running" if result.after.get("running_on") else "stopped"
    elif result.status == ActionStatus.FAILED:
        vm.state = "failed"  # holds no capacity (api.placing.FREE_STATES)
        _event(session, "place-failed", host, vm.vm_id, result)
    else:
        return True  # skipped: parked for an operator; the VM stays as it was
    vm.updated_at = result.occurred_at
    return True


def _powered(session: Session, result: ActionResult) -> bool:
    vm = session.get(models.VM, result.target_id, with_for_update=True)
    if vm is None:
        return True  # deleted (an operator's delete is a DESTROY): nothing to update
    host = result.host_id or vm.host_id
    if result.status == ActionStatus.FAILED:
        _event(session, f"{result.action.value}-failed", host, vm.vm_id, result)
    copies = result.after.get("copies")
    if isinstance(copies, dict) and vm.host_id in copies:
        vm.state = "running" if vm.host_id in (result.after.get("running_on") or []) else "stopped"
        vm.updated_at = result.occurred_at
    return True


def _event(session: Session, kind: str, host_id: str | None, vm_id: str, result: ActionResult) -> None:
    session.add(models.FleetEvent(
        occurred_at=result.occurred_at, kind=kind, host_id=host_id, vm_id=vm_id,
        reason=result.detail or f"{result.action.value} {result.status.value}",
        detail={"decision_id": str(result.decision_id), "action": result.action.value,
                "duration_ms": round(result.duration_ms, 3)}))


# ------------------------------------------------------------------ a group's replicas


def replica_decision_id(group_decision: uuid.UUID, name: str) -> uuid.UUID:
    return uuid.uuid5(_REPLICA_NS, f"{group_decision}/{name}")


def record_group_placements(session: Session, decision: Decision) -> int:
    """One placement decision per replica a group's scale-out placed (policy ``group:<id>``),
    so the placement log shows them beside the API's; a redelivery writes nothing new. An
    operator's approved copy marks the original's replicas placed instead. Returns how many
    rows it wrote or updated."""
    clones = decision.params.get("clones")
    if decision.action != ActionKind.SCALE_OUT or not isinstance(clones, list) or not clones:
        return 0
    group = str(decision.params.get("group") or decision.target_id)
    original = decision.params.get("approved_from")
    if original:
        return _approved(session, uuid.UUID(str(original)), decision)
    status = _STATUS_BY_MODE[decision.mode]
    request = {k: decision.params.get(k) for k in ("group", "source_vm", "source_host", "replicas")}
    written = 0
    for i, c in enumerate(clones):
        name, host = str(c["name"]), str(c["target_host"])
        # The decision lists the runner-up hosts of its first replica only.
        alts: list[dict[str, Any]] = [
            {"host": a.option.rsplit(" on ", 1)[-1], "score": a.score, "why_lost": a.why_not, "breakdown": []}
            for a in decision.alternatives if i == 0 and a.option.startswith(f"place {name} on ")]
        stmt = pg_insert(models.PlacementDecision).values(
            decision_id=replica_decision_id(decision.decision_id, name), vm_id=name, target_host=host,
            score=c.get("score"), explanation=str(c.get("placement") or decision.explanation),
            alternatives=alts, policy=f"group:{group}"[:200], decided_at=decision.occurred_at,
            status=status, request=request,
            detail={"group_decision": str(decision.decision_id), "decided_by": decision.decided_by,
                    "mode": decision.mode.value, "trace": c.get("trace") or [],
                    "exclusion_dropped": bool(c.get("exclusion_dropped"))})
        res = session.execute(stmt.on_conflict_do_nothing(index_elements=["decision_id"])
                              .returning(models.PlacementDecision.decision_id))
        written += res.first() is not None
    return written


def _group_rows(session: Session, group_decision: uuid.UUID) -> list[models.PlacementDecision]:
    m = models.PlacementDecision
    key = str(group_decision)
    mine = (m.detail["group_decision"].as_string() == key) | (m.detail["approved_as"].as_string() == key)
    q = select(m).where(m.policy.startswith("group:"), mine)
    return list(session.scalars(q.with_for_update()))


def _approved(session: Session, original: uuid.UUID, copy: Decision) -> int:
    rows = _group_rows(session, original)
    for row in rows:
        row.status = "placed"
        row.detail = {**(row.detail or {}), "approved_as": str(copy.decision_id),
                      "approved_by": copy.params.get("approved_by")}
    return len(rows)


def _replicas(session: Session, result: ActionResult) -> bool:
    rows = _group_rows(session, result.decision_id)
    found = result.after.get("clones") or {}
    for row in rows:
        state = found.get(row.vm_id)
        if result.status == ActionStatus.SKIPPED:
            status = "skipped"
        elif isinstance(state, dict):
            ran = state.get("running_on") == [row.target_host]
            status = "succeeded" if ran else "failed"
        else:  # the actuator stopped before it could say (an error): the decision's verdict
            status = result.status.value
        row.outcome = {**outcome_of(result, row.target_host), "status": status}
    return bool(rows)
