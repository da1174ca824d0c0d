"""The healer's decisions are stored in healing_events (real PostgreSQL), next to their
outcomes, once per decision; other decisions stay in their own tables."""

from __future__ import annotations

import random
import uuid

from novacron.healing.healer import Hold, HoldKind
from novacron.store import healing_repo, repository
from novacron.store.decision_log import record as store
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, Decision, utcnow


def plan_decision(vm: str) -> Decision:
    return Decision(occurred_at=utcnow(), action=ActionKind.RESTART, target_kind="vm",
                    target_id=vm, host_id="h1",
                    params={"rung": "restart_vm", "budget_s": 60.0, "attempt": 1},
                    trigger={"health": "vm_crashed", "summary": "lifecycle event: crashed"},
                    explanation="vm_crashed on it: restart in place first", decided_by="healer")


def test_a_plan_and_a_hold_land_in_healing_events_once(sessions: sessionmaker[Session]) -> None:
    vm = f"vm-rec-{random.randrange(10**9)}"
    plan = plan_decision(vm)
    hold = Hold(HoldKind.BACKOFF, "vm", vm, utcnow(), "restarted 2 times in 600s: back off",
                retry_at=utcnow()).to_decision()
    with sessions.begin() as s:
        for d in (plan, hold, plan):  # the plan redelivered
            store(s, d)
        # The actuator's outcome for the plan is a row of its own (keyed by the bare id).
        assert healing_repo.record_outcome(
            s, key=str(plan.decision_id), subject_id=vm, diagnosis="vm_crashed",
            rung="restart_vm", succeeded=True, duration_s=2.5, occurred_at=utcnow(),
            evidence={})
    with sessions() as s:
        rows = healing_repo.healing_events_for(s, vm)
        assert repository.scaling_events_for(s, vm) == []
    by_rung = {(r.rung, r.succeeded) for r in rows}
    assert by_rung == {("restart_vm", None), ("hold:backoff", None), ("restart_vm", True)}
    decision_row = next(r for r in rows if r.evidence.get("kind") == "decision"
                        and r.rung == "restart_vm")
    assert decision_row.diagnosis == "vm_crashed"
    assert decision_row.evidence["decision_id"] == str(plan.decision_id)
    assert decision_row.evidence["explanation"].startswith("vm_crashed on it")


def test_other_deciders_stay_in_scaling_events(sessions: sessionmaker[Session]) -> None:
    vm = f"vm-rec-{uuid.uuid4().hex[:10]}"
    d = plan_decision(vm).model_copy(update={"decided_by": "autoscaler/predictive",
                                             "action": ActionKind.SCALE_VCPU,
                                             "params": {"vcpus": 4}})
    with sessions.begin() as s:
        store(s, d)
    with sessions() as s:
        assert [e.decision_id for e in repository.scaling_events_for(s, vm)] == [d.decision_id]
        assert healing_repo.healing_events_for(s, vm) == []
