"""The audit log: one row per mutating API request (who, what, when, outcome)."""

from __future__ import annotations

from typing import Any

from novacron.store import models
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from novacron.events import utcnow


def record_audit(session: Session, *, actor: str, role: str | None, method: str, path: str,
                 status_code: int, client: str | None, detail: dict[str, Any]) -> None:
    session.add(models.AuditEntry(occurred_at=utcnow(), actor=actor, role=role, method=method,
                                  path=path[:1000], status_code=status_code, client=client,
                                  detail=detail))


def record_audits(session: Session, rows: list[dict[str, Any]]) -> None:
    """Several entries in one statement (``record_audit``'s keywords per row)."""
    if rows:
        session.execute(insert(models.AuditEntry), [
            {**r, "path": r["path"][:1000], "occurred_at": r.get("occurred_at") or utcnow()}
            for r in rows])


def audit_entries(session: Session, actor: str | None = None, path_prefix: str | None = None,
                  limit: int = 100) -> list[models.AuditEntry]:
    q = select(models.AuditEntry).order_by(models.AuditEntry.id.desc()).limit(limit)
    if actor is not None:
        q = q.where(models.AuditEntry.actor == actor)
    if path_prefix is not None:
        q = q.where(models.AuditEntry.path.startswith(path_prefix, autoescape=True))
    return list(session.scalars(q))
