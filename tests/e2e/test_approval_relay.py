"""An approve-mode decision on the real chain: the actuator agent parks it, an operator
approves it, the worker's relay publishes the approved copy and the actuator carries it out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from e2e_support import Pipeline, Tap, new_vm
from novacron.actuators.approval import approved_id
from novacron.actuators.inspect import domain_state
from novacron.store import control, models
from sqlalchemy.orm import Session, sessionmaker

from novacron import topics
from novacron.events import ActionKind, ActionResult, ActionStatus, AutonomyMode, Decision, decode

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 3, 3, 9, tzinfo=UTC)


def outcomes(raw: list[bytes], vm: str) -> list[ActionResult]:
    return [a for a in map(lambda r: decode(ActionResult, r), raw)
            if a.target_id == vm and a.action == ActionKind.SCALE_VCPU]


async def test_an_approved_decision_is_carried_out_by_the_worker(
    pipeline: Pipeline, producer: AIOKafkaProducer, sessions: sessionmaker[Session]
) -> None:
    vm = new_vm(pipeline, "host-002", "approve")
    dom = pipeline.fleet.find_domain(vm)[1]
    before = int(domain_state(dom)["vcpus"])
    d = Decision(occurred_at=T0, action=ActionKind.SCALE_VCPU, target_id=vm, params={"vcpus": before + 2},
                 explanation="test: needs approval", decided_by="test", mode=AutonomyMode.APPROVE)
    async with Tap(pipeline.settings, topics.ACTIONS.name) as tap:
        await producer.send_and_wait(topics.DECISIONS.name, d.to_bytes(), key=vm.encode())
        raw = await tap.collect(lambda seen: any(a.decision_id == d.decision_id
                                                 for a in outcomes(seen, vm)), 30)
        skipped = [a for a in outcomes(raw, vm) if a.decision_id == d.decision_id]
        assert skipped and skipped[0].status == ActionStatus.SKIPPED
        assert int(domain_state(pipeline.fleet.find_domain(vm)[1])["vcpus"]) == before
        with sessions() as s:
            row = s.get(models.PendingDecision, d.decision_id)
            assert row is not None and row.status == control.PENDING

        with sessions.begin() as s:  # what POST /v2/approvals/{id}/approve does
            row = control.lock_pending(s, d.decision_id)
            assert row is not None
            control.resolve_pending(s, row, control.APPROVED, "token:e2e (ops)", None)

        copy_id = approved_id(d.decision_id)
        raw = await tap.collect(lambda seen: any(a.decision_id == copy_id for a in outcomes(seen, vm)), 30)
    done = [a for a in outcomes(raw, vm) if a.decision_id == copy_id]
    assert done and done[0].status == ActionStatus.SUCCEEDED, done
    assert int(domain_state(pipeline.fleet.find_domain(vm)[1])["vcpus"]) == before + 2
    for _ in range(50):  # the relay marks the row after publishing
        with sessions() as s:
            row = s.get(models.PendingDecision, d.decision_id)
            if row is not None and row.dispatched_at is not None:
                break
        await asyncio.sleep(0.1)
    assert row is not None and row.dispatched_at is not None
