"""Heal agent: feed the Healer (lifecycle events on novacron.health, metric staleness from
the feature agent's metric arrivals, outcomes on novacron.actions) and publish its decisions on
novacron.decisions, where the actuator agent executes them. Outcomes go to healing_events.

libvirt lifecycle events are watched here too and published on novacron.health, so every
consumer sees them and the healer reads them back through the topic like any other input.
The healer is one stateful instance: run one worker with this agent (partitioned healing
needs per-partition healers, which the pure core allows but this wiring does not yet do).
A health message it cannot read goes to novacron.deadletter (malformed outcomes on
novacron.actions are dead-lettered by the group agent, which reads that topic too); records
wait out a PostgreSQL outage (streams.db_retry).
"""

from __future__ import annotations

import asyncio
import queue
import random
from typing import Any

from novacron.actuators.events import LifecycleWatcher, to_health_event
from novacron.actuators.fencing import LibvirtDestroyFencer
from novacron.actuators.placement_state import inventory, reachable
from novacron.healing import Healer, LifecycleEvent
from novacron.store import healing_repo
from novacron.streams import db_retry, liveness, runtime
from novacron.streams.app import app, decisions_topic, health_topic
from novacron.streams.deadletter import send_dead_letter
from novacron.streams.heal_core import HealLoop, Step

from novacron import topics as registry
from novacron.events import HealthEvent, InvalidEvent, decode, utcnow

# Metric liveness does not come through here: the feature agent, which decodes every sample
# anyway, hands the arrivals over (streams.liveness) and the heartbeat timer feeds them in.
heal_inputs = app.topic(registry.HEALTH.name, registry.ACTIONS.name,
                        value_serializer="raw", key_serializer="raw")

# How often the inventory (domains and their healing labels) is read again from libvirt.
INVENTORY_REFRESH_S = 30.0

_loop: HealLoop | None = None
_watcher: LifecycleWatcher | None = None
_lifecycle: queue.SimpleQueue[LifecycleEvent] = queue.SimpleQueue()
# Label problems already logged: the inventory is re-read every INVENTORY_REFRESH_S.
_warned: set[str] = set()


def _heal_loop() -> HealLoop:
    global _loop, _watcher
    if _loop is None:
        rt = runtime.current()
        healer = Healer(fencer=LibvirtDestroyFencer(rt.fleet), rng=random.Random())
        _loop = HealLoop(healer)
        _loop.register(inventory(rt.fleet, _warned), utcnow())
        _watcher = LifecycleWatcher(rt.fleet, _lifecycle.put)
        _watcher.start()
    return _loop


def _store(step: Step) -> None:
    if not step.records:
        return
    with runtime.current().sessions.begin() as s:
        for r in step.records:
            healing_repo.record_outcome(
                s, key=r.key, subject_id=r.subject_id, diagnosis=r.diagnosis, rung=r.rung,
                succeeded=r.succeeded, duration_s=r.duration_s, occurred_at=r.occurred_at,
                evidence=r.evidence)


async def _publish(step: Step) -> None:
    for d in step.decisions:
        await decisions_topic.send(key=d.key.encode(), value=d.to_bytes())
    if step.records:
        await db_retry.call("recording healing events", _store, step)


def _metrics_seen(loop: HealLoop) -> Step:
    step = Step()
    for at, vms in liveness.drain():
        step.extend(loop.seen(vms, at))
    return step


async def _readable(events: list[Any]) -> list[bytes | None]:
    """The values the healer can read; an unreadable health event is dead-lettered with the
    reason (the healer would otherwise pass over it without a trace)."""
    out: list[bytes | None] = []
    for event in events:
        if event.message.topic == registry.HEALTH.name:
            try:
                decode(HealthEvent, event.value)
            except InvalidEvent as exc:
                await send_dead_letter(registry.HEALTH.name, event.key, event.value, exc.reason,
                                       "heal_agent")
                continue
        out.append(event.value)
    return out


@app.agent(heal_inputs)
async def heal_agent(stream: Any) -> None:
    async for events in stream.take_events(500, within=0.2):
        batch = await _readable(events)
        loop = await asyncio.to_thread(_heal_loop)
        # Arrivals noted so far first, so a VM that just reported is watched when its
        # lifecycle event is judged.
        await _publish(await asyncio.to_thread(_metrics_seen, loop))
        await _publish(await asyncio.to_thread(loop.ingest, batch))


@app.timer(interval=INVENTORY_REFRESH_S)
async def heal_inventory() -> None:
    """New domains and changed healing labels reach the healer without a restart."""
    loop = await asyncio.to_thread(_heal_loop)
    vms = await asyncio.to_thread(inventory, runtime.current().fleet, _warned)
    await _publish(await asyncio.to_thread(loop.register, vms, utcnow()))


@app.timer(interval=1.0)
async def heal_heartbeat() -> None:
    """Lifecycle events out to the topic; the controller's host heartbeats and a re-judgement
    (timeouts, staleness) in."""
    loop = await asyncio.to_thread(_heal_loop)
    await _publish(await asyncio.to_thread(_metrics_seen, loop))
    while True:
        try:
            ev = _lifecycle.get_nowait()
        except queue.Empty:
            break
        he = to_health_event(ev)
        await health_topic.send(key=he.key.encode(), value=he.to_bytes())
    alive = await asyncio.to_thread(reachable, runtime.current().fleet)
    await _publish(await asyncio.to_thread(loop.heartbeat, alive, utcnow()))
