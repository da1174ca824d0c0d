"""The placement engine's fleet state, kept in this process between placements.

Rebuilding it from PostgreSQL costs tens of milliseconds per placement (every host and VM
loaded into Python). Instead each process keeps the last state with the fingerprint of the
rows it reflects (novacron.store.fleet.fingerprint: one count and hash sum for the hosts, one
per host for the VMs on it). Under the placement lock a placement reads the database's current
fingerprint, a few milliseconds of aggregate work inside PostgreSQL, and compares:

- equal: the cached state is the fleet as committed; use it;
- the hosts changed (added, removed, down, resized, relabelled): rebuild everything;
- only some hosts' VMs changed (another API process placed, a VM was deleted, stopped or
  moved): reload just the VMs of those hosts.

A placement made here updates the cached state and fingerprint in place before its
transaction commits. If the transaction then rolls back, that host's fingerprint no longer
matches the database's and the next placement reloads it: the cache can only be found stale,
never trusted when wrong. Capacity is never double-booked because the check and the insert
still happen under one PostgreSQL advisory lock (novacron.store.fleet.lock_placement), now held
for milliseconds instead of a full rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass
from threading import Lock
from typing import Any

from novacron.api import placing
from novacron.placement.state import FleetState
from novacron.store import fleet
from sqlalchemy.orm import Session

# Past this many changed hosts a full rebuild is as cheap as reloading them one by one.
MAX_DELTA_HOSTS = 64


@dataclass
class Snapshot:
    print: fleet.FleetPrint
    state: FleetState


_lock = Lock()
_snapshot: Snapshot | None = None
stats = {"hits": 0, "reloads": 0, "rebuilds": 0}


def current(session: Session, now: fleet.FleetPrint | None = None) -> Snapshot:
    """The fleet as this transaction sees it. Call with the placement lock held: the snapshot
    is shared, and that lock is what serialises its users across threads and processes.
    ``now``: the fingerprint already read under the lock in this transaction, if it was."""
    global _snapshot
    txn = session.get_transaction()
    with _lock:
        snap = _snapshot
    if snap is not None and txn is not None and session.info.get("fleet_checked") is txn:
        # Checked earlier in this transaction, under the lock, and kept current since.
        stats["hits"] += 1
        return snap
    session.info["fleet_checked"] = txn
    if now is None:
        now = fleet.fingerprint(session)
    if snap is not None and snap.print.hosts == now.hosts:
        changed = now.changed_hosts(snap.print)
        if not changed:
            stats["hits"] += 1
            return snap
        if len(changed) <= MAX_DELTA_HOSTS:
            placing.reload_hosts(session, snap.state, changed)
            snap.print = now
            stats["reloads"] += 1
            return snap
    snap = Snapshot(now, placing.fleet_state(session))
    with _lock:
        _snapshot = snap
    stats["rebuilds"] += 1
    return snap


def vm_added(snap: Snapshot, vm_id: str, host_id: str, vcpus: int, memory_mib: int,
             labels: dict[str, str], row_hash: int, anti: list[dict[str, Any]] | None = None) -> None:
    """Record in ``snap`` the VM row this transaction just inserted (as stored: whole vCPUs)."""
    idx = snap.state.index.get(host_id)
    if idx is None:  # cannot happen under the lock; rebuild next time rather than guess
        invalidate()
        return
    snap.state.place(placing.vm_spec(vm_id, vcpus, memory_mib, labels), idx,
                     anti=placing.anti_keys(anti or []))
    fleet.note_new_vm(snap.print, host_id, row_hash)


def invalidate() -> None:
    global _snapshot
    with _lock:
        _snapshot = None
