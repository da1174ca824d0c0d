"""The reconciler on real libvirt test-driver hosts and the real PostgreSQL: domains defined,
undefined and moved behind NovaCron's back, a guest off its intent, a host that does not
answer, and the events on novacron.fleet. Host and VM ids are unique per run."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from aiokafka import AIOKafkaConsumer
from novacron.actuators.connection import Fleet, HostConnection
from novacron.actuators.observe import observe_fleet
from novacron.actuators.xml import DomainSpec, HostSpec, NumaCell, domain_xml, host_xml
from novacron.api.placing import FREE_STATES
from novacron.store import fleet as fleet_store
from novacron.store import fleet_sync, models
from novacron.store.db import session_factory
from novacron.streams.reconciler import reconcile_once, run_reconciler
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import FleetEventMsg, utcnow
from novacron.kafka_admin import ensure_topics
from novacron.services import start_all
from novacron.settings import Settings
from novacron.topics import FLEET

RUN = uuid.uuid4().hex[:8]


def spec(name: str, **labels: str) -> DomainSpec:
    return DomainSpec(name=name, vcpus=1, max_vcpus=2, memory_mib=256, max_memory_mib=512, labels=labels)


@pytest.fixture
def hosts(tmp_path: Path, sessions: sessionmaker[Session]) -> Iterator[tuple[Fleet, str, str, str]]:
    """Two test-driver hosts and a third whose daemon is not there (its socket does not exist)."""
    ids = [f"rc-{RUN}-{uuid.uuid4().hex[:4]}-{n}" for n in "abc"]
    conns = []
    for host_id in ids[:2]:
        path = tmp_path / f"{host_id}.xml"
        path.write_text(host_xml(HostSpec(host_id, 8, 16384, (NumaCell(8, 16384),))))
        conns.append(HostConnection(host_id, f"test://{path}", {"rack": "r1", "zone": "z1"}))
    conns.append(HostConnection(ids[2], f"qemu+unix:///session?socket={tmp_path}/gone/libvirt-sock"))
    fleet = Fleet(conns)
    try:
        yield fleet, ids[0], ids[1], ids[2]
    finally:
        fleet.close()
        with sessions.begin() as s:
            s.execute(delete(models.VM).where(models.VM.host_id.in_(ids)))
            s.execute(delete(models.VM).where(models.VM.vm_id.like(f"%-{RUN}-%")))
            s.execute(delete(models.Host).where(models.Host.host_id.in_(ids)))


def define(fleet: Fleet, host_id: str, name: str, start: bool = True, **labels: str) -> libvirt.virDomain:
    dom = fleet.host(host_id).get().defineXML(domain_xml(spec(name, **labels)))
    if start:
        dom.create()
    return dom


def undefine(fleet: Fleet, host_id: str, name: str) -> None:
    dom = fleet.host(host_id).get().lookupByName(name)
    if dom.isActive():
        dom.destroy()
    dom.undefine()


def row(sessions: sessionmaker[Session], vm_id: str) -> models.VM | None:
    with sessions() as s:
        return s.get(models.VM, vm_id)


def events_of(sessions: sessionmaker[Session], vm_id: str) -> list[models.FleetEvent]:
    with sessions() as s:
        return list(reversed(fleet_sync.fleet_events(s, 100, vm_id=vm_id)))


def test_discovered_moved_vanished_on_test_driver_hosts(hosts: tuple[Fleet, str, str, str],
                                                       sessions: sessionmaker[Session]) -> None:
    fleet, a, b, _c = hosts
    vm = f"disc-{RUN}-{uuid.uuid4().hex[:4]}"
    first = reconcile_once(fleet, sessions)
    assert {(e.change.value, e.host_id) for e in first.events} >= {("host-added", a), ("host-added", b)}

    define(fleet, a, vm, app="web", **{"novacron.io/group": "g1"})
    found = reconcile_once(fleet, sessions, memory=first.memory)
    assert [e.change.value for e in found.events if e.vm_id == vm] == ["discovered"]
    r = row(sessions, vm)
    assert r is not None and (r.host_id, r.state, r.vcpus, r.memory_mib) == (a, "running", 1, 256)
    assert r.labels == {"app": "web", "novacron.io/group": "g1"} and r.desired_state is None

    again = reconcile_once(fleet, sessions, memory=found.memory)
    assert [e for e in again.events if e.vm_id == vm or e.host_id in (a, b)] == []

    undefine(fleet, a, vm)
    define(fleet, b, vm, app="web")
    moved = reconcile_once(fleet, sessions, memory=again.memory)
    assert [(e.change.value, e.detail.get("from"), e.detail.get("to")) for e in moved.events
            if e.vm_id == vm] == [("moved", a, b)]
    assert row(sessions, vm).host_id == b  # type: ignore[union-attr]

    with sessions() as s:
        before = fleet_store.fingerprint(s)
    undefine(fleet, b, vm)
    gone = reconcile_once(fleet, sessions, memory=moved.memory)
    assert [e.change.value for e in gone.events if e.vm_id == vm] == ["vanished"]
    r = row(sessions, vm)
    assert r is not None and r.state == "vanished" and r.host_id == b  # kept, not deleted
    with sessions() as s:
        # The API's fleet cache sees the change (its fingerprint covers the row)...
        assert fleet_store.fingerprint(s).vms_by_host.get(b) != before.vms_by_host.get(b)
        # ...and placement no longer counts the VM's capacity.
        _, placed = fleet_store.placement_rows(s, sorted(FREE_STATES), on_hosts=[b])
    assert vm not in {p[0] for p in placed}
    assert [e.kind for e in events_of(sessions, vm)] == ["discovered", "moved", "vanished"]
    assert not [e for e in reconcile_once(fleet, sessions, memory=gone.memory).events if e.vm_id == vm]


def test_a_destroyed_guest_drifts_once_and_keeps_its_intent(hosts: tuple[Fleet, str, str, str],
                                                           sessions: sessionmaker[Session]) -> None:
    fleet, a, _b, _c = hosts
    vm = f"drift-{RUN}-{uuid.uuid4().hex[:4]}"
    memory = reconcile_once(fleet, sessions).memory  # hosts recorded
    dom = define(fleet, a, vm)
    with sessions.begin() as s:  # as the API records a placed VM: its intent is to run
        s.add(models.VM(vm_id=vm, host_id=a, vcpus=1, memory_mib=256, labels={}, state="running",
                        desired_state="running", updated_at=utcnow()))
    memory = reconcile_once(fleet, sessions, memory=memory).memory
    assert events_of(sessions, vm) == []

    dom.destroy()
    report = reconcile_once(fleet, sessions, memory=memory)
    drift = [e for e in report.events if e.vm_id == vm]
    assert [e.change.value for e in drift] == ["state-drift"]
    assert drift[0].detail["desired"] == "running" and drift[0].detail["observed"] == "stopped"
    r = row(sessions, vm)
    assert r is not None and (r.state, r.desired_state) == ("stopped", "running")

    memory = reconcile_once(fleet, sessions, memory=report.memory).memory
    # A restarted reconciler (memory rebuilt from the stored events) does not repeat it either.
    reconcile_once(fleet, sessions)
    assert [e.kind for e in events_of(sessions, vm)] == ["state-drift"]

    dom.create()
    reconcile_once(fleet, sessions, memory=memory)
    assert [e.kind for e in events_of(sessions, vm)] == ["state-drift", "drift-resolved"]
    assert row(sessions, vm).desired_state == "running"  # type: ignore[union-attr]


def test_an_unreachable_host_leaves_its_vms_unknown_and_the_others_reconciled(
        hosts: tuple[Fleet, str, str, str], sessions: sessionmaker[Session]) -> None:
    fleet, a, _b, c = hosts
    on_c, on_a = f"onc-{RUN}-{uuid.uuid4().hex[:4]}", f"ona-{RUN}-{uuid.uuid4().hex[:4]}"
    with sessions.begin() as s:
        s.add(models.Host(host_id=c, uri=fleet.host(c).uri, vcpus=8, memory_mib=16384, labels={},
                          state="up", updated_at=utcnow()))
        s.flush()
        s.add(models.VM(vm_id=on_c, host_id=c, vcpus=1, memory_mib=256, labels={}, state="running",
                        desired_state="running", updated_at=utcnow()))
    define(fleet, a, on_a)
    report = reconcile_once(fleet, sessions, deadline_s=3.0)
    assert c in report.unreachable
    mine = [e for e in report.events if c in (e.host_id,) or e.vm_id in (on_a, on_c)]
    assert {e.change.value for e in mine} == {"host-unreachable", "discovered"}
    unreachable = next(e for e in mine if e.change.value == "host-unreachable")
    assert unreachable.detail["vms_unknown"] == [on_c] and c in unreachable.reason
    r = row(sessions, on_c)
    assert r is not None and r.state == "unknown" and r.host_id == c
    with sessions() as s:
        assert s.get(models.Host, c).state == "unreachable"  # type: ignore[union-attr]
    assert row(sessions, on_a).host_id == a  # type: ignore[union-attr]
    # Once per transition.
    later = reconcile_once(fleet, sessions, memory=report.memory, deadline_s=3.0)
    assert [e for e in later.events if e.host_id == c or e.vm_id == on_c] == []


def test_a_hung_host_is_cut_off_at_the_deadline(tmp_path: Path) -> None:
    """A daemon that accepts the connection and never answers: the look returns in time."""
    import socket
    import time

    sock_path = tmp_path / "hung.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    server.listen(1)
    path = tmp_path / "ok.xml"
    path.write_text(host_xml(HostSpec("ok", 4, 8192, (NumaCell(4, 8192),))))
    fleet = Fleet([HostConnection("hung", f"qemu+unix:///session?socket={sock_path}"),
                   HostConnection("ok", f"test://{path}")])
    try:
        t0 = time.monotonic()
        obs = observe_fleet(fleet, deadline_s=1.0)
        assert time.monotonic() - t0 < 3.0
        assert not obs.hosts["hung"].reachable and "no answer within 1 s" in (obs.hosts["hung"].error or "")
        assert obs.hosts["ok"].reachable
        again = observe_fleet(fleet, deadline_s=1.0)  # the first read is still stuck: no second thread
        assert "has still not returned" in (again.hosts["hung"].error or "")
    finally:
        server.close()  # the stuck read now fails and its thread ends
        fleet.close()


async def test_the_loop_publishes_events_and_outlives_a_database_outage(
        hosts: tuple[Fleet, str, str, str], sessions: sessionmaker[Session], settings: Settings,
        caplog: pytest.LogCaptureFixture) -> None:
    fleet, a, _b, _c = hosts
    start_all(settings, ["postgres", "broker"])
    await ensure_topics(settings)
    vm = f"pub-{RUN}-{uuid.uuid4().hex[:4]}"
    define(fleet, a, vm)
    consumer = AIOKafkaConsumer(FLEET.name, bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="latest", group_id=f"rc-test-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    try:
        await asyncio.wait_for(_assigned(consumer), 20)
        stop = asyncio.Event()
        task = asyncio.create_task(run_reconciler(settings, fleet, sessions, stop, interval_s=0.5))
        got: list[FleetEventMsg] = []
        async with asyncio.timeout(30):
            while not any(m.vm_id == vm for m in got):
                msg = await consumer.getone()
                got.append(FleetEventMsg.model_validate_json(msg.value or b""))
        stop.set()
        await asyncio.wait_for(task, 20)
    finally:
        await consumer.stop()
    ev = next(m for m in got if m.vm_id == vm)
    assert ev.change.value == "discovered" and ev.key == vm and ev.record_id is not None
    with sessions() as s:
        stored = s.get(models.FleetEvent, ev.record_id)
    assert stored is not None and stored.vm_id == vm and stored.reason == ev.reason

    # A database that cannot be reached: each pass fails, is logged, and the loop goes on.
    dead = session_factory("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="novacron.streams.reconciler"):
        task = asyncio.create_task(run_reconciler(settings, fleet, dead, stop, interval_s=0.05))
        async with asyncio.timeout(20):
            while not any("reconcile pass failed" in r.message for r in caplog.records):
                await asyncio.sleep(0.05)
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, 20)
    assert task.exception() is None


async def _assigned(consumer: AIOKafkaConsumer) -> None:
    while not consumer.assignment():
        await asyncio.sleep(0.05)


def test_events_are_read_newest_first_and_filtered(sessions: sessionmaker[Session]) -> None:
    vm = f"ord-{RUN}"
    with sessions.begin() as s:
        for i, kind in enumerate(["discovered", "moved", "vanished"]):
            s.add(models.FleetEvent(occurred_at=utcnow(), kind=kind, vm_id=vm, reason=f"r{i}", detail={}))
    with sessions() as s:
        assert [e.kind for e in fleet_sync.fleet_events(s, 10, vm_id=vm)] == ["vanished", "moved", "discovered"]
        assert [e.reason for e in fleet_sync.fleet_events(s, 10, vm_id=vm, kind="moved")] == ["r1"]
    with sessions.begin() as s:
        s.execute(delete(models.FleetEvent).where(models.FleetEvent.vm_id == vm))
        assert s.scalars(select(models.FleetEvent).where(models.FleetEvent.vm_id == vm)).first() is None
