"""The actuators' ledger on PostgreSQL (see novacron.actuators.ledger.Ledger)."""

from __future__ import annotations

import uuid

from novacron.store import repository
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionResult, Decision


class PgLedger:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def claim(self, decision: Decision) -> bool:
        with self._sessions.begin() as s:  # committed before the caller acts
            return repository.claim_action(s, decision)

    def status(self, decision_id: uuid.UUID) -> str | None:
        with self._sessions() as s:
            return repository.action_status(s, decision_id)

    def finish(self, result: ActionResult) -> None:
        with self._sessions.begin() as s:
            repository.finish_action(s, result)
