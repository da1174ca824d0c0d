"""The recovery ladder: every rung's timeout escalates; failures escalate; success closes."""

from __future__ import annotations

import pytest
from healing_fleet import Fleet, holds, plans, t
from novacron.healing.diagnosis import FailureClass
from novacron.healing.healer import HealerSettings, HoldKind, RecoveryOutcome
from novacron.healing.health import VmRegistered, VmState
from novacron.healing.ladder import RUNG_BUDGET_S, IncidentStatus, PlanStatus, Rung

from novacron.events import ActionKind, ActionResult, ActionStatus, Decision

ALL_RUNGS = list(Rung)


def service_down_fleet(ladder: tuple[Rung, ...]) -> Fleet:
    """A fleet where every rung can apply to vm-h0-0: agent, standby, second zone, scalable."""
    settings = HealerSettings(ladders={FailureClass.GUEST_SERVICE_DOWN: ladder}, learn=False)
    standby = VmRegistered("standby-0", "h2", t(0), has_guest_agent=True)
    return Fleet(hosts=4, zones=("zone-a", "zone-a", "zone-a", "zone-b"), settings=settings,
                 standby={"vm-h0-0": "standby-0"}, scalable=True, extra_vms=[standby])


@pytest.mark.parametrize("rung", ALL_RUNGS, ids=[r.value for r in ALL_RUNGS])
def test_every_rungs_timeout_escalates(rung: Rung) -> None:
    nxt = Rung.RESTART_VM if rung != Rung.RESTART_VM else Rung.COLD_MIGRATE
    f = service_down_fleet((rung, nxt))
    f.services_down["vm-h0-0"] = frozenset({"db"})
    first = plans(f.run(2))
    assert [(p.vm_id, p.rung) for p in first] == [("vm-h0-0", rung)]
    budget = RUNG_BUDGET_S[rung]
    assert first[0].budget_s == budget
    assert plans(f.run(2 + budget - 1)) == []  # still within budget: no second guess
    second = plans(f.run(2 + budget + 2))
    assert [p.rung for p in second] == [nxt]
    assert first[0].status == PlanStatus.TIMED_OUT
    assert f"timed out after {budget:.0f}s" in second[0].explanation


def test_last_rung_timeout_ends_in_needs_operator_with_diagnosis() -> None:
    f = service_down_fleet((Rung.RESTART_SERVICE,))
    f.services_down["vm-h0-0"] = frozenset({"db"})
    assert [p.rung for p in plans(f.run(2))] == [Rung.RESTART_SERVICE]
    out = f.run(40)
    [hold] = holds(out, HoldKind.NEEDS_OPERATOR)
    assert hold.diagnosis is not None
    assert hold.diagnosis.failure == FailureClass.GUEST_SERVICE_DOWN
    assert "vm-h0-0" in f.healer.needs_operator
    assert plans(f.run(400)) == [] and holds(f.run(500)) == []  # terminal and quiet


def test_failure_escalates_and_success_closes_the_incident() -> None:
    f = Fleet()
    [p1] = plans(f.crash("vm-h1-0", 3.2))
    assert p1.rung == Rung.RESTART_VM and p1.issued_at == t(3.2)  # detected on the event
    [p2] = plans(f.healer.report(RecoveryOutcome(p1.plan_id, False, t(10), "qemu failed")))
    assert p2.rung == Rung.COLD_MIGRATE and p2.target_host not in (None, "h1")
    assert p2.fence is not None and p2.fence.fenced  # starts elsewhere: fenced first
    assert "escalated after restart_vm qemu failed" in p2.explanation
    assert plans(f.healer.report(RecoveryOutcome(p2.plan_id, True, t(30)))) == []
    vm = f.healer.model.vms["vm-h1-0"]
    assert vm.state == VmState.RUNNING and vm.host_id == p2.target_host
    assert not f.healer.incidents
    assert f.healer.closed[-1].status == IncidentStatus.RECOVERED
    # a duplicate report (at-least-once delivery) changes nothing
    assert plans(f.healer.report(RecoveryOutcome(p2.plan_id, False, t(31)))) == []


def test_plan_converts_to_an_explained_idempotent_decision() -> None:
    f = Fleet()
    [p] = plans(f.crash("vm-h1-0", 3))
    d = p.to_decision()
    assert isinstance(d, Decision) and d.decided_by == "healer"
    assert d.decision_id == p.plan_id and d.action == ActionKind.RESTART
    assert d.params["rung"] == "restart_vm" and d.trigger["health"] == "vm_crashed"
    assert "vm_crashed" in d.explanation and d.alternatives  # later rungs listed with why
    Decision.model_validate_json(d.model_dump_json())  # wire-safe
    result = ActionResult(occurred_at=t(9), decision_id=d.decision_id, action=d.action,
                          target_id=d.target_id, status=ActionStatus.SUCCEEDED, detail="ok",
                          duration_ms=6000)
    f.healer.report_result(result)
    assert p.status == PlanStatus.SUCCEEDED


def test_hold_converts_to_noop_decision() -> None:
    f = Fleet()
    f.cut.add("h2")
    [hold] = holds(f.run(20), HoldKind.PARTITION)
    d = hold.to_decision()
    assert d.action == ActionKind.NOOP and d.target_kind == "host" and "partition" in d.explanation


def test_inapplicable_rungs_are_skipped_with_reasons() -> None:
    f = Fleet(agent=False)  # no guest agent, no standby, one zone
    f.healer.model.vms["vm-h0-0"].services_down = frozenset()
    [p] = plans(f.crash("vm-h0-0", 2))
    why = {a.option: a.why_not for a in p.alternatives}
    assert why["failover"] == "no warm standby"
    assert why["disaster_recovery"] == "no healthy host in another zone"


def test_problem_that_clears_during_restart_closes_without_escalation() -> None:
    f = service_down_fleet((Rung.RESTART_SERVICE, Rung.RESTART_VM))
    f.services_down["vm-h0-0"] = frozenset({"db"})
    [p] = plans(f.run(2))
    f.services_down.pop("vm-h0-0")  # the service came back just after the budget
    assert plans(f.run(40)) == []
    assert p.status == PlanStatus.TIMED_OUT and not f.healer.incidents


def test_failed_move_is_retried_once_on_another_host_then_escalates() -> None:
    f = Fleet(hosts=5, settings=HealerSettings(learn=False))
    f.run(2)
    f.dead.add("h0")
    ps = [p for p in plans(f.run(20)) if p.vm_id == "vm-h0-0"]
    [p1] = ps
    [p2] = plans(f.healer.report(RecoveryOutcome(p1.plan_id, False, t(25), "target refused")))
    assert p2.rung == Rung.COLD_MIGRATE and p2.target_host not in ("h0", p1.target_host)
    assert f"retrying on another host after cold_migrate to {p1.target_host}" in p2.explanation
    out = f.healer.report(RecoveryOutcome(p2.plan_id, False, t(30), "target refused"))
    # no standby, one zone: the ladder is exhausted
    assert holds(out, HoldKind.NEEDS_OPERATOR)
