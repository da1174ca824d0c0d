"""Recorder agents: every decision on the topic is stored in PostgreSQL (idempotently), where
``store.decision_log`` says, with one placement decision per replica of a group's scale-out;
and the actuators' outcome of every placement (and of an operator's start or stop) is written
where placements are read (``store.outcomes``)."""

from __future__ import annotations

from typing import Any

from novacron.store import outcomes
from novacron.store.decision_log import record
from novacron.streams import db_retry, runtime
from novacron.streams.app import actions_topic, app, decisions_topic

from novacron.events import ActionKind, ActionResult, Decision


def _store(decision: Decision) -> None:
    with runtime.current().sessions.begin() as s:
        record(s, decision)
        outcomes.record_group_placements(s, decision)


@app.agent(decisions_topic)
async def recorder_agent(stream: Any) -> None:
    async for event in stream.events():
        # The actuator agent already dead-letters malformed decisions; do not do it twice.
        try:
            decision = Decision.model_validate_json(event.value or b"")
        except ValueError:
            continue
        await db_retry.call(f"recording decision {decision.decision_id}", _store, decision)


# The outcomes store.outcomes records; every other action's result is passed over unread.
_RECORDED = {ActionKind.PLACE, ActionKind.SCALE_OUT, ActionKind.START, ActionKind.SHUTDOWN,
             ActionKind.DESTROY}


def store_outcome(result: ActionResult) -> None:
    """Write one PLACE outcome (or a group's replicas', or an operator's start/stop) where
    placements are read: the decision's outcome and the VM's row."""
    with runtime.current().sessions.begin() as s:
        outcomes.record_outcome(s, result)


@app.agent(actions_topic)
async def outcome_recorder(stream: Any) -> None:
    async for event in stream.events():
        try:  # malformed outcomes are dead-lettered where they are consumed to act on them
            result = ActionResult.model_validate_json(event.value or b"")
        except ValueError:
            continue
        if result.action in _RECORDED:
            await db_retry.call(f"recording the outcome of {result.decision_id}", store_outcome, result)
