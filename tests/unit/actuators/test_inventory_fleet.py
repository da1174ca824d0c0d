"""An inventory opened as a fleet: libvirt fills the facts the inventory leaves out (test-driver
hosts and a real session daemon), an unreachable host is marked and the others are served, the
facts reach the hosts table, and placement decides on them."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from novacron.actuators import simfleet
from novacron.actuators.inventory_fleet import host_facts, identify, open_fleet
from novacron.actuators.qemu_session import SessionDaemon
from novacron.actuators.xml import HostSpec, host_xml
from novacron.actuators.xml import NumaCell as XmlCell
from novacron.api import fleet_cache, placing
from novacron.placement.engine import Scheduler
from novacron.placement.types import DecisionStatus, PlacementRequest, VMSpec
from novacron.store import fleet as store_fleet
from novacron.store import models, repository
from novacron.store.db import engine, migrate, session_factory
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from novacron.inventory import (
    HostEntry,
    Inventory,
    NumaCell,
    Probe,
    host_facts_of,
    load_inventory,
    parse_inventory,
)
from novacron.settings import Settings

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def private_db(sessions: sessionmaker[Session], settings: Settings) -> Iterator[sessionmaker[Session]]:
    """A database of this module's own, migrated to head: syncing an inventory retires or
    removes the hosts it no longer lists, which must not touch what other runs keep in the
    shared one."""
    name = f"novacron_inv_{uuid.uuid4().hex[:10]}"
    admin = create_engine(settings.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(settings.database_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield session_factory(url)
    finally:
        engine(url).dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _host_file(directory: Path, name: str, cpus: int = 32, memory_mib: int = 131072) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.xml"
    path.write_text(host_xml(HostSpec(name, cpus, memory_mib, (XmlCell(cpus, memory_mib),))))
    return f"test://{path.resolve()}"


# -- the simulated fleet is an inventory -----------------------------------------------------


def test_the_simulated_fleet_is_written_as_an_inventory_equal_to_its_layout(tmp_path: Path) -> None:
    path = simfleet.write(tmp_path, hosts=5, vms_per_host=2)
    written = load_inventory(path)
    specs = simfleet.layout(5, 2)
    assert written == simfleet.inventory_of(tmp_path, specs)
    for entry, spec in zip(written.hosts, specs, strict=True):
        assert entry.id == spec.name
        assert entry.host_labels() == spec.labels
        assert entry.numa == tuple(NumaCell(c.cpus, c.memory_mib) for c in spec.numa)
        assert entry.uri == f"test://{(tmp_path / f'{spec.name}.xml').resolve()}"
        assert entry.price_per_hour is not None and entry.price_per_hour > 0
    fleet = simfleet.build(tmp_path, hosts=5, vms_per_host=2)
    try:
        assert list(fleet.hosts) == written.ids
        assert fleet.host("host-003").labels == {"rack": "rack-3", "zone": "zone-1"}
        assert fleet.lookup("host-003", "vm-003-01") is not None
        assert set(fleet.specs) == {vm for vm, _ in simfleet.vm_ids(5, 2)}
    finally:
        fleet.close()


def test_open_fleet_fills_size_from_libvirt_and_keeps_the_inventorys_numa(tmp_path: Path) -> None:
    inv = load_inventory(simfleet.write(tmp_path, hosts=3, vms_per_host=1))
    fleet = open_fleet(inv)
    try:
        facts = host_facts(fleet, inv)
    finally:
        fleet.close()
    assert list(facts) == inv.ids
    for f in facts.values():
        assert f.reachable and f.error is None
        assert (f.vcpus, f.memory_mib) == (32, 131072)  # the host files' size, read by getInfo()
        assert f.numa == (NumaCell(16, 65536), NumaCell(16, 65536)) and f.numa_source == "inventory"
        assert f.as_json()["inventory"] == str(tmp_path / simfleet.INVENTORY_FILE)


def test_a_real_daemon_gives_its_numa_cells_cpus_and_uuid() -> None:
    with SessionDaemon() as daemon:
        inv = Inventory((HostEntry("real-1", daemon.uri, rack="r1"),
                         HostEntry("real-pinned", daemon.uri.replace("?", "?mode=legacy&"),
                                   numa=(NumaCell(1, 512),))))
        fleet = open_fleet(inv)
        try:
            facts = host_facts(fleet, inv)
            told = identify(daemon.uri)
        finally:
            fleet.close()
    real = facts["real-1"]
    assert real.reachable, real.error
    # What the machine itself says, independently of libvirt.
    nodes = sorted(Path("/sys/devices/system/node").glob("node[0-9]*"))
    assert real.vcpus == os.cpu_count()
    assert real.numa_source == "libvirt" and len(real.numa) == max(1, len(nodes))
    assert sum(c.cpus for c in real.numa) == real.vcpus
    if nodes:
        kib = sum(int(re.search(r"MemTotal:\s+(\d+)", (n / "meminfo").read_text()).group(1))  # type: ignore[union-attr]
                  for n in nodes)
        assert abs(sum(c.memory_mib for c in real.numa) - kib // 1024) <= len(nodes)
    assert real.uuid is not None and UUID.match(real.uuid)
    assert real.labels == {"rack": "r1", "zone": "zone-0"}
    # The inventory's cells win over libvirt's; the size still comes from libvirt.
    pinned = facts["real-pinned"]
    assert pinned.numa == (NumaCell(1, 512),) and pinned.numa_source == "inventory"
    assert pinned.vcpus == real.vcpus and pinned.uuid == real.uuid
    assert told is not None and told.uuid == real.uuid and told.hostname


def test_an_unreachable_host_is_marked_and_the_others_are_served(
        tmp_path: Path, private_db: sessionmaker[Session]) -> None:
    tag = uuid.uuid4().hex[:6]
    gone_uri = f"qemu+unix:///system?socket={tmp_path}/nowhere/libvirt-sock"
    inv = parse_inventory(f"""
