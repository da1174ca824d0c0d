"""Safety: fencing before failover, restart caps and back-off, circuit breakers, partitions,
operator shutdowns, quorum, and priority when capacity is short."""

from __future__ import annotations

from healing_fleet import Fleet, holds, plans, t
from novacron.healing.diagnosis import FailureClass
from novacron.healing.healer import HealerSettings, HoldKind, RecoveryOutcome
from novacron.healing.ladder import STARTS_ELSEWHERE, Rung
from novacron.healing.safety import (
    BreakerSettings,
    FenceRequest,
    MassActionBreaker,
    RestartLimiter,
    RestartSettings,
    TestFencer,
)

# ------------------------------------------------------------------ restart cap and back-off


def test_restart_limiter_backs_off_exponentially_then_is_terminal() -> None:
    lim = RestartLimiter(RestartSettings(max_restarts=3, backoff_base_s=10, window_s=3600))
    assert lim.check("vm", t(0)).allowed
    lim.record("vm", t(0))
    v = lim.check("vm", t(5))
    assert not v.allowed and v.retry_at == t(10) and not v.terminal
    lim.record("vm", t(10))
    assert lim.check("vm", t(29)).retry_at == t(30)  # 20 s after the second
    lim.record("vm", t(30))
    v = lim.check("vm", t(3000))
    assert not v.allowed and v.terminal
    assert lim.check("vm", t(3601)).allowed  # the first restart left the window


def test_crash_loop_becomes_needs_operator_not_a_restart_storm() -> None:
    f = Fleet()
    vm = "vm-h1-0"
    boots = 0
    at = 2.0
    for _ in range(8):  # the VM crashes again right after every successful restart
        for p in plans(f.crash(vm, at) + f.run(at + 60)):
            boots += 1
            f.healer.report(RecoveryOutcome(p.plan_id, True, t(at + 61)))
        at += 120
        f.run(at)
    assert boots == 3  # the cap
    assert vm in f.healer.needs_operator
    [hold] = holds(f.actions, HoldKind.NEEDS_OPERATOR)
    assert hold.diagnosis is not None and hold.diagnosis.failure == FailureClass.VM_CRASHED
    assert "restart cap reached" in hold.reason
    # an operator takes over and clears it: the healer may act again
    f.healer.operator_clear(vm, t(at))
    assert plans(f.crash(vm, at + 1))


def test_back_off_delays_a_quick_second_incident() -> None:
    f = Fleet()
    [p] = plans(f.crash("vm-h1-0", 2))
    f.healer.report(RecoveryOutcome(p.plan_id, True, t(4)))
    out = f.crash("vm-h1-0", 5)
    [hold] = holds(out, HoldKind.BACKOFF)
    assert hold.retry_at == t(12)  # 10 s after the first restart
    assert plans(f.run(11)) == []
    assert [p.rung for p in plans(f.run(13))] == [Rung.RESTART_VM]


# ------------------------------------------------------------------ fencing


def test_host_down_is_fenced_before_any_vm_restarts_elsewhere() -> None:
    fencer = TestFencer()
    f = Fleet(fencer=fencer)
    f.run(2)
    f.dead.add("h0")
    out = f.run(25)
    ps = plans(out)
    assert sorted(p.vm_id for p in ps) == ["vm-h0-0", "vm-h0-1"]
    assert all(p.rung == Rung.COLD_MIGRATE and p.target_host != "h0" for p in ps)
    assert fencer.calls and fencer.calls[0] == FenceRequest(
        "host", "h0", "h0", fencer.calls[0].reason, fencer.calls[0].at)
    assert all(p.fence is not None and p.fence.fenced and p.fence.request.target_id == "h0"
               for p in ps)
    assert all(p.fence is not None and p.fence.request.at <= p.issued_at for p in ps)
    # declared down after 15 s of silence, acted on within the next collection round
    assert min(p.issued_at for p in ps) <= t(2 + 15 + 2)


def test_failing_fencer_blocks_failover_then_needs_operator() -> None:
    fencer = TestFencer(fail={"h0"})
    f = Fleet(fencer=fencer)
    f.run(2)
    f.dead.add("h0")
    out = f.run(60)
    assert plans(out) == []  # no proof the old copies are dead: nothing starts elsewhere
    assert len(holds(out, HoldKind.FENCE_FAILED)) == 1
    assert len(fencer.calls) == 3  # retried, then handed over
    [terminal] = holds(out, HoldKind.NEEDS_OPERATOR)
    assert terminal.subject_id == "h0" and "fencing failed 3 times" in terminal.reason


def test_vm_level_failover_needs_a_fence_of_the_vm() -> None:
    fencer = TestFencer(fail={"vm-h1-0"})
    f = Fleet(fencer=fencer, settings=HealerSettings(learn=False))
    [p] = plans(f.crash("vm-h1-0", 2))
    out = f.healer.report(RecoveryOutcome(p.plan_id, False, t(5)))
    assert plans(out) == [] and holds(out, HoldKind.FENCE_FAILED)
    assert fencer.calls[-1].scope == "vm" and fencer.calls[-1].target_id == "vm-h1-0"
    fencer.fail.clear()  # the destroy finally confirms
    [p2] = plans(f.run(12))
    assert p2.rung == Rung.COLD_MIGRATE and p2.fence is not None and p2.fence.fenced


# ------------------------------------------------------------------ partition and quorum


def test_management_link_loss_causes_no_evacuation() -> None:
    fencer = TestFencer()
    f = Fleet(fencer=fencer)
    f.run(2)
    f.cut.add("h1")  # controller loses h1; its peers still see it
    out = f.run(120)
    assert plans(out) == [] and fencer.calls == []
    [hold] = holds(out, HoldKind.PARTITION)
    assert hold.subject_id == "h1" and "no evacuation" in hold.reason
    f.cut.clear()
    assert plans(f.run(140)) == []  # link back: VMs were never touched


