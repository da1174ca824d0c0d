"""What the recorder writes for placements (store.outcomes, as streams.record calls it) on the
real PostgreSQL: a group's scale-out becomes one placement decision per replica, listed by
GET /v2/placements with its outcome; a PLACE's outcome lands on its decision and the VM row."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from novacron.actuators.approval import approved_copy
from novacron.store import fleet_json, models, outcomes, repository
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, ActionResult, ActionStatus, Alternative, AutonomyMode, Decision

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def group(sessions: sessionmaker[Session]) -> Iterator[str]:
    g = f"grp-{uuid.uuid4().hex[:8]}"
    yield g
    with sessions.begin() as s:
        s.execute(delete(models.PlacementDecision).where(models.PlacementDecision.vm_id.startswith(g)))
        s.execute(delete(models.VM).where(models.VM.vm_id.startswith(g)))
        s.execute(delete(models.FleetEvent).where(models.FleetEvent.vm_id.startswith(g)))


def scale_out(group: str, mode: AutonomyMode = AutonomyMode.AUTO) -> Decision:
    clones = [{"name": f"{group}-c0", "target_host": "h-a", "score": 0.9, "placement": "placed on h-a",
               "trace": [["capacity", 1]]},
              {"name": f"{group}-c1", "target_host": "h-b", "score": 0.7, "placement": "placed on h-b",
               "trace": []}]
    return Decision(occurred_at=T0, action=ActionKind.SCALE_OUT, target_kind="group", target_id=group,
                    host_id="h-a", params={"group": group, "clones": clones, "replicas": 3,
                                           "source_vm": f"{group}-0", "source_host": "h-z"},
                    alternatives=[Alternative(option=f"place {group}-c0 on h-c", score=0.5,
                                              why_not="less free memory")],
                    explanation="scale out", decided_by="group_scaler", mode=mode)


def result(d: Decision, status: ActionStatus, clones: dict[str, list[str]] | None) -> ActionResult:
    after = {"clones": {n: {"running_on": r} for n, r in clones.items()}} if clones is not None else {}
    return ActionResult(occurred_at=T0, decision_id=d.decision_id, action=d.action, target_id=d.target_id,
                        host_id=d.host_id, status=status, detail=f"{status.value}: test", after=after,
                        duration_ms=12.5)


def rows(s: Session, group: str) -> dict[str, models.PlacementDecision]:
    m = models.PlacementDecision
    return {r.vm_id: r for r in s.scalars(select(m).where(m.policy == f"group:{group}"))}


async def test_each_replica_is_a_placement_with_its_outcome(sessions: sessionmaker[Session], group: str) -> None:
    d = scale_out(group)
    with sessions.begin() as s:
        assert outcomes.record_group_placements(s, d) == 2
    with sessions.begin() as s:  # redelivered: nothing new
        assert outcomes.record_group_placements(s, d) == 0
    with sessions.begin() as s:
        # One clone ran, the other did not: each replica's outcome says so.
        assert outcomes.record_outcome(s, result(d, ActionStatus.FAILED, {f"{group}-c0": ["h-a"],
                                                                          f"{group}-c1": []}))
    with sessions() as s:
        got = rows(s, group)
    assert set(got) == {f"{group}-c0", f"{group}-c1"}
    c0, c1 = got[f"{group}-c0"], got[f"{group}-c1"]
    assert c0.status == "placed" and c0.target_host == "h-a" and c0.score == 0.9
    assert c0.decision_id == outcomes.replica_decision_id(d.decision_id, c0.vm_id)
    assert c0.alternatives[0]["host"] == "h-c" and c1.alternatives == []
    assert c0.outcome is not None and c0.outcome["status"] == "succeeded" and c0.outcome["host_id"] == "h-a"
    assert c1.outcome is not None and c1.outcome["status"] == "failed" and c1.outcome["detail"] == "failed: test"
    listed = json.loads(await fleet_json.placement_decisions(f"{group}-c1", None, 10))
    assert listed[0]["outcome"]["status"] == "failed" and listed[0]["policy"] == f"group:{group}"


def test_an_approved_scale_out_marks_its_replicas_placed(sessions: sessionmaker[Session], group: str) -> None:
    d = scale_out(group, AutonomyMode.APPROVE)
    with sessions.begin() as s:
        outcomes.record_group_placements(s, d)
    with sessions() as s:
        assert {r.status for r in rows(s, group).values()} == {"awaiting-approval"}
    copy = approved_copy(d, "token:t (ops)")
    with sessions.begin() as s:
        assert outcomes.record_group_placements(s, copy) == 2
        outcomes.record_outcome(s, result(copy, ActionStatus.SUCCEEDED, {f"{group}-c0": ["h-a"],
                                                                         f"{group}-c1": ["h-b"]}))
    with sessions() as s:
        got = rows(s, group)
    assert len(got) == 2 and {r.status for r in got.values()} == {"placed"}
    assert {r.outcome["status"] for r in got.values() if r.outcome} == {"succeeded"}


def test_a_failed_place_marks_the_vm_failed_with_the_reason(sessions: sessionmaker[Session], group: str) -> None:
    vm_id, host = f"{group}-vm", f"{group}-h"
    decision_id = uuid.uuid4()
    with sessions.begin() as s:
        repository.upsert_host(s, host, "test:///default", 4, 4096, {})
        repository.upsert_vm(s, vm_id, host, 1, 256, {})
        s.add(models.PlacementDecision(decision_id=decision_id, vm_id=vm_id, target_host=host, score=1.0,
                                       explanation="x", alternatives=[], policy="default", status="placed",
                                       decided_at=T0))
    res = ActionResult(occurred_at=T0, decision_id=decision_id, action=ActionKind.PLACE, target_id=vm_id,
                       host_id=host, status=ActionStatus.FAILED, duration_ms=3.0,
                       detail="ActuatorError: did not start: Cannot access storage file '/x'")
    try:
        with sessions.begin() as s:
            assert outcomes.record_outcome(s, res)
        with sessions() as s:
            row = s.get(models.PlacementDecision, decision_id)
            vm = s.get(models.VM, vm_id)
            ev = s.scalars(select(models.FleetEvent).where(models.FleetEvent.vm_id == vm_id)).one()
        assert row is not None and row.outcome is not None and row.outcome["status"] == "failed"
        assert row.outcome["host_id"] == host and "/x" in row.outcome["detail"]
        assert vm is not None and vm.state == "failed"
        assert ev.kind == "place-failed" and "/x" in ev.reason
    finally:
        with sessions.begin() as s:
            s.execute(delete(models.VM).where(models.VM.vm_id == vm_id))
            s.execute(delete(models.Host).where(models.Host.host_id == host))
