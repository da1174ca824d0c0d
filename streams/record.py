"""Recorder agent: every decision on the topic is stored in PostgreSQL (idempotently), where
``store.decision_log`` says."""

from __future__ import annotations

from typing import Any

from novacron.store.decision_log import record
from novacron.streams import db_retry, runtime
from novacron.streams.app import app, decisions_topic

from novacron.events import Decision


def _store(decision: Decision) -> None:
    with runtime.current().sessions.begin() as s:
        record(s, decision)


@app.agent(decisions_topic)
async def recorder_agent(stream: Any) -> None:
    async for event in stream.events():
        # The actuator agent already dead-letters malformed decisions; do not do it twice.
        try:
            decision = Decision.model_validate_json(event.value or b"")
        except ValueError:
            continue
        await db_retry.call(f"recording decision {decision.decision_id}", _store, decision)

