"""API token rows. Hashing lives with the API (novacron.api.tokens); this module only stores
and finds rows, so the secret never reaches the store layer."""

from __future__ import annotations

from novacron.store import models
from sqlalchemy import select
from sqlalchemy.orm import Session

from novacron.events import utcnow


def add_token(session: Session, token_id: str, name: str, role: str, secret_hash: str,
              created_by: str) -> models.ApiToken:
    row = models.ApiToken(token_id=token_id, name=name, role=role, secret_hash=secret_hash,
                          created_at=utcnow(), created_by=created_by)
    session.add(row)
    session.flush()
    return row


def find_token(session: Session, token_id: str) -> models.ApiToken | None:
    return session.get(models.ApiToken, token_id)


def tokens(session: Session) -> list[models.ApiToken]:
    return list(session.scalars(select(models.ApiToken).order_by(models.ApiToken.created_at)))


def revoke_token(session: Session, token_id: str) -> bool:
    row = session.get(models.ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True
