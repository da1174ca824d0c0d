"""Real QEMU guests (software emulation) under a qemu:///session libvirtd: a killed QEMU
process is seen as a crash by libvirt's lifecycle events, and the Healer's restart, carried
out by the executor, brings up a new QEMU process; a paused guest is power-cycled."""

from __future__ import annotations

import os
import queue
import random
import signal
from collections.abc import Iterator
from datetime import timedelta

import libvirt
import pytest
from novacron.actuators.connection import Fleet
from novacron.actuators.events import LifecycleWatcher, to_health_event
from novacron.actuators.executor import execute
from novacron.actuators.fencing import LibvirtDestroyFencer
from novacron.actuators.placement_state import inventory, reachable, where
from novacron.actuators.qemu_session import SessionDaemon, define_guests, remove_guests
from novacron.healing import Healer, Lifecycle, LifecycleEvent
from novacron.streams.heal_core import HealLoop, Step

from novacron.events import (
    ActionKind,
    ActionResult,
    ActionStatus,
    Decision,
    MetricName,
    MetricSample,
    utcnow,
)

HOST, VM = "qemu-session", "nc-test-guest"


class Ledger:
    """In memory: the PostgreSQL ledger is covered by the executor's own tests."""

    def __init__(self) -> None:
        self.rows: dict[object, str] = {}

    def claim(self, decision: Decision) -> bool:
        fresh = decision.decision_id not in self.rows
        self.rows.setdefault(decision.decision_id, "claimed")
        return fresh

    def status(self, decision_id: object) -> str | None:
        return self.rows.get(decision_id)

    def finish(self, result: ActionResult) -> None:
        self.rows[result.decision_id] = result.status.value


@pytest.fixture(scope="module")
def qemu() -> Iterator[tuple[SessionDaemon, Fleet]]:
    with SessionDaemon() as daemon:
        fleet = daemon.fleet(HOST)
        try:
            define_guests(fleet, HOST, [VM])
            yield daemon, fleet
        finally:
            remove_guests(fleet, HOST, [VM])
            fleet.close()


def alive(fleet: Fleet, at_offset_s: float = 0.0) -> list[bytes]:
    now = utcnow() + timedelta(seconds=at_offset_s)
    return [MetricSample(occurred_at=now, vm_id=vm, host_id=host, metric=MetricName.CPU,
                         value=10.0).to_bytes()
            for host, _, _, vms in inventory(fleet) for vm, running, *_ in vms if running]


def run(loop: HealLoop, fleet: Fleet, step: Step, ledger: Ledger) -> list[ActionResult]:
    results = []
    pending = [d for d in step.decisions if d.action != ActionKind.NOOP]
    while pending:
        result = execute(pending.pop(0), fleet, ledger)
        assert result is not None
        results.append(result)
        pending += [d for d in loop.ingest([result.to_bytes()]).decisions
                    if d.action != ActionKind.NOOP]
    return results


def test_killed_qemu_is_restarted_as_a_new_process(qemu: tuple[SessionDaemon, Fleet]) -> None:
    daemon, fleet = qemu
    loop = HealLoop(Healer(fencer=LibvirtDestroyFencer(fleet), rng=random.Random(3)))
    loop.register(inventory(fleet), utcnow() - timedelta(seconds=1))
    loop.heartbeat(reachable(fleet), utcnow())
    assert loop.ingest(alive(fleet)).decisions == []
    events: queue.Queue[LifecycleEvent] = queue.Queue()
    watcher = LifecycleWatcher(fleet, events.put)
    watcher.start()
    try:
        old_pid = daemon.qemu_pid(VM)
        os.kill(old_pid, signal.SIGKILL)  # the fault: QEMU dies under the guest
        ev = events.get(timeout=15)
        assert (ev.vm_id, ev.kind) == (VM, Lifecycle.CRASHED)
        step = loop.ingest([to_health_event(ev).to_bytes()])
        [result] = run(loop, fleet, step, Ledger())
        assert result.action == ActionKind.RESTART and result.status == ActionStatus.SUCCEEDED
        assert where(fleet, VM)["running_on"] == [HOST]
        new_pid = daemon.qemu_pid(VM)
        assert new_pid != old_pid and os.path.exists(f"/proc/{new_pid}")
        assert loop.healer.incidents == {}
    finally:
        watcher.stop()


def test_paused_guest_is_power_cycled(qemu: tuple[SessionDaemon, Fleet]) -> None:
    daemon, fleet = qemu
    loop = HealLoop(Healer(fencer=LibvirtDestroyFencer(fleet), rng=random.Random(4)))
    loop.register(inventory(fleet), utcnow() - timedelta(seconds=1))
    loop.heartbeat(reachable(fleet), utcnow())
    loop.ingest(alive(fleet))
    dom = fleet.lookup(HOST, VM)
    assert dom is not None
    old_pid = daemon.qemu_pid(VM)
    events: queue.Queue[LifecycleEvent] = queue.Queue()
    watcher = LifecycleWatcher(fleet, events.put)
    watcher.start()
    try:
        dom.suspend()  # the fault: the guest stops making progress
        ev = events.get(timeout=15)
    finally:
        watcher.stop()
    assert (ev.vm_id, ev.kind) == (VM, Lifecycle.PAUSED)
    decisions = list(loop.ingest([to_health_event(ev).to_bytes()]).decisions)
    # Paused past the 15 s threshold (event time; liveness keeps arriving for nothing else).
    for s in range(1, 21):
        decisions += loop.heartbeat(reachable(fleet), utcnow() + timedelta(seconds=s)).decisions
    restarts = [d for d in decisions if d.action == ActionKind.RESTART]
    assert [d.target_id for d in restarts] == [VM]
    [result] = run(loop, fleet, Step(decisions=restarts), Ledger())
    assert result.status == ActionStatus.SUCCEEDED, result.detail
    assert "power-cycled" in result.detail
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING and daemon.qemu_pid(VM) != old_pid


def test_cold_move_between_two_real_qemu_hosts() -> None:
    """Define on the target's libvirtd, start there as a new QEMU process, undefine on the
    source; the target has no KVM, so the domain is defined as type qemu."""
    from novacron.actuators.connection import HostConnection

    with SessionDaemon() as a, SessionDaemon() as b:
        fleet = Fleet([HostConnection("qa", a.uri), HostConnection("qb", b.uri)])
        try:
            define_guests(fleet, "qa", [VM])
            decision = Decision(occurred_at=utcnow(), action=ActionKind.MIGRATE, target_id=VM,
                                host_id="qb", params={"rung": "cold_migrate", "source_host": "qa",
                                                      "target_host": "qb", "budget_s": 30},
                                explanation="test", decided_by="healer")
            result = execute(decision, fleet, Ledger())
            assert result is not None and result.status == ActionStatus.SUCCEEDED, result.detail
            assert result.after["copies"] == {"qb": "running"}
            dom = fleet.lookup("qb", VM)
            assert dom is not None and "type='qemu'" in dom.XMLDesc(0)
            assert os.path.exists(f"/proc/{b.qemu_pid(VM)}")
        finally:
            for h in ("qa", "qb"):
                remove_guests(fleet, h, [VM])
            fleet.close()
