"""The libvirt-destroy fencer on the real test driver: fenced only with proof."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import libvirt
import pytest
from novacron.actuators import simfleet
from novacron.actuators.connection import Fleet
from novacron.actuators.fencing import LibvirtDestroyFencer
from novacron.healing.safety import Fencer, FenceRequest

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def fleet(fleet_dir: Path) -> Iterator[Fleet]:
    f = simfleet.build(fleet_dir, hosts=2, vms_per_host=2)
    yield f
    f.close()


def test_fences_a_vm_with_proof_and_again_idempotently(fleet: Fleet) -> None:
    fencer: Fencer = LibvirtDestroyFencer(fleet)
    req = FenceRequest("vm", "vm-000-00", "host-000", "hung", T0)
    first = fencer.fence(req)
    assert first.fenced and first.method == "libvirt-destroy" and "destroyed" in first.detail
    dom = fleet.lookup("host-000", "vm-000-00")
    assert dom is not None and not dom.isActive() and not dom.autostart()
    again = fencer.fence(req)
    assert again.fenced and "already shut off" in again.detail
    other = fleet.lookup("host-000", "vm-000-01")
    assert other is not None and other.isActive()  # only the target


def test_a_vm_not_defined_there_is_fenced(fleet: Fleet) -> None:
    result = LibvirtDestroyFencer(fleet).fence(FenceRequest("vm", "vm-gone", "host-000", "x", T0))
    assert result.fenced and "not defined" in result.detail


def test_fences_a_whole_host(fleet: Fleet) -> None:
    result = LibvirtDestroyFencer(fleet).fence(FenceRequest("host", "host-000", "host-000", "down", T0))
    assert result.fenced and "2 domain(s) destroyed" in result.detail
    conn = fleet.host("host-000").get()
    assert conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE) == []
    assert len(fleet.host("host-001").get().listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)) == 2


def test_an_unreachable_host_gives_no_proof(fleet: Fleet) -> None:
    host = fleet.host("host-001")
    host.close()
    host.uri = "test:///nonexistent/host-001.xml"
    for scope, target in (("vm", "vm-001-00"), ("host", "host-001")):
        result = LibvirtDestroyFencer(fleet).fence(FenceRequest(scope, target, "host-001", "x", T0))  # type: ignore[arg-type]
        assert not result.fenced and "no proof" in result.detail
