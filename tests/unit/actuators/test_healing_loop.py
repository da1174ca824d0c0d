"""The healer driven by real libvirt lifecycle events, its decisions executed by the
actuators, the outcomes fed back and stored in healing_events (real test driver, real
PostgreSQL; the broker is left out: streams.heal only moves these bytes between topics)."""

from __future__ import annotations

import queue
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from novacron.actuators import simfleet
from novacron.actuators.connection import Fleet
from novacron.actuators.events import LifecycleWatcher, to_health_event
from novacron.actuators.executor import execute
from novacron.actuators.fencing import LibvirtDestroyFencer
from novacron.actuators.placement_state import inventory, reachable, where
from novacron.healing import Healer, LifecycleEvent
from novacron.store import healing_repo
from novacron.store.ledger import PgLedger
from novacron.streams.heal_core import HealLoop, Step
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, ActionStatus, MetricName, MetricSample, utcnow


@pytest.fixture
def fleet(fleet_dir: Path) -> Iterator[Fleet]:
    f = simfleet.build(fleet_dir, hosts=3, vms_per_host=2)
    yield f
    f.close()


def metrics(fleet: Fleet) -> list[bytes]:
    now = utcnow()
    return [MetricSample(occurred_at=now, vm_id=vm, host_id=host, metric=MetricName.CPU,
                         value=30.0).to_bytes()
            for host, _, _, vms in inventory(fleet) for vm, *_ in vms]


def store(sessions: sessionmaker[Session], step: Step) -> None:
    with sessions.begin() as s:
        for r in step.records:
            healing_repo.record_outcome(
                s, key=r.key, subject_id=r.subject_id, diagnosis=r.diagnosis, rung=r.rung,
                succeeded=r.succeeded, duration_s=r.duration_s, occurred_at=r.occurred_at,
                evidence=r.evidence)


def test_a_crashed_vm_is_restarted_and_the_outcome_stored(
    fleet: Fleet, sessions: sessionmaker[Session]
) -> None:
    loop = HealLoop(Healer(fencer=LibvirtDestroyFencer(fleet), rng=random.Random(1)))
    loop.register(inventory(fleet), utcnow() - timedelta(seconds=1))
    loop.heartbeat(reachable(fleet), utcnow())
    assert loop.ingest(metrics(fleet)).decisions == []
    events: queue.Queue[LifecycleEvent] = queue.Queue()
    watcher = LifecycleWatcher(fleet, events.put)
    watcher.start()
    try:
        vm = "vm-001-01"
        dom = fleet.lookup("host-001", vm)
        assert dom is not None
        dom.destroy()  # the fault
        ev = events.get(timeout=5)
        step = loop.ingest([to_health_event(ev).to_bytes()])
        restart = [d for d in step.decisions if d.action == ActionKind.RESTART]
        assert len(restart) == 1 and restart[0].target_id == vm
        ledger = PgLedger(sessions)
        result = execute(restart[0], fleet, ledger)
        assert result is not None and result.status == ActionStatus.SUCCEEDED, result
        assert where(fleet, vm)["running_on"] == ["host-001"]
        outcome = loop.ingest([result.to_bytes(), result.to_bytes()])  # redelivered too
        store(sessions, outcome)
        store(sessions, outcome)
        with sessions() as s:
            rows = healing_repo.healing_events_for(s, vm)
            mine = [r for r in rows if r.evidence.get("key") == str(restart[0].decision_id)]
        assert len(mine) == 1
        assert (mine[0].diagnosis, mine[0].rung, mine[0].succeeded) == \
            ("vm_crashed", "restart_vm", True)
        assert loop.healer.incidents == {}
    finally:
        watcher.stop()


def test_an_operator_shutdown_is_not_healed(fleet: Fleet) -> None:
    from novacron.actuators import lifecycle
    from novacron.actuators.deadline import Deadline

    loop = HealLoop(Healer(fencer=LibvirtDestroyFencer(fleet), rng=random.Random(1)))
    loop.register(inventory(fleet), utcnow() - timedelta(seconds=1))
    loop.heartbeat(reachable(fleet), utcnow())
    loop.ingest(metrics(fleet))
    events: queue.Queue[LifecycleEvent] = queue.Queue()
    watcher = LifecycleWatcher(fleet, events.put)
    watcher.start()
    try:
        dom = fleet.lookup("host-000", "vm-000-00")
        assert dom is not None
        lifecycle.shutdown(dom, Deadline(5))
        step = loop.ingest([to_health_event(events.get(timeout=5)).to_bytes()])
        assert all(d.action == ActionKind.NOOP for d in step.decisions)
        later = loop.tick(utcnow() + timedelta(seconds=5))
        assert all(d.action == ActionKind.NOOP for d in later.decisions)
    finally:
        watcher.stop()


def test_trace_time_metrics_do_not_make_vms_look_hung(fleet: Fleet) -> None:
    """A replay's samples carry trace times far from the clock; liveness is their arrival,
    and load (97 % CPU) is left to the autoscaler."""
    from datetime import UTC, datetime

    loop = HealLoop(Healer(fencer=LibvirtDestroyFencer(fleet), rng=random.Random(1)))
    loop.register(inventory(fleet), utcnow() - timedelta(seconds=1))
    old = datetime(2020, 1, 1, tzinfo=UTC)
    raws = [MetricSample(occurred_at=old, vm_id=vm, host_id=host, metric=MetricName.CPU,
                         value=97.0).to_bytes()
            for host, _, _, vms in inventory(fleet) for vm, *_ in vms]
    assert loop.ingest(raws).decisions == []
    assert loop.heartbeat(reachable(fleet), utcnow()).decisions == []
    assert len(loop.healer.model.vms) == 6
