"""A restart that fails shows early (a crash during the boot) and teaches which hosts to avoid."""

from __future__ import annotations

from healing_fleet import Fleet, plans, t
from novacron.healing.healer import HealerSettings, RecoveryOutcome
from novacron.healing.health import Lifecycle, LifecycleEvent
from novacron.healing.ladder import PlanStatus, Rung
from novacron.healing.learning import HostBootRecord


def crashed_and_restarting(f: Fleet, vm: str, at: float) -> list[Rung]:
    return [p.rung for p in plans(f.crash(vm, at))]


def test_crash_during_the_restart_escalates_at_once_not_at_the_budget() -> None:
    f = Fleet(settings=HealerSettings(learn=False))
    f.run(2)
    [restart] = plans(f.crash("vm-h1-0", 2.5))
    assert restart.rung == Rung.RESTART_VM and restart.budget_s == 60
    # The guest comes up and dies 3 s into the boot: the restart failed, whatever the actuator
    # has yet to say, and the next rung starts right away (not 60 s later).
    [move] = plans(f.send(LifecycleEvent("vm-h1-0", "h1", Lifecycle.CRASHED, t(5.5))))
    assert restart.status == PlanStatus.FAILED
    assert move.rung == Rung.COLD_MIGRATE and move.target_host != "h1"
    assert move.issued_at == t(5.5) and move.fence is not None and move.fence.fenced
    assert "crashed again on h1 3.0s into the boot" in move.explanation
    # The actuator's late report of the abandoned restart changes nothing.
    assert plans(f.healer.report(RecoveryOutcome(restart.plan_id, False, t(14)))) == []
    assert move.status == PlanStatus.ISSUED


def test_a_crash_elsewhere_or_from_before_the_plan_is_not_the_boots_failure() -> None:
    f = Fleet(settings=HealerSettings(learn=False))
    f.run(2)
    [restart] = plans(f.crash("vm-h1-0", 2.5))
    # A replay of the crash that caused the restart (event time before the plan) ...
    f.send(LifecycleEvent("vm-h1-0", "h1", Lifecycle.CRASHED, t(2.5)))
    # ... and a crash reported by another host (a stale copy) do not fail it.
    f.send(LifecycleEvent("vm-h1-0", "h3", Lifecycle.CRASHED, t(3.0)))
    assert restart.status == PlanStatus.ISSUED


def test_host_where_boots_keep_failing_is_skipped_for_in_place_restarts() -> None:
    f = Fleet(hosts=4, vms_per_host=3, settings=HealerSettings(learn=False))
    f.run(2)
    at = 2.5
    for vm in ("vm-h1-0", "vm-h1-1"):
        f.run(at - 0.5)  # heartbeats keep coming, so only the crash is news
        [restart] = plans(f.crash(vm, at))
        assert restart.rung == Rung.RESTART_VM
        [move] = plans(f.healer.report(RecoveryOutcome(restart.plan_id, False, t(at + 2),
                                                       "virDomainCreate: qemu exited")))
        assert move.rung == Rung.COLD_MIGRATE
        f.healer.report(RecoveryOutcome(move.plan_id, True, t(at + 12)))
        at += 20
    f.run(at - 0.5)
    assert f.healer.host_boots.bad("h1", t(at))
    # The third VM on h1 crashes: no restart there, it goes straight to another host.
    [move] = plans(f.crash("vm-h1-2", at))
    assert move.rung == Rung.COLD_MIGRATE and move.target_host != "h1"
    assert any("boots failed 2 times on h1" in a.why_not for a in move.alternatives)


def test_hosts_where_boots_fail_go_last_as_targets() -> None:
    f = Fleet(hosts=3, vms_per_host=1, settings=HealerSettings(learn=False))
    f.run(2)
    # h2 has the most free room but boots keep failing there.
    f.healer.host_boots.record("h2", t(1))
    f.healer.host_boots.record("h2", t(1.5))
    [restart] = plans(f.crash("vm-h0-0", 2.5))
    [move] = plans(f.healer.report(RecoveryOutcome(restart.plan_id, False, t(4))))
    assert move.rung == Rung.COLD_MIGRATE and move.target_host == "h1"


def test_boot_failures_age_out_of_the_window() -> None:
    rec = HostBootRecord(threshold=2, window_s=600)
    rec.record("h1", t(0))
    rec.record("h1", t(100))
    assert rec.bad("h1", t(200))
    assert not rec.bad("h1", t(650)) and rec.recent("h1", t(650)) == 1
    assert rec.recent("h1", t(5000)) == 0 and not rec.bad("h9", t(0))


def test_a_timed_out_boot_does_not_mark_the_host() -> None:
    f = Fleet(settings=HealerSettings(learn=False))
    f.run(2)
    [restart] = plans(f.crash("vm-h1-0", 2.5))
    f.run(2.5 + 61)
    assert restart.status == PlanStatus.TIMED_OUT
    assert f.healer.host_boots.recent("h1", t(64)) == 0
