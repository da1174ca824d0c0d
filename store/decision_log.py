"""Where a decision from the decisions topic is stored: the healer's in healing_events (next to
their outcomes, where operators and learning read the recovery history), the others in their
own tables (placements, scaling events). Kept out of streams.record so that code and tests
can use it without importing the Faust app (which must be imported in the worker thread)."""

from __future__ import annotations

from novacron.store import healing_repo, repository
from sqlalchemy.orm import Session

from novacron.events import Decision


def record(session: Session, decision: Decision) -> None:
    if decision.decided_by == "healer":
        healing_repo.record_decision(session, decision)
    else:
        repository.record_decision(session, decision)
