"""Recovery outcomes change the rung order (Thompson sampling), and the plan says why."""

from __future__ import annotations

import random
from collections import Counter

from healing_fleet import Fleet, plans, t
from novacron.healing.diagnosis import FailureClass
from novacron.healing.healer import RecoveryOutcome
from novacron.healing.ladder import DEFAULT_LADDERS, Rung
from novacron.healing.learning import ThompsonLadder

CRASH = FailureClass.VM_CRASHED
LADDER = DEFAULT_LADDERS[CRASH]


def first_rungs(learner: ThompsonLadder, n: int = 200) -> dict[Rung, int]:
    counts: dict[Rung, int] = {}
    for _ in range(n):
        r = learner.rank(CRASH, LADDER).order[0]
        counts[r] = counts.get(r, 0) + 1
    return counts


def test_without_data_the_default_order_is_kept_almost_always() -> None:
    counts = first_rungs(ThompsonLadder(random.Random(1)))
    assert counts.get(Rung.RESTART_VM, 0) >= 190


def test_failures_and_successes_reorder_the_ladder() -> None:
    learner = ThompsonLadder(random.Random(2))
    for _ in range(20):
        learner.record(CRASH, Rung.RESTART_VM, False, 60.0)  # keeps timing out
        learner.record(CRASH, Rung.COLD_MIGRATE, True, 25.0)
    counts = first_rungs(learner)
    assert counts.get(Rung.COLD_MIGRATE, 0) >= 190
    ranked = learner.rank(CRASH, LADDER)
    text = ranked.explain(CRASH)
    assert text.startswith("cold_migrate first for vm_crashed")
    assert "20 ok/0 failed" in text and "0 ok/20 failed" in text


def test_slow_but_reliable_loses_to_fast_and_reliable() -> None:
    learner = ThompsonLadder(random.Random(3))
    for _ in range(30):
        learner.record(CRASH, Rung.RESTART_VM, True, 170.0)
        learner.record(CRASH, Rung.COLD_MIGRATE, True, 20.0)
    assert learner.rank(CRASH, LADDER).order[0] == Rung.COLD_MIGRATE


def test_seeded_rng_makes_ranking_reproducible() -> None:
    a, b = ThompsonLadder(random.Random(7)), ThompsonLadder(random.Random(7))
    assert [a.rank(CRASH, LADDER).order for _ in range(20)] == \
        [b.rank(CRASH, LADDER).order for _ in range(20)]


def test_healer_outcomes_change_the_first_rung_and_the_explanation() -> None:
    f = Fleet(hosts=4, vms_per_host=4, seed=5)
    at = 2.0
    vms = list(f.vms)
    for i in range(12):  # restarts in place keep failing; moving the VM works
        vm = vms[i % len(vms)]
        for p in plans(f.crash(vm, at)):
            ok = p.rung != Rung.RESTART_VM
            for q in plans(f.healer.report(RecoveryOutcome(p.plan_id, ok, t(at + 5)))):
                f.healer.report(RecoveryOutcome(q.plan_id, True, t(at + 20)))
        at += 30
        f.run(at)
    [p] = plans(f.crash(vms[13], at + 1))
    assert p.rung == Rung.COLD_MIGRATE
    assert "cold_migrate first for vm_crashed" in p.explanation
    assert "Thompson" in p.explanation


def test_configured_order_is_the_prior_for_every_class() -> None:
    learner = ThompsonLadder(random.Random(11))
    for failure, ladder in DEFAULT_LADDERS.items():
        if not ladder:
            continue
        firsts = Counter(learner.rank(failure, ladder).order[0] for _ in range(200))
        assert firsts[ladder[0]] >= 180, (failure, firsts)  # Thompson still explores a little
