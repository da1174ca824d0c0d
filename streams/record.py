"""Recorder agent: every decision on the topic is stored in PostgreSQL (idempotently): the
healer's in healing_events (next to their outcomes, where operators and learning read the
recovery history), the others in their own tables (placements, scaling events)."""

from __future__ import annotations

import asyncio
from typing import Any

from novacron.store import healing_repo, repository
from novacron.streams import runtime
from novacron.streams.app import app, decisions_topic
from sqlalchemy.orm import Session

from novacron.events import Decision


def store(session: Session, decision: Decision) -> None:
    if decision.decided_by == "healer":
        healing_repo.record_decision(session, decision)
    else:
        repository.record_decision(session, decision)


def _store(decision: Decision) -> None:
    with runtime.current().sessions.begin() as s:
        store(s, decision)


@app.agent(decisions_topic)
async def recorder_agent(stream: Any) -> None:
    async for event in stream.events():
        # The actuator agent already dead-letters malformed decisions; do not do it twice.
        try:
            decision = Decision.model_validate_json(event.value or b"")
        except ValueError:
            continue
        await asyncio.to_thread(_store, decision)

