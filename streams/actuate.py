"""Actuator agent: apply decisions to libvirt, once each, and publish the verified outcome.
Decisions that must wait for an operator are parked for approval; the relay publishes the
approved ones back to the decisions topic (see streams.approvals). Both wait out a PostgreSQL
outage (streams.db_retry): a decision is held, never dropped, until its outcome is recorded."""

from __future__ import annotations

import logging
from typing import Any

from novacron.streams import approvals, db_retry, runtime
from novacron.streams.app import actions_topic, app, decisions_topic
from novacron.streams.deadletter import decode_or_dead_letter

from novacron import topics as registry
from novacron.events import Decision

log = logging.getLogger(__name__)

# How often approvals made through the API are looked for: an approval acts within this.
APPROVAL_POLL_S = 1.0


@app.agent(decisions_topic)
async def actuator_agent(stream: Any) -> None:
    async for event in stream.events():
        decision = await decode_or_dead_letter(Decision, registry.DECISIONS.name,
                                               event.key, event.value, "actuator_agent")
        if decision is None:
            continue
        rt = runtime.current()
        # libvirt and the database block: off the event loop. Acting again after a database
        # error is safe: the ledger's claim makes a repeat a reconciliation (actuators.executor).
        result = await db_retry.call(f"acting on decision {decision.decision_id}", approvals.act,
                                     decision, rt.fleet, rt.sessions, rt.paused)
        if result is not None:
            await actions_topic.send(key=result.key.encode(), value=result.to_bytes())


@app.timer(interval=APPROVAL_POLL_S)
async def approval_relay() -> None:
    """Publish approved copies, then mark them (at least once; the ledger dedups)."""
    rt = runtime.current()
    copies, done = await db_retry.call("reading approvals", approvals.take_approved, rt.sessions)
    for copy in copies:
        await decisions_topic.send(key=copy.key.encode(), value=copy.to_bytes())
        log.info("approved %s %s published as %s", copy.action.value, copy.target_id, copy.decision_id)
    if done:
        await db_retry.call("marking approvals dispatched", approvals.mark_dispatched,
                            rt.sessions, done)
