"""Actuator agent: apply decisions to libvirt, once each, and publish the verified outcome."""

from __future__ import annotations

import asyncio
from typing import Any

from novacron.actuators.executor import execute
from novacron.store.ledger import PgLedger
from novacron.streams import runtime
from novacron.streams.app import actions_topic, app, decisions_topic
from novacron.streams.deadletter import decode_or_dead_letter

from novacron import topics as registry
from novacron.events import Decision


@app.agent(decisions_topic)
async def actuator_agent(stream: Any) -> None:
    async for event in stream.events():
        decision = await decode_or_dead_letter(Decision, registry.DECISIONS.name,
                                               event.key, event.value, "actuator_agent")
        if decision is None:
            continue
        rt = runtime.current()
        ledger = PgLedger(rt.sessions)
        # libvirt and the ledger block: keep them off the event loop.
        result = await asyncio.to_thread(execute, decision, rt.fleet, ledger, rt.paused)
        if result is not None:
            await actions_topic.send(key=result.key.encode(), value=result.to_bytes())
