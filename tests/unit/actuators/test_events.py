"""Lifecycle events arrive from the real libvirt test driver as the healer's observations."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from novacron.actuators import lifecycle, simfleet
from novacron.actuators.connection import Fleet
from novacron.actuators.deadline import Deadline
from novacron.actuators.events import LifecycleWatcher, to_health_event
from novacron.healing.health import Lifecycle, LifecycleEvent

from novacron.events import HealthEvent, HealthState

VM, HOST = "vm-000-00", "host-000"


@pytest.fixture
def fleet(fleet_dir: Path) -> Iterator[Fleet]:
    f = simfleet.build(fleet_dir, hosts=2, vms_per_host=1)
    yield f
    f.close()


def next_event(q: queue.Queue[LifecycleEvent], timeout_s: float = 5.0) -> LifecycleEvent:
    return q.get(timeout=timeout_s)


def test_lifecycle_events_arrive_quickly_and_classified(fleet: Fleet) -> None:
    q: queue.Queue[LifecycleEvent] = queue.Queue()
    watcher = LifecycleWatcher(fleet, q.put)
    watcher.start()
    try:
        dom = fleet.lookup(HOST, VM)
        assert dom is not None
        t = time.monotonic()
        dom.destroy()
        ev = next_event(q)
        assert (ev.vm_id, ev.host_id, ev.kind) == (VM, HOST, Lifecycle.STOPPED)
        assert time.monotonic() - t < 1.0
        dom.create()
        assert next_event(q).kind == Lifecycle.STARTED
        dom.suspend()
        assert next_event(q).kind == Lifecycle.PAUSED
        dom.resume()
        assert next_event(q).kind == Lifecycle.RESUMED
        lifecycle.shutdown(dom, Deadline(5))  # an operator's: honoured, not healed
        assert next_event(q).kind == Lifecycle.OPERATOR_SHUTDOWN
        other = fleet.lookup("host-001", "vm-001-00")
        assert other is not None
        other.destroy()
        assert next_event(q).host_id == "host-001"
    finally:
        watcher.stop()


def test_health_event_wire_form() -> None:
    from datetime import UTC, datetime

    ev = LifecycleEvent(VM, HOST, Lifecycle.CRASHED, datetime(2026, 1, 1, tzinfo=UTC))
    he = to_health_event(ev)
    assert he.state == HealthState.FAILED and he.evidence["lifecycle"] == "crashed"
    assert HealthEvent.model_validate_json(he.to_bytes()).evidence["host_id"] == HOST
