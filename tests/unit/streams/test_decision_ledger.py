"""A window decided twice (a worker killed before its state was written back decides it again
after the restart) is one decision to the actuator's ledger: one row, one change in libvirt.
Real PostgreSQL and a libvirt test-driver host."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from novacron.actuators import simfleet
from novacron.actuators.connection import Fleet
from novacron.actuators.inspect import domain_state
from novacron.actuators.xml import DomainSpec, domain_xml
from novacron.autoscaler.live import default_vcpu_policy, evaluate
from novacron.store import models
from novacron.streams.approvals import act
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionStatus, FeatureVector, MetricName

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    f = simfleet.build(tmp_path / "fleet", hosts=1, vms_per_host=0)
    yield f
    f.close()


def test_the_same_feature_decided_twice_gives_one_ledger_row_and_one_action(
    fleet: Fleet, sessions: sessionmaker[Session]
) -> None:
    vm = f"twice-{uuid.uuid4().hex[:8]}"
    dom = fleet.host("host-000").get().defineXML(domain_xml(DomainSpec(
        name=vm, vcpus=2, max_vcpus=8, memory_mib=64, max_memory_mib=64)))
    dom.create()
    fv = FeatureVector(occurred_at=T0, vm_id=vm, metric=MetricName.CPU, window_s=900, count=13,
                       last=97.0, mean=97.0, std=0.0, p95=97.0, ewma=97.0, history=[97.0] * 13,
                       allocated=2, host_id="host-000")
    results = []
    for _ in range(2):  # from empty state each time: the restarted worker lost the first
        decision, _state = evaluate(fv, None, {}, default_vcpu_policy(), "serving down",
                                    incarnation=dom.UUIDString())
        assert decision is not None
        results.append(act(decision, fleet, sessions))
    first, second = results
    assert first is not None and first.status == ActionStatus.SUCCEEDED, first
    assert second is None  # a duplicate already handled
    assert int(domain_state(dom)["vcpus"]) == first.after["vcpus"] > 2
    with sessions() as s:
        rows = s.scalar(select(func.count()).select_from(models.Action)
                        .where(models.Action.target_id == vm))
    assert rows == 1
