"""Wire adapters, and liveness: with the actuator killed at random points (outcomes lost),
a failed VM always ends either running again or handed to an operator, never abandoned."""

from __future__ import annotations

import uuid

from healing_fleet import Fleet, t
from hypothesis import given, settings
from hypothesis import strategies as st
from novacron.healing.adapters import from_action_result, from_metric
from novacron.healing.healer import RecoveryOutcome
from novacron.healing.health import MetricSeen, ResourceUsage

from novacron.events import ActionKind, ActionResult, ActionStatus, MetricName, MetricSample


def test_metric_sample_becomes_liveness_and_usage() -> None:
    s = MetricSample(occurred_at=t(5), vm_id="vm1", metric=MetricName.MEMORY, value=97.0)
    seen, usage = from_metric(s)
    assert seen == MetricSeen("vm1", t(5))
    assert usage == ResourceUsage("vm", "vm1", "memory", 0.97, t(5))
    net = MetricSample(occurred_at=t(5), vm_id="vm1", metric=MetricName.NET_IN, value=3e6)
    assert from_metric(net) == [MetricSeen("vm1", t(5))]


def test_action_result_becomes_outcome() -> None:
    did = uuid.uuid4()
    r = ActionResult(occurred_at=t(9), decision_id=did, action=ActionKind.RESTART,
                     target_id="vm1", status=ActionStatus.FAILED, detail="boom",
                     duration_ms=10)
    assert from_action_result(r) == RecoveryOutcome(did, False, t(9), "boom")
    skipped = r.model_copy(update={"status": ActionStatus.SKIPPED})
    assert from_action_result(skipped) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["lost", "ok", "fail"]), min_size=1, max_size=12),
       st.sampled_from(["vm-h1-0", "vm-h2-1"]), st.booleans())
def test_lost_outcomes_never_abandon_a_vm(fates: list[str], vm: str, host_dies: bool) -> None:
    f = Fleet(hosts=5)
    f.run(2)
    if host_dies:
        f.dead.add(f.healer.model.vms[vm].host_id)
    else:
        f.crash(vm, 3)
    running = False
    fate = iter(fates)
    for _ in range(60):  # ~ an hour of event time in 60 s steps
        for p in [p for p in f.healer.in_flight() if p.vm_id == vm]:
            what = next(fate, "ok")
            if what != "lost":  # "lost": the actuator died; only the budget will tell
                end = min(p.deadline, t(f.now + 5))
                f.healer.report(RecoveryOutcome(p.plan_id, what == "ok", end))
                running = running or what == "ok"
        f.run(f.now + 60, step=5)
        if running or vm in f.healer.needs_operator:
            break
    assert running or vm in f.healer.needs_operator
    if running:
        assert vm not in f.healer.incidents
