"""Lifecycle operations and the restart/start decisions, on the real libvirt test driver with
the PostgreSQL ledger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import libvirt
import pytest
from novacron.actuators import lifecycle, simfleet
from novacron.actuators.connection import Fleet
from novacron.actuators.deadline import ActuatorTimeout, Deadline, wait_until
from novacron.actuators.executor import execute
from novacron.store.ledger import PgLedger
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, ActionStatus, Decision

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VM, HOST = "vm-000-00", "host-000"


@pytest.fixture
def fleet(fleet_dir: Path) -> Iterator[Fleet]:
    f = simfleet.build(fleet_dir, hosts=2, vms_per_host=1)
    yield f
    f.close()


def dom(fleet: Fleet, vm: str = VM, host: str = HOST) -> libvirt.virDomain:
    d = fleet.lookup(host, vm)
    assert d is not None
    return d


def restart(**params: Any) -> Decision:
    return Decision(occurred_at=T0, action=ActionKind.RESTART, target_id=VM, host_id=HOST,
                    params={"rung": "restart_vm", "source_host": HOST, "target_host": HOST,
                            "budget_s": 10, **params},
                    explanation="test", decided_by="healer")


def test_each_operation_ends_in_its_state_and_is_idempotent(fleet: Fleet) -> None:
    d, dl = dom(fleet), Deadline(5)
    lifecycle.destroy(d, dl)
    lifecycle.destroy(d, dl)
    assert not d.isActive()
    lifecycle.start(d, dl)
    lifecycle.start(d, dl)
    assert lifecycle.is_running(d)
    lifecycle.reboot(d, dl)
    assert lifecycle.is_running(d)
    lifecycle.reset(d, dl)
    assert lifecycle.is_running(d)
    d.suspend()
    assert lifecycle.restart(d, dl) == "power-cycled (was paused)"
    assert lifecycle.is_running(d)
    lifecycle.shutdown(d, dl, by_operator=False)
    assert not d.isActive() and lifecycle.operator_hold(d) is None


def test_an_operators_shutdown_is_honoured_until_the_operator_starts_it(fleet: Fleet) -> None:
    d, dl = dom(fleet), Deadline(5)
    lifecycle.shutdown(d, dl)
    assert not d.isActive() and lifecycle.operator_hold(d) is not None
    with pytest.raises(lifecycle.OperatorHold):
        lifecycle.start(d, dl)
    assert not d.isActive()
    lifecycle.start(d, dl, by_operator=True)
    assert lifecycle.is_running(d) and lifecycle.operator_hold(d) is None


def test_waits_are_bounded(fleet: Fleet) -> None:
    with pytest.raises(ActuatorTimeout):
        wait_until(lambda: False, Deadline(0.05), "never")


def test_restart_decision_boots_a_crashed_vm_once(fleet: Fleet,
                                                  sessions: sessionmaker[Session]) -> None:
    ledger = PgLedger(sessions)
    dom(fleet).destroy()
    d = restart()
    result = execute(d, fleet, ledger)
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    assert result.before["running_on"] == [] and result.after["running_on"] == [HOST]
    assert "started" in result.detail and result.host_id == HOST
    assert execute(d, fleet, ledger) is None  # redelivered: nothing happens


def test_restart_decision_resets_a_hung_vm_that_reads_running(
    fleet: Fleet, sessions: sessionmaker[Session]
) -> None:
    result = execute(restart(), fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.SUCCEEDED
    assert "reset" in result.detail


def test_an_interrupted_restart_is_reconciled_not_repeated(
    fleet: Fleet, sessions: sessionmaker[Session]
) -> None:
    ledger = PgLedger(sessions)
    d = restart()
    assert ledger.claim(d)  # the worker died after claiming; the VM runs
    result = execute(d, fleet, ledger)
    assert result is not None and result.status == ActionStatus.SUCCEEDED
    assert "reconciled" in result.detail


def test_restart_refuses_an_operator_stopped_vm(fleet: Fleet,
                                                sessions: sessionmaker[Session]) -> None:
    lifecycle.shutdown(dom(fleet), Deadline(5))
    result = execute(restart(), fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.FAILED
    assert "operator" in result.detail and not dom(fleet).isActive()


def test_restart_service_without_a_guest_agent_fails_with_a_reason(
    fleet: Fleet, sessions: sessionmaker[Session]
) -> None:
    result = execute(restart(rung="restart_service"), fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.FAILED
    assert "guest agent" in result.detail


def test_failover_starts_the_named_standby(fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    standby = dom(fleet, "vm-001-00", "host-001")
    standby.destroy()
    d = Decision(occurred_at=T0, action=ActionKind.START, target_id=VM, host_id="host-001",
                 params={"rung": "failover", "standby_id": "vm-001-00", "source_host": HOST,
                         "target_host": "host-001"},
                 explanation="test", decided_by="healer")
    result = execute(d, fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    assert standby.isActive()


def op(action: ActionKind, **params: Any) -> Decision:
    return Decision(occurred_at=T0, action=action, target_id=VM, host_id=HOST, params=params,
                    explanation="test", decided_by="api")


def test_plain_lifecycle_decisions_end_in_their_state_once(
    fleet: Fleet, sessions: sessionmaker[Session]
) -> None:
    ledger = PgLedger(sessions)
    for action in (ActionKind.REBOOT, ActionKind.RESET):
        d = op(action)
        result = execute(d, fleet, ledger)
        assert result is not None and result.status == ActionStatus.SUCCEEDED, result
        assert result.after["running_on"] == [HOST] and "verified" in result.detail
        assert execute(d, fleet, ledger) is None  # redelivered: not reset twice
    destroy = op(ActionKind.DESTROY)
    result = execute(destroy, fleet, ledger)
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    assert result.after["running_on"] == [] and not dom(fleet).isActive()
    # An operator's destroy is marked on the domain like a shutdown: not healed, not started.
    assert lifecycle.operator_hold(dom(fleet)) is not None
    assert execute(restart(), fleet, ledger).status == ActionStatus.FAILED  # type: ignore[union-attr]
    lifecycle.start(dom(fleet), Deadline(5), by_operator=True)
    shutdown = op(ActionKind.SHUTDOWN, graceful_s=0.5)
    result = execute(shutdown, fleet, ledger)
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    assert not dom(fleet).isActive() and lifecycle.operator_hold(dom(fleet)) is not None


def test_lifecycle_decision_on_an_unknown_vm_fails_with_a_reason(
    fleet: Fleet, sessions: sessionmaker[Session]
) -> None:
    d = op(ActionKind.RESET).model_copy(update={"target_id": "vm-nope"})
    result = execute(d, fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.FAILED
    assert "not defined on host-000" in result.detail
