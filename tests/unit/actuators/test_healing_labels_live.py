"""Healing labels on real libvirt domains (test driver) reach the Healer through the live
inventory: priority, warm standby and guest agent are what the heal agent registers, a bad
value is ignored with a warning, a host's death fails a labelled VM over to its standby and
priorities decide who restarts when capacity is short."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from novacron.actuators.connection import Fleet, HostConnection
from novacron.actuators.executor import execute
from novacron.actuators.fencing import LibvirtDestroyFencer
from novacron.actuators.placement_state import inventory, where
from novacron.actuators.xml import DomainSpec, HostSpec, NumaCell, host_xml
from novacron.healing import Healer, TestFencer
from novacron.healing.labels import (
    GUEST_AGENT_LABEL,
    PRIORITY_LABEL,
    STANDBY_LABEL,
    HealingTraits,
    InventoryVm,
    parse_traits,
)
from novacron.store.ledger import PgLedger
from novacron.streams.heal_core import HealLoop
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, ActionStatus, Decision, MetricName, MetricSample, utcnow

Layout = dict[str, tuple[str, dict[str, dict[str, str]]]]  # host -> (zone, {vm: labels})


def build(directory: Path, layout: Layout) -> Fleet:
    """Test-driver hosts of 4 CPUs, every VM 2 vCPUs (two fill a host), labelled as given."""
    directory.mkdir(parents=True, exist_ok=True)
    conns, specs, cpus = [], {}, 4
    for host, (zone, vms) in layout.items():
        domains = tuple(DomainSpec(name=vm, vcpus=2, max_vcpus=8, memory_mib=2048,
                                   max_memory_mib=8192, labels=labels)
                        for vm, labels in vms.items())
        specs.update({d.name: d for d in domains})
        path = directory / f"{host}.xml"
        path.write_text(host_xml(HostSpec(host, cpus, 65536, (NumaCell(cpus // 2, 32768),) * 2,
                                          {"zone": zone}, domains)))
        conns.append(HostConnection(host, f"test://{path.resolve()}", {"zone": zone}))
    return Fleet(conns, specs)


class Clock:
    def __init__(self) -> None:
        self.at = utcnow()

    def now(self) -> datetime:
        return self.at


def live_round(loop: HealLoop, vms: list[tuple[str, str]], clock: Clock,
               dead: set[str]) -> list[Decision]:
    """One second of a fleet where ``dead`` hosts went silent: heartbeats and metrics of
    the others only (``vms``: (vm id, host id), nothing is executed meanwhile)."""
    hosts = sorted({h for _, h in vms} - dead)
    out = loop.heartbeat(hosts, clock.at).decisions
    raws = [MetricSample(occurred_at=clock.at, vm_id=vm, host_id=host,
                         metric=MetricName.CPU, value=30.0).to_bytes()
            for vm, host in vms if host not in dead]
    out += loop.ingest(raws).decisions
    clock.at += timedelta(seconds=1)
    return out


def kill_host(fleet: Fleet, host: str, seconds: int = 25) -> tuple[HealLoop, list[Decision]]:
    """Register the fleet, let it run a few healthy seconds, then make ``host`` silent."""
    clock = Clock()
    loop = HealLoop(Healer(fencer=LibvirtDestroyFencer(fleet), rng=random.Random(1)),
                    now=clock.now)
    inv = inventory(fleet)
    loop.register(inv, clock.at - timedelta(seconds=1))
    vms = [(vm.vm_id, h) for h, _, _, hvms in inv for vm in hvms if vm.running]
    for _ in range(3):
        assert [d for d in live_round(loop, vms, clock, set())
                if d.action != ActionKind.NOOP] == []
    decisions: list[Decision] = []
    for _ in range(seconds):
        decisions += live_round(loop, vms, clock, {host})
    return loop, decisions


@pytest.fixture
def fleet(fleet_dir: Path) -> Iterator[Fleet]:
    f = build(fleet_dir, {
        "host-000": ("zone-0", {"vm-a": {STANDBY_LABEL: "vm-a-standby", PRIORITY_LABEL: "5"},
                                "vm-b": {PRIORITY_LABEL: "high", GUEST_AGENT_LABEL: "yes"}}),
        "host-001": ("zone-0", {"vm-a-standby": {}, "vm-c": {GUEST_AGENT_LABEL: "True",
                                                             PRIORITY_LABEL: "-3"}}),
        "host-002": ("zone-1", {"vm-d": {STANDBY_LABEL: "vm-d"},
                                "vm-e": {PRIORITY_LABEL: "99999"}}),
    })
    yield f
    f.close()


def test_the_registered_vms_carry_their_labels_and_bad_values_are_ignored(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="novacron.actuators.placement_state"):
        inv = inventory(fleet)
    clock = Clock()
    loop = HealLoop(Healer(fencer=LibvirtDestroyFencer(fleet), rng=random.Random(1)),
                    now=clock.now)
    loop.register(inv, clock.at - timedelta(seconds=1))
    loop.seen([(vm.vm_id, h) for h, _, _, vms in inv for vm in vms], clock.at)
    vms = loop.healer.model.vms
    assert (vms["vm-a"].priority, vms["vm-a"].standby_id, vms["vm-a"].has_guest_agent) == \
        (5, "vm-a-standby", False)
    assert (vms["vm-c"].priority, vms["vm-c"].standby_id, vms["vm-c"].has_guest_agent) == \
        (-3, None, True)
    # Bad values: the defaults apply and each one is named in a warning, nothing raises.
    for vm in ("vm-b", "vm-d", "vm-e", "vm-a-standby"):
        assert (vms[vm].priority, vms[vm].standby_id, vms[vm].has_guest_agent) == (0, None, False)
    warned = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert f"vm-b: {PRIORITY_LABEL}='high' is not an integer" in warned
    assert f"vm-b: {GUEST_AGENT_LABEL}='yes' is not 'true' or 'false'" in warned
    assert f"vm-d: {STANDBY_LABEL} names the VM itself" in warned
    assert f"vm-e: {PRIORITY_LABEL}='99999' is outside" in warned
    assert "vm-a:" not in warned and "vm-c:" not in warned


def test_a_caller_that_re_reads_the_inventory_is_told_of_a_bad_label_once(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    seen: set[str] = set()
    with caplog.at_level(logging.WARNING, logger="novacron.actuators.placement_state"):
        inventory(fleet, seen)
        first = len(caplog.records)
        second = inventory(fleet, seen)
    assert first >= 4  # vm-b (two), vm-d, vm-e
    assert len(caplog.records) == first
    # Quiet, not blind: the labels are still judged, and the defaults still apply.
    traits = {vm.vm_id: vm.traits for _, _, _, vms in second for vm in vms}
    assert traits["vm-b"] == HealingTraits()
    assert traits["vm-a"].priority == 5


def test_bare_inventory_tuples_still_register_with_default_traits() -> None:
    loop = HealLoop(Healer(fencer=TestFencer(), rng=random.Random(1)))
    at = utcnow()
    loop.register([("host-1", {"zone": "zone-a"}, 8, [("vm-1", True, 3)])], at)
    loop.seen([("vm-1", None)], at)
    vm = loop.healer.model.vms["vm-1"]
    assert (vm.host_id, vm.size, vm.priority, vm.standby_id, vm.has_guest_agent) == \
        ("host-1", 3, 0, None, False)
    assert parse_traits("vm-1", {STANDBY_LABEL: " "}).problems == \
        [f"vm-1: {STANDBY_LABEL} is empty; no standby"]


def test_a_dead_hosts_labelled_vm_fails_over_to_its_standby(
    fleet_dir: Path, sessions: sessionmaker[Session]
) -> None:
    # host-000 is alone in its zone, so no cold migration (same zone) can place vm-a: its
    # ladder goes on to FAILOVER, which only a registered, running standby opens.
    fleet = build(fleet_dir, {
        "host-000": ("zone-0", {"vm-a": {STANDBY_LABEL: "vm-a-standby"}, "vm-b": {}}),
        "host-001": ("zone-1", {"vm-a-standby": {}, "vm-c": {}}),
        "host-002": ("zone-1", {"vm-d": {}, "vm-e": {}}),
    })
    try:
        _, decisions = kill_host(fleet, "host-000")
        mine = [d for d in decisions if d.target_id == "vm-a" and d.action != ActionKind.NOOP]
        assert mine, [(d.target_id, d.action, d.explanation) for d in decisions]
        failover = mine[0]
        assert failover.params["rung"] == "failover"
        assert failover.params["standby_id"] == "vm-a-standby"
        assert failover.params["target_host"] == "host-001"
        result = execute(failover, fleet, PgLedger(sessions))
        assert result is not None and result.status == ActionStatus.SUCCEEDED, result
        assert where(fleet, "vm-a-standby")["running_on"] == ["host-001"]
        # vm-b has no standby and nowhere to go: it is not failed over.
        assert all(d.params.get("rung") != "failover" for d in decisions if d.target_id == "vm-b")
    finally:
        fleet.close()


def test_priority_decides_who_restarts_when_capacity_is_short(fleet_dir: Path) -> None:
    # One free slot of 2 vCPUs in the fleet (host-001), two VMs to place from the dead host.
    # By id alone "vm-a-low" would go first; its priority says otherwise.
    fleet = build(fleet_dir, {
        "host-000": ("zone-0", {"vm-a-low": {PRIORITY_LABEL: "1"},
                                "vm-z-high": {PRIORITY_LABEL: "9"}}),
        "host-001": ("zone-0", {"vm-f": {}}),
        "host-002": ("zone-0", {"vm-g": {}, "vm-h": {}}),
    })
    try:
        _, decisions = kill_host(fleet, "host-000")
    finally:
        fleet.close()
    moves = [d for d in decisions if d.target_id in ("vm-a-low", "vm-z-high")
             and d.action != ActionKind.NOOP]
    assert moves, [(d.target_id, d.action, d.explanation) for d in decisions]
    assert moves[0].target_id == "vm-z-high"
    assert moves[0].params.get("target_host") == "host-001"
    assert all(d.target_id != "vm-a-low" for d in moves), \
        [(d.target_id, d.action, d.params) for d in moves]


def test_a_later_inventory_brings_changed_labels_and_new_vms_in() -> None:
    """The heal agent reads the inventory again every INVENTORY_REFRESH_S: a watched VM's new
    healing labels update it in place, and a VM defined since (a clone) gets its own labels."""
    loop = HealLoop(Healer(fencer=TestFencer(), rng=random.Random(1)))
    at = utcnow()
    loop.register([("host-1", {"zone": "zone-a"}, 8, [InventoryVm("vm-1", True, 2)])], at)
    loop.seen([("vm-1", None)], at)
    assert loop.healer.model.vms["vm-1"].priority == 0
    later = at + timedelta(seconds=30)
    loop.register([("host-1", {"zone": "zone-a"}, 8, [
        InventoryVm("vm-1", True, 2, HealingTraits(priority=9, standby_id="vm-2")),
        InventoryVm("vm-2", True, 2, HealingTraits(priority=4, has_guest_agent=True)),
    ])], later)
    vm1 = loop.healer.model.vms["vm-1"]
    assert (vm1.priority, vm1.standby_id) == (9, "vm-2") and vm1.last_metric == at
    loop.seen([("vm-2", None)], later)
    vm2 = loop.healer.model.vms["vm-2"]
    assert (vm2.host_id, vm2.priority, vm2.has_guest_agent) == ("host-1", 4, True)
