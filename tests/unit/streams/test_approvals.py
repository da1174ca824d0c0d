"""Decisions that wait for an operator: parked by the actuator side, approved through the
store as the API does it, relayed as an approved copy that acts once. Real PostgreSQL and
libvirt's test driver."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from novacron.actuators import simfleet
from novacron.actuators.approval import approved_copy, approved_id, operator_wait_reason
from novacron.actuators.connection import Fleet
from novacron.actuators.inspect import domain_state
from novacron.store import control, models
from novacron.streams import approvals
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, ActionStatus, AutonomyMode, Decision

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VM = "vm-001-01"


@pytest.fixture
def fleet(fleet_dir: Path) -> Iterator[Fleet]:
    f = simfleet.build(fleet_dir, hosts=2, vms_per_host=2)
    yield f
    f.close()


def decision(vcpus: int, mode: AutonomyMode) -> Decision:
    return Decision(occurred_at=T0, action=ActionKind.SCALE_VCPU, target_id=VM, params={"vcpus": vcpus},
                    explanation="forecast says 5 vCPUs busy", decided_by="test", mode=mode,
                    policy="web-tier")


def vcpus(fleet: Fleet) -> int:
    return int(domain_state(fleet.find_domain(VM)[1])["vcpus"])


def row(sessions: sessionmaker[Session], decision_id: uuid.UUID) -> models.PendingDecision | None:
    with sessions() as s:
        return s.get(models.PendingDecision, decision_id)


def approve(sessions: sessionmaker[Session], decision_id: uuid.UUID, actor: str = "token:t1 (ops)") -> None:
    with sessions.begin() as s:
        r = control.lock_pending(s, decision_id)
        assert r is not None
        control.resolve_pending(s, r, control.APPROVED, actor, "looks right")


def test_who_waits_for_an_operator() -> None:
    assert operator_wait_reason(decision(4, AutonomyMode.APPROVE), paused=False) is not None
    assert operator_wait_reason(decision(4, AutonomyMode.AUTO), paused=True) is not None
    assert operator_wait_reason(decision(4, AutonomyMode.AUTO), paused=False) is None
    # Recommendations and observations are recorded, not queued for approval.
    assert operator_wait_reason(decision(4, AutonomyMode.RECOMMEND), paused=True) is None
    assert operator_wait_reason(decision(4, AutonomyMode.OBSERVE), paused=False) is None


def test_the_approved_copy_acts_and_says_who_approved() -> None:
    d = decision(4, AutonomyMode.APPROVE)
    c = approved_copy(d, "token:t1 (ops)", "ok")
    assert c.mode == AutonomyMode.AUTO and c.action == d.action and c.params["vcpus"] == 4
    assert c.decision_id == approved_id(d.decision_id) != d.decision_id
    assert c.params["approved_from"] == str(d.decision_id) and "token:t1 (ops)" in c.explanation
    # Derived, not random: a copy published twice is the same decision for the ledger.
    assert approved_copy(d, "someone else").decision_id == c.decision_id


def test_an_approve_mode_decision_waits_then_acts_once_approved(
        fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    before = vcpus(fleet)
    d = decision(before + 2, AutonomyMode.APPROVE)
    result = approvals.act(d, fleet, sessions)
    assert result is not None and result.status == ActionStatus.SKIPPED
    assert vcpus(fleet) == before
    parked = row(sessions, d.decision_id)
    assert parked is not None and parked.status == control.PENDING and "approve" in parked.reason

    copies, _ = approvals.take_approved(sessions, limit=1000)
    assert approved_id(d.decision_id) not in {c.decision_id for c in copies}  # not yet approved

    approve(sessions, d.decision_id)
    copies, done = approvals.take_approved(sessions, limit=1000)
    mine = [c for c in copies if c.params.get("approved_from") == str(d.decision_id)]
    assert len(mine) == 1 and d.decision_id in done
    out = approvals.act(mine[0], fleet, sessions)
    assert out is not None and out.status == ActionStatus.SUCCEEDED
    assert vcpus(fleet) == before + 2
    # Published twice (the relay died before marking): the ledger acts once.
    assert approvals.act(mine[0], fleet, sessions) is None

    approvals.mark_dispatched(sessions, [d.decision_id])
    copies, _ = approvals.take_approved(sessions, limit=1000)
    assert all(c.params.get("approved_from") != str(d.decision_id) for c in copies)
    marked = row(sessions, d.decision_id)
    assert marked is not None and marked.dispatched_at is not None


def test_a_rejected_decision_never_reaches_the_actuators(
        fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    d = decision(vcpus(fleet) + 1, AutonomyMode.APPROVE)
    approvals.act(d, fleet, sessions)
    with sessions.begin() as s:
        r = control.lock_pending(s, d.decision_id)
        assert r is not None
        control.resolve_pending(s, r, control.REJECTED, "token:t1 (ops)", "no")
    copies, _ = approvals.take_approved(sessions, limit=1000)
    assert all(c.params.get("approved_from") != str(d.decision_id) for c in copies)


def test_recommendations_are_recorded_not_parked(fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    d = decision(vcpus(fleet) + 1, AutonomyMode.RECOMMEND)
    result = approvals.act(d, fleet, sessions)
    assert result is not None and result.status == ActionStatus.SKIPPED
    assert row(sessions, d.decision_id) is None


def test_the_operators_pause_switch_in_postgres_holds_automatic_decisions(
        fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    before = vcpus(fleet)
    d = decision(before + 1, AutonomyMode.AUTO)
    with sessions.begin() as s:
        control.set_pause(s, True, "maintenance window", "pytest")
    try:
        result = approvals.act(d, fleet, sessions)
    finally:
        with sessions.begin() as s:
            control.set_pause(s, False, "test cleanup", "pytest")
    assert result is not None and result.status == ActionStatus.SKIPPED and "pause" in result.detail
    assert vcpus(fleet) == before
    parked = row(sessions, d.decision_id)
    assert parked is not None and "paused" in parked.reason


def test_a_decision_about_hosts_managed_elsewhere_is_left_unclaimed(
        fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    """Two workers share the ledger: one that claimed another's decision (and failed on hosts
    it does not manage) would make the right one skip it as already handled."""
    here = next(iter(fleet.hosts))
    theirs = decision(4, AutonomyMode.AUTO).model_copy(update={
        "decision_id": uuid.uuid4(), "action": ActionKind.MIGRATE, "host_id": None,
        "params": {"source_host": "elsewhere-1", "target_host": "elsewhere-2"}})
    assert approvals.act(theirs, fleet, sessions) is None
    with sessions() as s:
        assert s.get(models.Action, theirs.decision_id) is None  # not claimed
    ours = theirs.model_copy(update={"decision_id": uuid.uuid4(),
                                     "params": {"source_host": "elsewhere-1", "target_host": here}})
    assert approvals.manages(fleet, ours)
    anywhere = decision(4, AutonomyMode.AUTO)  # names no host: found wherever it is
    assert approvals.manages(fleet, anywhere) and approvals.named_hosts(anywhere) == set()