hosts:
  - {{id: ok-a-{tag}, uri: "{_host_file(tmp_path, 'a')}"}}
  - {{id: gone-{tag}, uri: "{gone_uri}", capacity: {{vcpus: 64}}}}
  - {{id: ok-b-{tag}, uri: "{_host_file(tmp_path, 'b')}"}}
""", "inv.yaml")
    fleet = open_fleet(inv)
    try:
        facts = host_facts(fleet, inv)
        assert [f.reachable for f in facts.values()] == [True, False, True]
        gone = facts[f"gone-{tag}"]
        assert f"cannot connect to host gone-{tag} at {gone_uri}" in str(gone.error)
        assert gone.vcpus == 64 and gone.memory_mib is None  # the inventory's word only
        # The others are served: their domains can be read and defined.
        assert fleet.host(f"ok-b-{tag}").get().getInfo()[2] == 32
    finally:
        fleet.close()
    with private_db.begin() as s:
        synced = repository.sync_hosts(s, inv, facts)
    assert synced.unreachable == [f"gone-{tag}"] and len(synced.up) == 2
    with private_db() as s:
        rows = {h.host_id: h for h in s.scalars(select(models.Host).where(models.Host.host_id.like(f"%{tag}")))}
    assert {h: r.state for h, r in rows.items()} == {
        f"ok-a-{tag}": "up", f"gone-{tag}": "unreachable", f"ok-b-{tag}": "up"}
    assert rows[f"gone-{tag}"].vcpus == 64 and "cannot connect" in rows[f"gone-{tag}"].facts["error"]
    assert rows[f"ok-a-{tag}"].labels == {"rack": "rack-0", "zone": "zone-0"}


# -- the hosts table --------------------------------------------------------------------------


def test_sync_keeps_an_unreachable_hosts_last_facts_and_retires_rather_than_deletes(
        private_db: sessionmaker[Session]) -> None:
    tag = uuid.uuid4().hex[:6]
    a, b, c, other = (f"{x}-{tag}" for x in ("a", "b", "c", "other"))
    full = Inventory(tuple(HostEntry(h, f"qemu+ssh://{h}/system", price_per_hour=0.5) for h in (a, b, c)),
                     source="inv-1.yaml")
    read = Probe(vcpus=48, memory_mib=196608, numa=(NumaCell(24, 98304), NumaCell(24, 98304)),
                 uuid="5a0e2d4c-1b7f-4e0a-9c3d-8f6b2a1e0d97", hostname="kvm-a")
    with private_db.begin() as s:
        repository.sync_hosts(s, full, {h.id: host_facts_of(h, read, source=full.source) for h in full.hosts})
        repository.upsert_vm(s, f"vm-{tag}", b, 2, 2048, {})
        repository.upsert_host(s, other, "test:///default", 4, 4096, {})  # not the inventory's
    # Later: host a does not answer, b and c are gone from the inventory.
    later = Inventory((HostEntry(a, f"qemu+ssh://{a}/system", price_per_hour=0.6),), source="inv-2.yaml")
    with private_db.begin() as s:
        synced = repository.sync_hosts(s, later, {a: host_facts_of(later.hosts[0], None, "no route")})
    assert (synced.unreachable, synced.retired, synced.removed) == ([a], [b], [c])
    with private_db() as s:
        rows = {h.host_id: h for h in s.scalars(select(models.Host).where(models.Host.host_id.like(f"%{tag}")))}
    assert sorted(rows) == sorted([a, b, other])
    assert (rows[a].state, rows[a].vcpus, rows[a].memory_mib) == ("unreachable", 48, 196608)
    assert rows[a].facts["uuid"] == read.uuid and rows[a].facts["numa_source"] == "libvirt"
    assert rows[a].facts["numa"] == [{"cpus": 24, "memory_mib": 98304}] * 2
    assert rows[a].facts["price_per_hour"] == 0.6 and rows[a].facts["error"] == "no route"
    assert rows[b].state == "retired"  # its VM still references it
    assert rows[other].state == "up"
    # Once its VM is gone, the next sync removes the retired host.
    with private_db.begin() as s:
        store_fleet.delete_vm(s, f"vm-{tag}")
        assert repository.sync_hosts(s, later, {}).removed == [b]


# -- placement decides on the facts -------------------------------------------------------------


def test_placement_reads_overcommit_and_numa_from_the_inventory(
        tmp_path: Path, private_db: sessionmaker[Session]) -> None:
    tag = uuid.uuid4().hex[:6]

    def inventory(dense_cpu_ratio: float) -> Inventory:
        return parse_inventory(f"""
