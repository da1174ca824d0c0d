"""The placement engine's fleet state, kept in this process between placements.

Rebuilding it from PostgreSQL costs tens of milliseconds per placement (every host and VM
loaded into Python). Instead each process keeps the last state with the fingerprint of the
rows it was built from (novacron.store.fleet.fingerprint). Under the placement lock a
placement compares that with the database's current fingerprint, a few milliseconds of
aggregate work inside PostgreSQL: equal, the cached state is the fleet as committed; different
(another process placed, a VM was deleted or moved, a host went down), it is rebuilt.

A placement made here updates the cached state and fingerprint in place before its
transaction commits. If the transaction then rolls back, the database's fingerprint no longer
matches the cached one and the next placement rebuilds: the cache can be stale only in the
safe direction, never trusted when wrong. No capacity is double-booked because the check and
the insert still happen under one PostgreSQL advisory lock (novacron.store.fleet.lock_placement),
now held for milliseconds rather than for a full rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass
from threading import Lock

from novacron.api import placing
from novacron.placement.state import FleetState
from novacron.store import fleet
from sqlalchemy.orm import Session


@dataclass
class Snapshot:
    print: fleet.FleetPrint
    state: FleetState


_lock = Lock()
_snapshot: Snapshot | None = None
stats = {"hits": 0, "rebuilds": 0}


def current(session: Session) -> Snapshot:
    """The fleet as this transaction sees it. Call with the placement lock held: the snapshot
    is shared, and the lock is what serialises its users across threads and processes."""
    global _snapshot
    now = fleet.fingerprint(session)
    with _lock:
        snap = _snapshot
        if snap is not None and snap.print == now:
            stats["hits"] += 1
            return snap
    snap = Snapshot(now, placing.fleet_state(session))
    with _lock:
        _snapshot = snap
        stats["rebuilds"] += 1
    return snap


def vm_added(session: Session, snap: Snapshot, vm_id: str, host_id: str, vcpus: int, memory_mib: int,
             labels: dict[str, str]) -> None:
    """Record in ``snap`` the VM row this transaction just inserted (as stored: whole vCPUs)."""
    idx = snap.state.index.get(host_id)
    if idx is None:  # cannot happen under the lock; rebuild next time rather than guess
        invalidate()
        return
    snap.state.place(placing.vm_spec(vm_id, vcpus, memory_mib, labels), idx)
    snap.print = fleet.with_new_vm(snap.print, session, vm_id)


def invalidate() -> None:
    global _snapshot
    with _lock:
        _snapshot = None
