"""The reconciler's reads and writes: the rows its judgement needs, then its changes and
fleet events, in the caller's transaction (one per pass) and under the placement lock, so a
pass and an API placement never interleave."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from novacron.store import fleet, models
from novacron.streams.reconcile_core import EventRecord, HostRow, HostWrite, Stored, VmRow, VmWrite
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from novacron.events import FleetChange

DRIFT_KINDS = (FleetChange.STATE_DRIFT.value, FleetChange.DRIFT_RESOLVED.value)


def lock_and_read(session: Session, now: datetime, in_flight_s: float) -> Stored:
    """Take the placement lock (held to the commit), then read hosts, VMs, and what is in
    flight: placements without an outcome and decisions queued within ``in_flight_s``."""
    fleet.lock_placement(session)
    h, v = models.Host, models.VM
    hosts = {r[0]: HostRow(r[0], r[1], int(r[2]), int(r[3])) for r in session.execute(
        select(h.host_id, h.state, h.vcpus, h.memory_mib))}
    vms = {r[0]: VmRow(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]), r[6]) for r in session.execute(
        select(v.vm_id, v.host_id, v.state, v.desired_state, v.vcpus, v.memory_mib, v.updated_at))}
    since = now - timedelta(seconds=in_flight_s)
    p, o = models.PlacementDecision, models.DecisionOutbox
    placing = {r[0]: r[1] for r in session.execute(
        select(p.vm_id, func.max(p.decided_at)).where(p.outcome.is_(None), p.decided_at > since)
        .group_by(p.vm_id))}
    acting = {r[0]: r[1] for r in session.execute(
        select(o.target_id, func.max(o.created_at)).where(o.created_at > since).group_by(o.target_id))}
    return Stored(hosts=hosts, vms=vms, placing=placing, acting=acting)


def apply(session: Session, hosts: Iterable[HostWrite], vms: Iterable[VmWrite],
          events: Iterable[EventRecord], now: datetime) -> tuple[list[int | None], list[str]]:
    """Write the changes (hosts first: VMs refer to them) and the events. Returns the events'
    row ids, in order (None for one not written), and the VMs whose discovery lost to a
    concurrent insert of the same id (the row is that writer's; ``discovered`` is not written)."""
    for hw in hosts:
        if hw.insert:
            session.execute(pg_insert(models.Host).values(
                host_id=hw.host_id, updated_at=now, facts={}, **hw.values,
            ).on_conflict_do_nothing(index_elements=["host_id"]))
        else:
            session.execute(update(models.Host).where(models.Host.host_id == hw.host_id)
                            .values(updated_at=now, **hw.values))
    # Many rows change at once when a fleet is first seen (1,000 discovered VMs): each kind of
    # write is one statement, since the placement lock is held until the commit.
    vms, events = list(vms), list(events)
    inserts = [{"vm_id": w.vm_id, "updated_at": now, "tags": [], "policy_settings": {}, "spec": {},
                "desired_state": None, **w.values} for w in vms if w.insert]
    lost: list[str] = []
    if inserts:
        made = set(session.scalars(pg_insert(models.VM).values(inserts)
                                   .on_conflict_do_nothing(index_elements=["vm_id"])
                                   .returning(models.VM.vm_id)))
        lost = [r["vm_id"] for r in inserts if r["vm_id"] not in made]
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for w in vms:
        if not w.insert:
            by_columns.setdefault(tuple(sorted(w.values)), []).append({"b_vm_id": w.vm_id, **w.values})
    t = cast(Table, models.VM.__table__)
    for columns, params in by_columns.items():
        stmt = (update(t).where(t.c.vm_id == bindparam("b_vm_id"))
                .values(updated_at=now, **{c: bindparam(c) for c in columns}))
        session.connection().execute(stmt, params)
    rows = [{"occurred_at": now, "kind": ev.change.value, "host_id": ev.host_id, "vm_id": ev.vm_id,
             "reason": ev.reason, "detail": dict(ev.detail)} for ev in events
            if not (ev.change == FleetChange.DISCOVERED and ev.vm_id in lost)]
    written = iter(session.scalars(
        insert(models.FleetEvent).returning(models.FleetEvent.id, sort_by_parameter_order=True),
        rows).all() if rows else [])
    ids: list[int | None] = [None if ev.change == FleetChange.DISCOVERED and ev.vm_id in lost
                             else int(next(written)) for ev in events]
    return ids, lost


def latest_drift_events(session: Session) -> dict[str, tuple[FleetChange, Mapping[str, Any]]]:
    """Each VM's newest state-drift or drift-resolved event (what a restart must remember)."""
    e = models.FleetEvent
    q = (select(e.vm_id, e.kind, e.detail).where(e.kind.in_(DRIFT_KINDS), e.vm_id.is_not(None))
         .order_by(e.vm_id, e.occurred_at.desc(), e.id.desc()).ext(distinct_on(e.vm_id)))
    return {r[0]: (FleetChange(r[1]), r[2] or {}) for r in session.execute(q)}


def fleet_events(session: Session, limit: int = 100, vm_id: str | None = None,
                 kind: str | None = None, host_id: str | None = None) -> list[models.FleetEvent]:
    """Fleet events, newest first."""
    e = models.FleetEvent
    q = select(e).order_by(e.occurred_at.desc(), e.id.desc()).limit(limit)
    if vm_id is not None:
        q = q.where(e.vm_id == vm_id)
    if kind is not None:
        q = q.where(e.kind == kind)
    if host_id is not None:
        q = q.where(e.host_id == host_id)
    return list(session.scalars(q))
