"""The reconciler: keeps PostgreSQL's hosts and VMs equal to what libvirt reports.

Each pass looks at every host (actuators.observe, bounded by a deadline), then in one
transaction under the placement lock reads the rows, judges (streams.reconcile_core, pure),
writes the changes and the fleet events, and commits; the events then go to novacron.fleet.
The loop outlives any failure of a pass (database, broker, libvirt) with a logged warning and
a growing pause."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from novacron.actuators.connection import Fleet
from novacron.actuators.observe import observe_fleet
from novacron.store import fleet_sync
from novacron.streams.reconcile_core import Config, Memory, memory_from_events, plan
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import FleetEventMsg, utcnow
from novacron.kafka_admin import ensure_topics
from novacron.settings import Settings
from novacron.topics import FLEET

log = logging.getLogger(__name__)

# An event's id is derived from its fleet_events row, so a re-sent event is recognisable.
_EVENT_NS = uuid.UUID("6d1c1f4e-3b0a-4f57-9a43-2f7f0c5c9e11")
MAX_BACKOFF_S = 300.0
MAX_UNSENT = 10_000  # events kept for the broker while it is down (PostgreSQL has them all)


@dataclass
class ReconcileReport:
    at: datetime
    hosts: int
    unreachable: dict[str, str]  # host id -> why
    hosts_written: int
    vms_written: int
    events: list[FleetEventMsg]
    deferred: tuple[str, ...]  # VM rows changed during the look: judged next pass
    unaddressable: tuple[str, ...]  # domains whose names the API cannot address: not recorded
    observe_ms: float
    write_ms: float  # the transaction, placement lock included
    memory: Memory = field(repr=False, default_factory=Memory)


def reconcile_once(fleet: Fleet, sessions: sessionmaker[Session], *, memory: Memory | None = None,
                   config: Config | None = None, deadline_s: float = 5.0) -> ReconcileReport:
    """One pass. ``memory``: the previous pass's (None: rebuilt from stored events)."""
    cfg = config or Config()
    t0 = time.perf_counter()
    obs = observe_fleet(fleet, deadline_s)
    t1 = time.perf_counter()
    now = utcnow()
    with sessions.begin() as s:
        if memory is None:
            memory = memory_from_events(fleet_sync.latest_drift_events(s))
        stored = fleet_sync.lock_and_read(s, now, cfg.in_flight_s)
        p = plan(stored, obs, memory, now, cfg)
        ids, lost = fleet_sync.apply(s, p.hosts, p.vms, p.events, now)
    t2 = time.perf_counter()
    events = [
        FleetEventMsg(event_id=uuid.uuid5(_EVENT_NS, str(rid)), occurred_at=now, change=ev.change,
                      host_id=ev.host_id, vm_id=ev.vm_id, reason=ev.reason, detail=dict(ev.detail),
                      record_id=rid)
        for ev, rid in zip(p.events, ids, strict=True) if rid is not None]
    for ev in events:
        log.info("fleet %s: %s", ev.change.value, ev.reason)
    if lost:
        log.info("discovered VMs recorded concurrently by another writer: %s", ", ".join(lost))
    return ReconcileReport(
        at=now, hosts=len(obs.hosts),
        unreachable={h: o.error or "unreachable" for h, o in obs.hosts.items() if not o.reachable},
        hosts_written=len(p.hosts), vms_written=len(p.vms) - len(lost), events=events,
        deferred=p.deferred, unaddressable=p.unaddressable,
        observe_ms=(t1 - t0) * 1000, write_ms=(t2 - t1) * 1000, memory=p.memory)


class _Publisher:
    """Sends fleet events to novacron.fleet; keeps them (bounded) while the broker is away."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer: AIOKafkaProducer | None = None
        self.unsent: collections.deque[FleetEventMsg] = collections.deque(maxlen=MAX_UNSENT)

    async def publish(self, events: list[FleetEventMsg]) -> None:
        self.unsent.extend(events)
        if not self.unsent:
            return
        try:
            if self.producer is None:
                await ensure_topics(self.settings, attempts=2)
                producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, linger_ms=5)
                await producer.start()
                self.producer = producer
            batch = list(self.unsent)
            sent = [await self.producer.send(FLEET.name, ev.to_bytes(), key=ev.key.encode())
                    for ev in batch]
            await asyncio.gather(*sent)
            for _ in batch:
                self.unsent.popleft()
        except (KafkaError, OSError) as exc:
            log.warning("fleet events not sent to %s (%s); %d kept for the next pass",
                        FLEET.name, exc, len(self.unsent))
            await self.close()

    async def close(self) -> None:
        if self.producer is not None:
            producer, self.producer = self.producer, None
            with contextlib.suppress(KafkaError, OSError):
                await producer.stop()


async def run_reconciler(settings: Settings, fleet: Fleet, sessions: sessionmaker[Session],
                         stop: asyncio.Event, interval_s: float = 10.0, *,
                         config: Config | None = None, deadline_s: float | None = None) -> None:
    """Reconcile every ``interval_s`` until ``stop`` is set. A failed pass is logged and the
    next one waits twice as long (up to five minutes); a good pass resets the wait."""
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    # A dead host must not hold the pass past its interval.
    deadline = deadline_s if deadline_s is not None else max(1.0, min(10.0, interval_s / 2))
    publisher = _Publisher(settings)
    memory: Memory | None = None
    failures = 0
    try:
        while not stop.is_set():
            try:
                report = await asyncio.to_thread(reconcile_once, fleet, sessions, memory=memory,
                                                 config=config, deadline_s=deadline)
                memory, failures, wait = report.memory, 0, interval_s
                await publisher.publish(report.events)
            except Exception as exc:  # the loop must outlive any one pass
                failures += 1
                wait = min(MAX_BACKOFF_S, interval_s * 2 ** min(failures, 10))
                log.warning("reconcile pass failed (%s: %s); next try in %.0f s",
                            type(exc).__name__, exc, wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
    finally:
        await publisher.close()
