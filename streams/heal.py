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

A host's loss is seen as it happens (actuators.host_watch: libvirt's close callback): from
then on the controller's heartbeats of it stop at once, without a reconnect attempt per
tick, and the healer, after its host timeout and quorum, fences it with the runtime's power
switch and restarts its VMs elsewhere. When the host answers again its stale copies (shut
off, defined, now running elsewhere) are undefined there, so none can run twice.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
from datetime import datetime
from typing import Any

from novacron.actuators.connection import Fleet
from novacron.actuators.events import LifecycleWatcher, to_health_event
from novacron.actuators.fencing import LibvirtDestroyFencer, PowerFencer
from novacron.actuators.host_watch import HostLost, HostWatcher
from novacron.actuators.migrate import undefine_stale
from novacron.actuators.placement_state import inventory, reachable, remember_specs
from novacron.healing import Fencer, Healer, LifecycleEvent
from novacron.healing.labels import InventoryVm
from novacron.store import healing_repo, models
from novacron.streams import db_retry, liveness, runtime
from novacron.streams.app import app, decisions_topic, health_topic
from novacron.streams.deadletter import send_dead_letter
from novacron.streams.heal_core import HealLoop, Step
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from novacron import topics as registry
from novacron.events import HealthEvent, HealthState, InvalidEvent, decode, utcnow

log = logging.getLogger(__name__)

# Metric liveness does not come through here: the feature agent, which decodes every sample
# anyway, hands the arrivals over (streams.liveness) and the heartbeat timer feeds them in.
heal_inputs = app.topic(registry.HEALTH.name, registry.ACTIONS.name,
                        value_serializer="raw", key_serializer="raw")

# How often the inventory (domains and their healing labels) is read again from libvirt.
INVENTORY_REFRESH_S = 30.0

_loop: HealLoop | None = None
_watcher: LifecycleWatcher | None = None
_hosts: HostWatcher | None = None
_lifecycle: queue.SimpleQueue[LifecycleEvent] = queue.SimpleQueue()
_lost: queue.SimpleQueue[HostLost] = queue.SimpleQueue()
# Label problems already logged: the inventory is re-read every INVENTORY_REFRESH_S.
_warned: set[str] = set()


def host_fencer(rt: runtime.Runtime) -> Fencer:
    """Power fencing when the runtime has a power switch; else libvirt's destroy, which
    fences a VM on a host that answers but never a host that does not (no proof it is off),
    so a failed host's VMs stay where they were and the healer hands them to an operator."""
    if rt.power_switch is not None:
        return PowerFencer(rt.power_switch, rt.fleet)
    log.warning("no power switch configured: a failed host cannot be proven off, so its VMs "
                "will not be restarted elsewhere (VM-level healing works). Production fences "
                "hosts through IPMI or Redfish behind actuators.fencing.PowerSwitch, passed as "
                "Runtime.power_switch")
    return LibvirtDestroyFencer(rt.fleet)


def _with_overcommit(inv: list[tuple[str, dict[str, str], int, list[InventoryVm]]],
                     ) -> list[tuple[str, dict[str, str], int, list[InventoryVm]]]:
    """A host's room for recovered VMs as placement counts it: its CPUs times the inventory's
    CPU overcommit (hosts.facts), so a failover fits where placement and consolidation put
    VMs. Without the facts (a host not synced, the database away) its CPUs."""
    facts: dict[str, dict[str, Any]] = {}
    try:
        with runtime.current().sessions() as s:
            facts = dict(s.execute(select(models.Host.host_id, models.Host.facts).where(
                models.Host.host_id.in_([h for h, *_ in inv]))).tuples().all())
    except SQLAlchemyError as exc:
        log.info("host overcommit not read (%s): the healer counts CPUs", exc)

    def ratio(host_id: str) -> float:
        oc = (facts.get(host_id) or {}).get("overcommit") or {}
        try:
            return max(1.0, float(oc.get("cpu", 1.0)))
        except (TypeError, ValueError):
            return 1.0
    return [(h, labels, int(cpus * ratio(h)), vms) for h, labels, cpus, vms in inv]


