"""PLACE: the executor defines and starts a placed VM on the chosen host from its spec, pinned
to the chosen NUMA cells; a redelivery acts once; a domain that cannot start is removed again.
On libvirt's test driver, and on real QEMU guests under a private session daemon."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from novacron.actuators import simfleet
from novacron.actuators.connection import Fleet
from novacron.actuators.create import PLACEMENT_LABEL
from novacron.actuators.executor import execute
from novacron.actuators.placement_state import copies
from novacron.actuators.qemu_session import SessionDaemon, remove_guests
from novacron.actuators.xml import DomainSpec, domain_labels, domain_xml
from novacron.store.ledger import PgLedger
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, ActionStatus, Decision, utcnow


def place(vm: str, host: str, **params: Any) -> Decision:
    spec = {"vcpus": 2, "memory_mib": 1024, "net_mbps": 100, "disk_gib": 10, "iops": 500, "gpus": 0,
            "numa": "require", "labels": {"app": "web"}, "disks": [], "nics": [], "start": True,
            "numa_cells": [1], **params}
    return Decision(occurred_at=utcnow(), action=ActionKind.PLACE, target_id=vm, host_id=host,
                    params=spec, explanation="test placement", decided_by="test")


@pytest.fixture
def fleet(fleet_dir: Path) -> Iterator[Fleet]:
    f = simfleet.build(fleet_dir, hosts=2, vms_per_host=0)
    yield f
    f.close()


def live(fleet: Fleet, host: str, vm: str) -> ET.Element:
    dom = fleet.lookup(host, vm)
    assert dom is not None
    return ET.fromstring(dom.XMLDesc(0))


def test_place_defines_pins_and_starts_on_the_chosen_host(fleet: Fleet,
                                                          sessions: sessionmaker[Session]) -> None:
    vm = f"pl-{uuid.uuid4().hex[:8]}"
    d = place(vm, "host-001", disks=[{"source": "/var/lib/nc/a.qcow2", "target": "vda"}],
              nics=[{"kind": "user"}])
    result = execute(d, fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    assert result.host_id == "host-001" and "NUMA cells 1" in result.detail
    assert copies(fleet, vm) == {"host-001": "running"}
    root = live(fleet, "host-001", vm)
    # The test host has 32 CPUs in 2 cells: cell 1 is CPUs 16-31.
    assert root.find("vcpu").get("cpuset") == "16-31"  # type: ignore[union-attr]
    assert root.find("cputune/emulatorpin").get("cpuset") == "16-31"  # type: ignore[union-attr]
    mem = root.find("numatune/memory")
    assert mem is not None and mem.get("mode") == "strict" and mem.get("nodeset") == "1"
    assert root.find("devices/disk/source").get("file") == "/var/lib/nc/a.qcow2"  # type: ignore[union-attr]
    assert root.find("devices/interface").get("type") == "user"  # type: ignore[union-attr]
    labels = domain_labels(ET.tostring(root, encoding="unicode"))
    assert labels[PLACEMENT_LABEL] == str(d.decision_id) and labels["app"] == "web"


def test_a_redelivered_place_acts_once_and_a_reconciled_one_finds_its_domain(
        fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    vm = f"pl-{uuid.uuid4().hex[:8]}"
    ledger = PgLedger(sessions)
    d = place(vm, "host-000", numa_cells=[])
    first = execute(d, fleet, ledger)
    assert first is not None and first.status == ActionStatus.SUCCEEDED
    dom = fleet.lookup("host-000", vm)
    assert dom is not None
    uuid_before = dom.UUIDString()
    assert execute(d, fleet, ledger) is None  # redelivered: the ledger has it
    assert fleet.lookup("host-000", vm).UUIDString() == uuid_before  # type: ignore[union-attr]
    # Claimed but never finished (the worker died after defining and starting): reconciled.
    vm2 = f"{vm}-b"
    d2 = place(vm2, "host-000", numa_cells=[])
    spec = DomainSpec(name=vm2, vcpus=2, max_vcpus=2, memory_mib=1024, max_memory_mib=1024,
                      labels={PLACEMENT_LABEL: str(d2.decision_id)})
    fleet.host("host-000").get().defineXML(domain_xml(spec)).create()
    assert ledger.claim(d2)
    again = execute(d2, fleet, ledger)
    assert again is not None and again.status == ActionStatus.SUCCEEDED
    assert "already in the decided state (reconciled)" in again.detail
    assert copies(fleet, vm2) == {"host-000": "running"}


def test_place_never_takes_over_or_duplicates_a_domain(fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    vm = f"pl-{uuid.uuid4().hex[:8]}"
    other = DomainSpec(name=vm, vcpus=1, max_vcpus=1, memory_mib=64, max_memory_mib=64)
    fleet.host("host-000").get().defineXML(domain_xml(other))
    elsewhere = execute(place(vm, "host-001", numa_cells=[]), fleet, PgLedger(sessions))
    assert elsewhere is not None and elsewhere.status == ActionStatus.FAILED
    assert "already defined on host-000" in elsewhere.detail
    same = execute(place(vm, "host-000", numa_cells=[]), fleet, PgLedger(sessions))
    assert same is not None and same.status == ActionStatus.FAILED
    assert "was not made by this placement" in same.detail
    assert copies(fleet, vm) == {"host-000": "shutoff"}  # untouched


def test_start_false_defines_only_and_a_cell_the_host_lacks_is_refused(
        fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    vm = f"pl-{uuid.uuid4().hex[:8]}"
    r = execute(place(vm, "host-000", start=False, numa_cells=[0]), fleet, PgLedger(sessions))
    assert r is not None and r.status == ActionStatus.SUCCEEDED and copies(fleet, vm) == {"host-000": "shutoff"}
    bad = execute(place(f"{vm}-x", "host-000", numa_cells=[5]), fleet, PgLedger(sessions))
    assert bad is not None and bad.status == ActionStatus.FAILED
    assert "NUMA cells [5]" in bad.detail and not copies(fleet, f"{vm}-x")


def test_an_operator_delete_destroys_and_undefines(fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    vm = f"pl-{uuid.uuid4().hex[:8]}"
    assert execute(place(vm, "host-000", numa_cells=[]), fleet, PgLedger(sessions)) is not None
    delete = Decision(occurred_at=utcnow(), action=ActionKind.DESTROY, target_id=vm, host_id="host-000",
                      params={"by": "operator", "undefine": True}, explanation="delete", decided_by="test")
    r = execute(delete, fleet, PgLedger(sessions))
    assert r is not None and r.status == ActionStatus.SUCCEEDED, r
    assert copies(fleet, vm) == {}


# ------------------------------------------------------------------ real QEMU guests


@pytest.fixture(scope="module")
def daemon() -> Iterator[SessionDaemon]:
    with SessionDaemon() as d:
        yield d


def test_real_guest_is_created_on_the_chosen_cell_and_a_failed_start_leaves_nothing(
        daemon: SessionDaemon, sessions: sessionmaker[Session]) -> None:
    fleet = daemon.fleet("qemu-a")
    vm, bad = f"pl-q-{uuid.uuid4().hex[:6]}", f"pl-qbad-{uuid.uuid4().hex[:6]}"
    ledger = PgLedger(sessions)
    try:
        d = place(vm, "qemu-a", vcpus=1, memory_mib=32, numa_cells=[0], labels={})
        ok = execute(d, fleet, ledger)
        assert ok is not None and ok.status == ActionStatus.SUCCEEDED, ok
        assert copies(fleet, vm) == {"qemu-a": "running"}
        root = live(fleet, "qemu-a", vm)
        assert root.get("type") in ("qemu", "kvm") and root.get("id")  # a live QEMU process
        mem = root.find("numatune/memory")
        assert mem is not None and mem.get("mode") == "strict" and mem.get("nodeset") == "0"
        caps = ET.fromstring(fleet.host("qemu-a").get().getCapabilities())
        cell0 = sorted(int(c.get("id", "-1")) for c in caps.iterfind("host/topology/cells/cell[@id='0']/cpus/cpu"))
        assert root.find("vcpu").get("cpuset") == (  # type: ignore[union-attr]
            f"{cell0[0]}-{cell0[-1]}" if len(cell0) > 1 else str(cell0[0]))
        assert execute(d, fleet, ledger) is None  # redelivered: acts once
        assert copies(fleet, vm) == {"qemu-a": "running"}

        # A disk that is not there: libvirt defines the domain, QEMU cannot start it.
        missing = f"/nonexistent-{uuid.uuid4().hex[:6]}/disk.qcow2"
        failed = execute(place(bad, "qemu-a", vcpus=1, memory_mib=32, numa_cells=[0],
                               disks=[{"source": missing, "target": "vda"}]), fleet, ledger)
        assert failed is not None and failed.status == ActionStatus.FAILED
        assert "did not start on qemu-a" in failed.detail and missing in failed.detail, failed.detail
        assert "definition was removed" in failed.detail
        assert copies(fleet, bad) == {}  # nothing half-created
        assert copies(fleet, vm) == {"qemu-a": "running"}  # the other VM is unaffected
    finally:
        remove_guests(fleet, "qemu-a", [vm, bad])
        fleet.close()


def test_libvirt_refusing_the_definition_is_the_reason(daemon: SessionDaemon,
                                                       sessions: sessionmaker[Session]) -> None:
    fleet = daemon.fleet("qemu-a")
    vm = f"pl-qnet-{uuid.uuid4().hex[:6]}"
    try:
        r = execute(place(vm, "qemu-a", vcpus=1, memory_mib=32, numa_cells=[],
                          nics=[{"kind": "network", "source": "no-such-net"}]), fleet, PgLedger(sessions))
        assert r is not None and r.status == ActionStatus.FAILED
        assert "no-such-net" in r.detail, r.detail
        assert copies(fleet, vm) == {}
    finally:
        remove_guests(fleet, "qemu-a", [vm])
        fleet.close()
