"""The global pause switch and decisions waiting for an operator (approvals, overrides)."""

from __future__ import annotations

import uuid
from typing import Any

from novacron.store import models
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from novacron.events import utcnow

PAUSE_KEY = "pause"
PENDING, APPROVED, REJECTED, OVERRIDDEN = "pending", "approved", "rejected", "overridden"


def pause_state(session: Session) -> dict[str, Any]:
    """``{"paused": bool, "reason": str, "updated_by": str | None, "updated_at": iso | None}``."""
    row = session.get(models.ControlSetting, PAUSE_KEY)
    if row is None:
        return {"paused": False, "reason": "", "updated_by": None, "updated_at": None}
    return {"paused": bool(row.value.get("paused")), "reason": str(row.value.get("reason", "")),
            "updated_by": row.updated_by, "updated_at": row.updated_at.isoformat()}


def is_paused(session: Session) -> bool:
    return bool(pause_state(session)["paused"])


def set_pause(session: Session, paused: bool, reason: str, actor: str) -> dict[str, Any]:
    values = dict(key=PAUSE_KEY, value={"paused": paused, "reason": reason}, updated_at=utcnow(),
                  updated_by=actor)
    stmt = pg_insert(models.ControlSetting).values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_=values))
    session.flush()
    return pause_state(session)


def add_pending(session: Session, decision_id: uuid.UUID, action: str, target_id: str,
                decision: dict[str, Any], reason: str) -> None:
    """Park a decision for an operator; a redelivered decision is a no-op."""
    stmt = pg_insert(models.PendingDecision).values(
        decision_id=decision_id, action=action, target_id=target_id, decision=decision,
        reason=reason, status=PENDING, created_at=utcnow(),
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["decision_id"]))


def pending(session: Session, status: str | None = PENDING, limit: int = 100,
            target_id: str | None = None) -> list[models.PendingDecision]:
    q = select(models.PendingDecision).order_by(models.PendingDecision.created_at.desc()).limit(limit)
    if status is not None:
        q = q.where(models.PendingDecision.status == status)
    if target_id is not None:
        q = q.where(models.PendingDecision.target_id == target_id)
    return list(session.scalars(q))


def lock_pending(session: Session, decision_id: uuid.UUID) -> models.PendingDecision | None:
    """The row, locked for this transaction so two operators cannot resolve it twice."""
    q = select(models.PendingDecision).where(
        models.PendingDecision.decision_id == decision_id).with_for_update()
    return session.scalars(q).first()


def resolve_pending(session: Session, row: models.PendingDecision, status: str, actor: str,
                    comment: str | None, override: dict[str, Any] | None = None) -> None:
    row.status = status
    row.resolved_at = utcnow()
    row.resolved_by = actor
    row.comment = comment
    row.override = override


def approved_to_dispatch(session: Session, limit: int = 100) -> list[models.PendingDecision]:
    """Approved stream decisions whose approved copy has not been published yet, oldest
    approval first. The API's placements are left out: they act inside the approving request
    (a PLACE the actuators parked while the fleet was paused carries no request: it is relayed)."""
    m = models.PendingDecision
    q = (select(models.PendingDecision)
         .where(models.PendingDecision.status == APPROVED,
                (m.action != "place") | m.decision["request"].as_string().is_(None),
                models.PendingDecision.dispatched_at.is_(None))
         .order_by(models.PendingDecision.resolved_at)
         .limit(limit))
    return list(session.scalars(q))


def mark_dispatched(session: Session, decision_ids: list[uuid.UUID]) -> None:
    if not decision_ids:
        return
    session.execute(update(models.PendingDecision)
                    .where(models.PendingDecision.decision_id.in_(decision_ids))
                    .values(dispatched_at=utcnow()))