hosts:
  - id: dense-{tag}
    uri: "{_host_file(tmp_path, 'dense')}"
    price_per_hour: 0.3
    overcommit: {{cpu: {dense_cpu_ratio}, memory: 1.0}}
    numa: [{{cpus: 16, memory_mib: 65536}}, {{cpus: 16, memory_mib: 65536}}]
  - id: flat-{tag}
    uri: "{_host_file(tmp_path, 'flat')}"
    price_per_hour: 0.5
    numa: [{{cpus: 32, memory_mib: 131072}}]
""", "inv.yaml")

    def sync(inv: Inventory) -> None:
        fleet = open_fleet(inv)
        try:
            facts = host_facts(fleet, inv)
        finally:
            fleet.close()
        with private_db.begin() as s:
            repository.sync_hosts(s, inv, facts)

    wide = PlacementRequest(VMSpec(f"wide-{tag}", 48, 4096))  # > 32 host CPUs: overcommit only
    pinned = PlacementRequest(VMSpec(f"pinned-{tag}", 24, 4096, numa="require"))  # one 24-CPU cell
    sync(inventory(4.0))
    with private_db() as s:
        state = placing.fleet_state(s)
    assert Scheduler(state).decide(wide, commit=False).target_node == f"dense-{tag}"
    assert Scheduler(state).decide(pinned, commit=False).target_node == f"flat-{tag}"
    dense = state.hosts[state.index[f"dense-{tag}"]]
    assert state.host_classes[dense.host_class].price_per_hour == 0.3
    assert len(dense.numa_cells) == 2
    # The operator lowers the ratio: the cached fleet notices (the fingerprint covers the
    # facts) and the wide VM no longer fits anywhere.
    fleet_cache.invalidate()
    try:
        with private_db() as s:
            before = store_fleet.fingerprint(s)
            fleet_cache.current(s)
        sync(inventory(1.0))
        with private_db() as s:
            assert store_fleet.fingerprint(s).hosts != before.hosts
            rebuilds = fleet_cache.stats["rebuilds"]
            snap = fleet_cache.current(s)
            assert fleet_cache.stats["rebuilds"] == rebuilds + 1
            decided = Scheduler(snap.state).decide(wide, commit=False)
        assert decided.status is DecisionStatus.PENDING
    finally:
        fleet_cache.invalidate()
