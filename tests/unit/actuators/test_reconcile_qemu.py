"""The reconciler against two real libvirt daemons running real QEMU guests: a guest started
behind NovaCron's back is discovered; destroyed while its intent is to run, it drifts once and
its intent stays; moved to the other host it has moved; when that host's daemon stops, the
guest is unknown, not vanished, and the first host is still reconciled."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import libvirt
import pytest
from novacron.actuators.connection import Fleet, HostConnection
from novacron.actuators.qemu_session import SessionDaemon, define_guests, remove_guests
from novacron.store import fleet_sync, models
from novacron.streams.reconciler import reconcile_once
from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

RUN = uuid.uuid4().hex[:8]
A, B = f"rq-{RUN}-a", f"rq-{RUN}-b"


@pytest.fixture(scope="module")
def daemons() -> Iterator[tuple[SessionDaemon, SessionDaemon]]:
    with SessionDaemon() as da, SessionDaemon() as db:
        yield da, db


def kinds(sessions: sessionmaker[Session], vm_id: str) -> list[str]:
    with sessions() as s:
        return [e.kind for e in reversed(fleet_sync.fleet_events(s, 100, vm_id=vm_id))]


def test_real_guests_discovered_drifted_moved_and_unknown(
        daemons: tuple[SessionDaemon, SessionDaemon], sessions: sessionmaker[Session]) -> None:
    da, db = daemons
    fleet = Fleet([HostConnection(A, da.uri, {"rack": "r1"}), HostConnection(B, db.uri, {"rack": "r2"})])
    guest, other = f"g-{RUN}", f"h-{RUN}"
    try:
        define_guests(fleet, A, [guest])  # behind NovaCron's back: PostgreSQL knows nothing
        report = reconcile_once(fleet, sessions)
        assert {e.change.value for e in report.events if e.host_id in (A, B)} >= {"host-added", "discovered"}
        with sessions() as s:
            row = s.get(models.VM, guest)
            assert row is not None and (row.host_id, row.state, row.vcpus, row.memory_mib) == (A, "running", 1, 32)
            assert row.labels == {"host": A, "app": "chaos-qemu"}
        with sessions.begin() as s:  # an operator states the intent
            s.execute(update(models.VM).where(models.VM.vm_id == guest).values(desired_state="running"))
        memory = reconcile_once(fleet, sessions, memory=report.memory).memory

        fleet.host(A).get().lookupByName(guest).destroy()  # the QEMU process is gone
        memory = reconcile_once(fleet, sessions, memory=memory).memory
        memory = reconcile_once(fleet, sessions, memory=memory).memory
        assert kinds(sessions, guest) == ["discovered", "state-drift"]
        with sessions() as s:
            row = s.get(models.VM, guest)
            assert row is not None and (row.state, row.desired_state) == ("stopped", "running")

        xml = fleet.host(A).get().lookupByName(guest).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        fleet.host(A).get().lookupByName(guest).undefine()
        fleet.host(B).get().defineXML(xml)  # moved by hand: defined on B, not started
        memory = reconcile_once(fleet, sessions, memory=memory).memory
        assert kinds(sessions, guest) == ["discovered", "state-drift", "moved"]
        with sessions() as s:
            assert s.get(models.VM, guest).host_id == B  # type: ignore[union-attr]

        db.close()  # host B's daemon stops
        define_guests(fleet, A, [other], start=False)
        report = reconcile_once(fleet, sessions, memory=memory, deadline_s=5.0)
        assert B in report.unreachable
        assert {(e.change.value, e.host_id) for e in report.events if e.host_id in (A, B)} == {
            ("host-unreachable", B), ("discovered", A)}
        with sessions() as s:
            row = s.get(models.VM, guest)
            assert row is not None and (row.state, row.host_id, row.desired_state) == ("unknown", B, "running")
            assert s.get(models.Host, B).state == "unreachable"  # type: ignore[union-attr]
            assert s.get(models.VM, other).host_id == A  # type: ignore[union-attr]
        assert "vanished" not in kinds(sessions, guest)
    finally:
        remove_guests(fleet, A, [guest, other])
        with contextlib.suppress(Exception):
            remove_guests(fleet, B, [guest])
        fleet.close()
        with sessions.begin() as s:
            s.execute(delete(models.VM).where(models.VM.vm_id.in_([guest, other])))
            s.execute(delete(models.Host).where(models.Host.host_id.in_([A, B])))
