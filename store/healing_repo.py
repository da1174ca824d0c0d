"""Healing outcomes (healing_events): one row per recovery step the healer took, with its
diagnosis, rung, success and duration: the history learning and operators read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from novacron.store import models
from sqlalchemy import select
from sqlalchemy.orm import Session

from novacron.events import ActionKind, Decision

DECISION_KEY = "decision:"  # evidence["key"] of a decision row; an outcome's key is the bare id


def record_outcome(session: Session, *, key: str, subject_id: str, diagnosis: str, rung: str,
                   succeeded: bool | None, duration_s: float | None, occurred_at: datetime,
                   evidence: dict[str, Any]) -> bool:
    """Store one outcome; ``key`` (e.g. the decision id) makes a redelivery a no-op.
    Returns False when that key is already recorded."""
    seen = select(models.HealingEvent.id).where(
        models.HealingEvent.subject_id == subject_id,
        models.HealingEvent.evidence["key"].as_string() == key,
    )
    if session.execute(seen.limit(1)).first() is not None:
        return False
    session.add(models.HealingEvent(
        subject_id=subject_id, diagnosis=diagnosis, rung=rung, succeeded=succeeded,
        duration_s=duration_s, evidence={**evidence, "key": key}, occurred_at=occurred_at))
    return True


def record_decision(session: Session, decision: Decision) -> bool:
    """Store one healer decision (a recovery plan, or a hold and why) as a healing event whose
    outcome is still open (``succeeded`` NULL); the actuator's outcome is a row of its own,
    keyed by the bare decision id. A redelivered decision is a no-op (returns False)."""
    hold = decision.trigger.get("hold")
    if decision.action == ActionKind.NOOP and hold is not None:
        rung = f"hold:{hold}"
    else:
        rung = str(decision.params.get("rung") or decision.action.value)
    evidence: dict[str, Any] = {
        "kind": "decision", "decision_id": str(decision.decision_id),
        "action": decision.action.value, "host_id": decision.host_id,
        "explanation": decision.explanation, "params": decision.params,
        "trigger": decision.trigger, "mode": decision.mode.value,
        "alternatives": [a.model_dump() for a in decision.alternatives],
    }
    return record_outcome(
        session, key=f"{DECISION_KEY}{decision.decision_id}", subject_id=decision.target_id,
        diagnosis=str(decision.trigger.get("health", "unknown")), rung=rung, succeeded=None,
        duration_s=None, occurred_at=decision.occurred_at, evidence=evidence)


def healing_events_for(session: Session, subject_id: str) -> list[models.HealingEvent]:
    q = select(models.HealingEvent).where(models.HealingEvent.subject_id == subject_id)
    return list(session.scalars(q.order_by(models.HealingEvent.occurred_at,
                                           models.HealingEvent.id)))


def success_rates(session: Session) -> dict[tuple[str, str], tuple[int, int, float]]:
    """(diagnosis, rung) -> (successes, attempts, mean duration s): what the ladder learns from."""
    out: dict[tuple[str, str], tuple[int, int, float]] = {}
    rows = session.execute(select(models.HealingEvent.diagnosis, models.HealingEvent.rung,
                                  models.HealingEvent.succeeded, models.HealingEvent.duration_s))
    acc: dict[tuple[str, str], list[tuple[bool, float]]] = {}
    for diagnosis, rung, ok, duration in rows:
        if ok is None:
            continue
        acc.setdefault((diagnosis, rung), []).append((bool(ok), float(duration or 0.0)))
    for k, v in acc.items():
        out[k] = (sum(1 for ok, _ in v if ok), len(v), sum(d for _, d in v) / len(v))
    return out
