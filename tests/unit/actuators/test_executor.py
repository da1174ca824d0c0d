"""The executor against libvirt's real test driver and the PostgreSQL ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from novacron.actuators import simfleet
from novacron.actuators.connection import ActuatorError, Fleet
from novacron.actuators.executor import execute
from novacron.actuators.inspect import domain_state
from novacron.actuators.resize import set_vcpus
from novacron.store.ledger import PgLedger
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, ActionStatus, AutonomyMode, Decision

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def fleet(fleet_dir: Path) -> Fleet:
    f = simfleet.build(fleet_dir, hosts=2, vms_per_host=2)
    yield f
    f.close()


def decision(vcpus: int, mode: AutonomyMode = AutonomyMode.AUTO, vm: str = "vm-001-01") -> Decision:
    return Decision(occurred_at=T0, action=ActionKind.SCALE_VCPU, target_id=vm,
                    params={"vcpus": vcpus}, explanation="test", decided_by="test", mode=mode)


def vcpus(fleet: Fleet, vm: str = "vm-001-01") -> int:
    return int(domain_state(fleet.find_domain(vm)[1])["vcpus"])


def test_applies_verifies_and_records(fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    ledger = PgLedger(sessions)
    d = decision(5)
    result = execute(d, fleet, ledger)
    assert result is not None and result.status == ActionStatus.SUCCEEDED
    assert result.before["vcpus"] == 2 and result.after["vcpus"] == 5
    assert result.host_id == "host-001"
    assert vcpus(fleet) == 5
    assert ledger.status(d.decision_id) == "succeeded"


def test_a_redelivered_decision_does_nothing(fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    ledger = PgLedger(sessions)
    d = decision(4)
    assert execute(d, fleet, ledger) is not None
    set_vcpus(fleet.find_domain("vm-001-01")[1], 3)  # an operator changes it meanwhile
    assert execute(d, fleet, ledger) is None
    assert vcpus(fleet) == 3


def test_an_interrupted_claim_is_reconciled_not_repeated_blindly(
    fleet: Fleet, sessions: sessionmaker[Session]
) -> None:
    ledger = PgLedger(sessions)
    d = decision(6)
    assert ledger.claim(d)  # the worker died after claiming, before acting
    result = execute(d, fleet, ledger)
    assert result is not None and result.status == ActionStatus.SUCCEEDED
    assert vcpus(fleet) == 6


@pytest.mark.parametrize("mode", [AutonomyMode.OBSERVE, AutonomyMode.RECOMMEND, AutonomyMode.APPROVE])
def test_modes_other_than_auto_do_not_act(fleet: Fleet, sessions: sessionmaker[Session],
                                          mode: AutonomyMode) -> None:
    result = execute(decision(7, mode), fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.SKIPPED
    assert mode.value in result.detail
    assert vcpus(fleet) == 2


def test_global_pause_stops_actions(fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    result = execute(decision(7), fleet, PgLedger(sessions), paused=True)
    assert result is not None and result.status == ActionStatus.SKIPPED and "pause" in result.detail
    assert vcpus(fleet) == 2


def test_out_of_range_fails_with_a_reason(fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    result = execute(decision(64), fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.FAILED
    assert "allowed 1..8" in result.detail
    assert vcpus(fleet) == 2


def test_unknown_vm_fails_cleanly(fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    result = execute(decision(2, vm="vm-nowhere"), fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.FAILED
    assert "not found" in result.detail


def test_unknown_host_is_a_clear_error(fleet: Fleet) -> None:
    with pytest.raises(ActuatorError, match="unknown host"):
        fleet.host("host-999")