def _heal_loop() -> HealLoop:
    global _loop, _watcher, _hosts
    if _loop is None:
        rt = runtime.current()
        healer = Healer(fencer=host_fencer(rt), rng=random.Random(), settings=rt.healing)
        _hosts = HostWatcher(rt.fleet, on_lost=_lost.put)
        _hosts.start()
        remember_specs(rt.fleet)
        _loop = HealLoop(healer)
        _loop.register(_with_overcommit(inventory(rt.fleet, _warned)), utcnow())
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
    """New domains and changed healing labels reach the healer without a restart; the running
    VMs' specs are kept for a failover from a host that can no longer be read."""
    loop = await asyncio.to_thread(_heal_loop)
    fleet = runtime.current().fleet
    vms = await asyncio.to_thread(lambda: _with_overcommit(inventory(fleet, _warned)))
    await asyncio.to_thread(remember_specs, fleet)
    await _publish(await asyncio.to_thread(loop.register, vms, utcnow()))


def _host_event(host_id: str, state: HealthState, reason: str, at: datetime,
                detail: dict[str, Any]) -> HealthEvent:
    return HealthEvent(occurred_at=at, subject_kind="host", subject_id=host_id, state=state,
                       reason=reason, evidence={"source": "host_watch", **detail})


def _record_host_events(events: list[tuple[HealthEvent, str, str | None]]) -> None:
    """fleet_events rows (kind, VM) for the operator: a host lost, a stale copy undefined."""
    with runtime.current().sessions.begin() as s:
        for ev, kind, vm_id in events:
            s.add(models.FleetEvent(occurred_at=ev.occurred_at, kind=kind, host_id=ev.subject_id,
                                    vm_id=vm_id, reason=ev.reason, detail=dict(ev.evidence)))


def _host_changes(fleet: Fleet, hosts: HostWatcher, lifecycle: LifecycleWatcher | None,
                  ) -> tuple[list[str], list[tuple[HealthEvent, str, str | None]]]:
    """(hosts the controller reaches now, what changed): hosts lost since the last tick,
    and lost hosts that answer again, whose stale copies are undefined (the VMs run
    elsewhere) and whose lifecycle events are watched again on the new connection."""
    changes: list[tuple[HealthEvent, str, str | None]] = []
    while True:
        try:
            lost = _lost.get_nowait()
        except queue.Empty:
            break
        log.warning("host %s lost (%s): its heartbeats stop; the healer fences it after its "
                    "host timeout unless it answers again", lost.host_id, lost.reason)
        changes.append((_host_event(lost.host_id, HealthState.FAILED,
                                    f"connection lost: {lost.reason}", utcnow(),
                                    {"reason": lost.reason}), "host-lost", None))
    for host_id in hosts.poll():
        try:
            cleared = undefine_stale(fleet, host_id)
            if lifecycle is not None:
                lifecycle.rearm(host_id)
        except Exception as exc:  # libvirt's errors too: gone again, its close callback says so
            log.warning("host %s answered, then failed while its stale copies were cleared: %s",
                        host_id, exc)
            continue
        now = utcnow()
        log.warning("host %s is back; stale copies undefined there: %s", host_id,
                    ", ".join(cleared) or "none")
        changes.append((_host_event(host_id, HealthState.HEALTHY, "host answers again", now,
                                    {"stale_undefined": cleared}), "host-back", None))
        changes += [(_host_event(host_id, HealthState.HEALTHY,
                                 f"stale copy undefined: {c}", now, {}), "stale-copy-undefined",
                     c.split(" ", 1)[0]) for c in cleared]
    lost_now = set(hosts.lost)
    # A lost host is not asked again here (poll() reconnects it): its silence starts now.
    answering = Fleet([h for h_id, h in fleet.hosts.items() if h_id not in lost_now])
    return reachable(answering), changes


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
    if _hosts is None:
        return
    alive, changes = await asyncio.to_thread(_host_changes, runtime.current().fleet, _hosts,
                                             _watcher)
    for host_ev, _, _ in changes:
        await health_topic.send(key=host_ev.key.encode(), value=host_ev.to_bytes())
    if changes:
        await db_retry.call("recording host events", _record_host_events, changes)
    await _publish(await asyncio.to_thread(loop.heartbeat, alive, utcnow()))
