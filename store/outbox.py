"""The decision outbox: decisions written in the same transaction as their cause (a placement,
an operator's start or stop), relayed to ``novacron.decisions`` by the worker, then marked.

Publishing happens between ``undispatched`` and ``mark``, so a relay that dies in between
publishes again: at least once; the actuators' ledger acts once per decision id."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from novacron.store import models
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from novacron.events import Decision, utcnow


def add(session: Session, decision: Decision) -> None:
    """Queue ``decision`` for the actuators; the same decision id twice is a no-op."""
    stmt = pg_insert(models.DecisionOutbox).values(
        decision_id=decision.decision_id, action=decision.action.value,
        target_id=decision.target_id, decision=decision.model_dump(mode="json"),
        created_at=utcnow())
    session.execute(stmt.on_conflict_do_nothing(index_elements=["decision_id"]))


def undispatched(session: Session, limit: int = 500,
                 hosts: Collection[str] | None = None) -> list[models.DecisionOutbox]:
    """Rows not published yet, oldest first (a VM's start queued after its placement is
    published after it, on the same partition: its key is the VM id). With ``hosts``, only
    the decisions on those hosts: what one worker's actuators manage."""
    m = models.DecisionOutbox
    q = (select(m).where(m.dispatched_at.is_(None))
         .order_by(m.created_at, m.decision_id).limit(limit))
    if hosts is not None:
        q = q.where(m.decision["host_id"].as_string().in_(list(hosts)))
    return list(session.scalars(q))


def mark(session: Session, decision_ids: Sequence[uuid.UUID]) -> None:
    if not decision_ids:
        return
    m = models.DecisionOutbox
    session.execute(update(m).where(m.decision_id.in_(list(decision_ids))).values(dispatched_at=utcnow()))


def get(session: Session, decision_id: uuid.UUID) -> models.DecisionOutbox | None:
    return session.get(models.DecisionOutbox, decision_id)
