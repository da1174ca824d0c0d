"""Reads and writes the pipeline needs; every function takes a Session so callers own the
transaction boundaries."""

from __future__ import annotations

import uuid
from typing import Any

from novacron.store import models
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from novacron.events import ActionKind, ActionResult, Decision, utcnow

SCALING_ACTIONS = {
    ActionKind.SCALE_VCPU, ActionKind.SCALE_MEMORY, ActionKind.SCALE_OUT, ActionKind.SCALE_IN,
    ActionKind.NOOP,
}


def _alternatives(decision: Decision) -> list[dict[str, Any]]:
    return [a.model_dump() for a in decision.alternatives]


def record_decision(session: Session, decision: Decision) -> None:
    """Store a decision in its table; a redelivered decision is a no-op (same decision_id)."""
    if decision.action == ActionKind.PLACE:
        stmt = pg_insert(models.PlacementDecision).values(
            decision_id=decision.decision_id, vm_id=decision.target_id,
            target_host=decision.host_id, score=decision.score,
            explanation=decision.explanation, alternatives=_alternatives(decision),
            policy=decision.policy, decided_at=decision.occurred_at,
        )
    else:
        stmt = pg_insert(models.ScalingEvent).values(
            decision_id=decision.decision_id, vm_id=decision.target_id,
            action=decision.action.value, params=decision.params,
            trigger=decision.trigger, explanation=decision.explanation,
            alternatives=_alternatives(decision), policy=decision.policy,
            mode=decision.mode.value, decided_by=decision.decided_by,
            occurred_at=decision.occurred_at,
        )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["decision_id"]))


def claim_action(session: Session, decision: Decision) -> bool:
    """Record the decision in the action ledger *before* acting.

    Returns True when this caller owns the effect; False when the decision was already
    claimed (a redelivery or a duplicate), in which case the caller must not act again.
    The insert commits before the effect so a crash after acting cannot lose the claim.
    """
    stmt = (
        pg_insert(models.Action)
        .values(
            decision_id=decision.decision_id, action=decision.action.value,
            target_id=decision.target_id, host_id=decision.host_id, status="claimed",
            detail="", before={}, after={}, claimed_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["decision_id"])
        .returning(models.Action.decision_id)
    )
    return session.execute(stmt).first() is not None


def finish_action(session: Session, result: ActionResult) -> None:
    row = session.get(models.Action, result.decision_id)
    if row is None:  # a result for an unclaimed decision (e.g. skipped by mode): keep it anyway
        row = models.Action(
            decision_id=result.decision_id, action=result.action.value,
            target_id=result.target_id, host_id=result.host_id, claimed_at=result.occurred_at,
        )
        session.add(row)
    row.status = result.status.value
    row.detail = result.detail
    row.before = result.before
    row.after = result.after
    row.finished_at = result.occurred_at
    row.duration_ms = result.duration_ms


def action_status(session: Session, decision_id: uuid.UUID) -> str | None:
    row = session.get(models.Action, decision_id)
    return row.status if row else None


def scaling_events_for(session: Session, vm_id: str) -> list[models.ScalingEvent]:
    q = select(models.ScalingEvent).where(models.ScalingEvent.vm_id == vm_id)
    return list(session.scalars(q.order_by(models.ScalingEvent.occurred_at)))


def upsert_host(session: Session, host_id: str, uri: str, vcpus: int, memory_mib: int,
                labels: dict[str, str]) -> None:
    values = dict(host_id=host_id, uri=uri, vcpus=vcpus, memory_mib=memory_mib, labels=labels,
                  state="up", updated_at=utcnow())
    stmt = pg_insert(models.Host).values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=["host_id"], set_=values))


def upsert_vm(session: Session, vm_id: str, host_id: str, vcpus: int, memory_mib: int,
              labels: dict[str, str], state: str = "running") -> None:
    values = dict(vm_id=vm_id, host_id=host_id, vcpus=vcpus, memory_mib=memory_mib,
                  labels=labels, state=state, updated_at=utcnow())
    stmt = pg_insert(models.VM).values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=["vm_id"], set_=values))