def test_no_quorum_means_no_action() -> None:
    f = Fleet(hosts=2)
    f.run(2)
    f.dead.add("h0")
    out = f.run(60)
    assert plans(out) == [] and holds(out, HoldKind.NO_QUORUM)


# ------------------------------------------------------------------ circuit breakers


def test_min_healthy_share_breaker_stops_mass_evacuation() -> None:
    f = Fleet(hosts=5)
    f.run(2)
    f.dead.update({"h0", "h1"})  # 3/5 = 60 % healthy: at the limit, allowed
    assert plans(f.run(25))
    g = Fleet(hosts=5)
    g.run(2)
    g.dead.update({"h0", "h1", "h2"})  # 2/5 healthy: the network is the likelier culprit
    out = g.run(60)
    assert plans(out) == []
    assert all("suspect the network" in h.reason for h in holds(out, HoldKind.BREAKER))


def test_evacuation_rate_breaker() -> None:
    settings = HealerSettings(breakers=BreakerSettings(max_evacuations_per_window=1,
                                                        min_healthy_share=0.3))
    f = Fleet(hosts=6, settings=settings)
    f.run(2)
    f.dead.add("h0")
    f.run(25)
    f.dead.add("h1")
    out = f.run(50)
    assert plans(out) == []
    [hold] = holds(out, HoldKind.BREAKER)
    assert hold.subject_id == "h1" and "evacuations within" in hold.reason


def test_concurrent_migration_limits_per_host_and_cluster() -> None:
    br = MassActionBreaker(BreakerSettings(max_migrations_per_host=2,
                                           max_migrations_per_cluster=3))
    br.start_move(1, "a", "b")
    br.start_move(2, "a", "c")
    v = br.check_move("a", "d")
    assert not v.allowed and "on a" in v.reason
    br.start_move(3, "d", "e")
    v = br.check_move("f", "g")
    assert not v.allowed and "in the cluster" in v.reason
    br.finish_move(1)
    assert br.check_move("f", "g").allowed


def test_host_evacuation_respects_migration_limit() -> None:
    settings = HealerSettings(breakers=BreakerSettings(max_migrations_per_cluster=2))
    f = Fleet(hosts=4, vms_per_host=5, settings=settings)
    f.run(2)
    f.dead.add("h0")
    out = f.run(25)
    ps = plans(out)
    assert len(ps) == 2 and holds(out, HoldKind.BREAKER)
    f.healer.report(RecoveryOutcome(ps[0].plan_id, True, t(30)))
    assert len(f.healer.in_flight()) == 2  # the freed slot was used at once


# ------------------------------------------------------------------ operator and priority


def test_operator_shutdown_is_honoured() -> None:
    f = Fleet()
    f.run(2)
    f.operator_shutdown("vm-h1-0", 3)
    assert plans(f.run(100)) == []
    # and an incident already running is cancelled when the operator shuts the VM down
    [p] = plans(f.crash("vm-h2-0", 101))
    out = f.operator_shutdown("vm-h2-0", 102)
    assert holds(out, HoldKind.OPERATOR_SHUTDOWN)
    f.healer.report(RecoveryOutcome(p.plan_id, True, t(110)))
    assert f.healer.model.vms["vm-h2-0"].state.value == "operator_stopped"


def test_operator_stopped_vm_is_not_restarted_after_its_host_dies() -> None:
    f = Fleet()
    f.run(2)
    f.operator_shutdown("vm-h0-0", 3)
    f.dead.add("h0")
    assert [p.vm_id for p in plans(f.run(25))] == ["vm-h0-1"]


def test_priority_decides_who_restarts_first_when_capacity_is_short() -> None:
    prio = {"vm-h0-0": 1, "vm-h0-1": 9, "vm-h0-2": 5}
    f = Fleet(hosts=3, vms_per_host=3, capacity=4, priorities=prio)
    f.run(2)
    f.dead.add("h0")
    ps = plans(f.run(25))
    # 1 free slot on each of h1, h2: the two highest priorities get them
    assert sorted(p.vm_id for p in ps) == ["vm-h0-1", "vm-h0-2"]
    waiting = holds(f.actions, HoldKind.CAPACITY)
    assert [h.subject_id for h in waiting] == ["vm-h0-0"]


def test_every_start_elsewhere_carries_a_fence_proof() -> None:
    f = Fleet(hosts=5, vms_per_host=3)
    f.run(2)
    f.dead.add("h3")
    f.crash("vm-h1-1", 5)
    f.run(40)
    for p in f.healer.plans.values():
        if p.rung in STARTS_ELSEWHERE:
            assert p.fence is not None and p.fence.fenced


def test_evacuation_spreads_over_targets_below_the_per_host_limit() -> None:
    settings = HealerSettings(breakers=BreakerSettings(max_migrations_per_host=1))
    f = Fleet(hosts=4, vms_per_host=3, settings=settings)
    f.run(2)
    f.dead.add("h0")
    ps = plans(f.run(25))
    assert len(ps) == 3 and len({p.target_host for p in ps}) == 3


def test_restart_order_is_priority_then_id() -> None:
    from novacron.healing.safety import restart_order

    f = Fleet(hosts=1, vms_per_host=3, priorities={"vm-h0-2": 5, "vm-h0-0": 1})
    ordered = restart_order(f.healer.model.vms.values())
    assert [v.vm_id for v in ordered] == ["vm-h0-2", "vm-h0-0", "vm-h0-1"]
