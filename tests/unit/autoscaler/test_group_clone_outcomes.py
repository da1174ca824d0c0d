"""The group autoscaler learns its clones' fate from the actuator's outcomes: a clone not made
stops being pending at once, a made one stays pending until it shows up in the fleet, and an
outcome it cannot place changes nothing. The memory goes through JSON between steps, as it
does through the agent's table."""

from __future__ import annotations

import uuid
from typing import Any

from group_outcome_support import T0, G, evaluate_at, table
from group_outcome_support import result as make_result
from novacron.autoscaler.live_group import (
    ANTI_AFFINITY_LABEL,
    GROUP_LABEL,
    MAX_REPLICAS_LABEL,
    FleetHost,
    FleetView,
    FleetVm,
    Memory,
    Outcome,
    default_group_policy,
    group_policy,
    learn_outcome,
)

from novacron.events import ActionKind, ActionResult, ActionStatus

POLICY = group_policy({MAX_REPLICAS_LABEL: "10", ANTI_AFFINITY_LABEL: "host"},
                      default_group_policy())
COOLDOWN = POLICY.scaling.scale_up_cooldown_s
TIMEOUT = POLICY.scaling.lead_time_s + COOLDOWN
HOSTS = tuple(FleetHost(f"h{i}", 16, 65536, {"rack": "r0", "zone": "z0"}) for i in range(6))
WEB0 = FleetVm("web-0", "h0", 2, 2048, {GROUP_LABEL: G})


def evaluate(memory: Memory, at: float, util: float = 97.0,
             vms: tuple[FleetVm, ...] = (WEB0,)) -> Outcome:
    return evaluate_at(memory, at, FleetView(HOSTS, vms), POLICY, util, vms)


def result(decision_id: uuid.UUID, status: ActionStatus, detail: str,
           after: dict[str, Any] | None = None,
           action: ActionKind = ActionKind.SCALE_OUT) -> ActionResult:
    return make_result(decision_id, status, detail, after, action, host_id="h1")


def running(clones: dict[str, str | None]) -> dict[str, Any]:
    """``after`` as the actuator reads it: each clone's running hosts."""
    return {"clones": {n: {"name": n, "running_on": [h] if h else [], "copies": {}}
                       for n, h in clones.items()}}


def scale_out(demand_util: float = 97.0) -> tuple[Outcome, list[dict[str, Any]]]:
    first = evaluate({}, T0, demand_util)
    assert first.decision is not None and first.decision.action is ActionKind.SCALE_OUT, first.note
    return first, first.decision.params["clones"]


def test_a_failed_clone_stops_being_pending_so_capacity_is_ordered_again() -> None:
    first, [c] = scale_out()
    assert first.decision is not None
    failed = result(first.decision.decision_id, ActionStatus.FAILED,
                    f"ActuatorError: clone {c['name']}: disk /x/web.qcow2 (vda) is in no "
                    "storage pool of the target host")
    memory, note = learn_outcome(first.memory, failed)
    assert note is not None
    assert f"clone {c['name']} failed on {c['target_host']}: ActuatorError" in note
    assert note.endswith("no longer pending")
    assert c["name"] not in memory["ordered"] and memory["orders"] == {}
    # Once the scale-up cooldown has passed, the capacity is ordered again, well before the
    # timeout would have released it; the decision says why.
    later = evaluate(table(memory), T0 + COOLDOWN)
    d = later.decision
    assert d is not None and d.action is ActionKind.SCALE_OUT, later.note
    assert d.params["previous_replicas"] == 1 and d.trigger["pending"] == 0
    assert f"ordered again after clone {c['name']} failed on {c['target_host']}" in d.explanation
    assert d.trigger["released_clones"] == [c["name"]]
    assert later.memory["released"] == {}  # said once
    # Without the outcome the clone would still be pending: no decision.
    assert evaluate(first.memory, T0 + COOLDOWN).decision is None


def test_the_cooldown_still_spaces_scale_ups_after_a_failure() -> None:
    first, _ = scale_out()
    assert first.decision is not None
    memory, _ = learn_outcome(first.memory, result(first.decision.decision_id,
                                                   ActionStatus.FAILED, "libvirtError: boom"))
    soon = evaluate(memory, T0 + 60)
    assert soon.decision is None
    assert soon.memory["released"]  # kept for the scale-out that follows


def test_a_partly_failed_scale_out_releases_only_the_clones_not_made() -> None:
    # Three replicas at 97 %: the rule asks for two more.
    vms = (WEB0, *(FleetVm(f"web-{i}", f"h{i}", 2, 2048, {GROUP_LABEL: G}) for i in (1, 2)))
    first = evaluate({}, T0, 97.0, vms)
    d = first.decision
    assert d is not None
    made, lost = d.params["clones"]
    after = running({made["name"]: made["target_host"], lost["name"]: None})
    memory, note = learn_outcome(first.memory, result(
        d.decision_id, ActionStatus.FAILED, "clone: defined; state after acting does not match "
        "the decision", after))
    assert note is not None and lost["name"] in note and made["name"] not in note
    assert set(memory["ordered"]) == {made["name"]}
    assert memory["orders"] == {str(d.decision_id): [made["name"]]}
    # The made clone still holds its host for the anti-affinity; the lost one's is free.
    load = 140.0  # high enough that four replicas are short
    later = evaluate(table(memory), T0 + COOLDOWN, load, vms)
    assert later.decision is not None, later.note
    assert later.decision.params["previous_replicas"] == 4
    targets = {c["target_host"] for c in later.decision.params["clones"]}
    assert made["target_host"] not in targets


def test_a_succeeded_clone_stays_pending_until_it_appears() -> None:
    first, [c] = scale_out()
    assert first.decision is not None
    ok = result(first.decision.decision_id, ActionStatus.SUCCEEDED,
                f"clone: defined {c['name']} on {c['target_host']}; verified",
                running({c["name"]: c["target_host"]}))
    memory, note = learn_outcome(first.memory, ok)
    assert note is None and memory == first.memory
    # Not in the fleet view yet: still pending, so no second order.
    waiting = evaluate(memory, T0 + COOLDOWN)
    assert waiting.decision is None and c["name"] in waiting.memory["ordered"]
    # In the fleet: a member, no longer an order.
    clone = FleetVm(c["name"], c["target_host"], 2, 2048, {GROUP_LABEL: G, "clone_of": "web-0"})
    there = evaluate(waiting.memory, T0 + COOLDOWN + 60, 50.0, (WEB0, clone))
    assert there.memory["ordered"] == {} and there.memory["orders"] == {}


def test_a_succeeded_result_that_did_not_need_a_clone_releases_it() -> None:
    first, [c] = scale_out()
    assert first.decision is not None
    ok = result(first.decision.decision_id, ActionStatus.SUCCEEDED,
                "1 other replicas already run: 0 of 1 clones make the 2 decided; verified",
                running({c["name"]: None}))
    memory, note = learn_outcome(first.memory, ok)
    assert note is not None and f"clone {c['name']} was not made on {c['target_host']}" in note
    assert memory["ordered"] == {}


def test_outcomes_it_did_not_order_change_nothing() -> None:
    first, _ = scale_out()
    assert first.decision is not None
    own = first.decision.decision_id
    for r in (
        result(uuid.uuid4(), ActionStatus.FAILED, "someone else's"),  # unknown decision
        result(own, ActionStatus.SKIPPED, "autonomy mode is approve: not acting"),  # parked
        result(own, ActionStatus.FAILED, "not a scale-out", action=ActionKind.SCALE_IN),
    ):
        memory, note = learn_outcome(first.memory, r)
        assert note is None and memory is first.memory
    # Already released once: a second outcome (a reconciliation) has nothing left to release.
    failed = result(own, ActionStatus.FAILED, "boom")
    memory, _ = learn_outcome(first.memory, failed)
    again, note = learn_outcome(table(memory), failed)
    assert note is None and again == table(memory)


def test_an_approved_copys_outcome_answers_for_the_original() -> None:
    first, [c] = scale_out()
    assert first.decision is not None
    ns = uuid.uuid5(uuid.NAMESPACE_URL, "test/approved")

    def copy_id(original: uuid.UUID) -> uuid.UUID:
        return uuid.uuid5(ns, str(original))

    failed = result(copy_id(first.decision.decision_id), ActionStatus.FAILED, "boom")
    assert learn_outcome(first.memory, failed)[1] is None  # without the mapping: unknown
    memory, note = learn_outcome(first.memory, failed, copy_id=copy_id)
    assert note is not None and c["name"] not in memory["ordered"]


def test_the_timeout_still_releases_a_clone_whose_outcome_never_came() -> None:
    first, [c] = scale_out()
    late = evaluate(first.memory, T0 + TIMEOUT + 60)
    d = late.decision
    assert d is not None and d.action is ActionKind.SCALE_OUT, late.note
    assert c["name"] not in late.memory["ordered"]
    assert list(late.memory["orders"]) == [str(d.decision_id)]  # only the new order's


def test_a_clone_made_before_the_actuator_failed_counts_as_a_member_not_a_reason() -> None:
    first, [c] = scale_out()
    assert first.decision is not None
    memory, _ = learn_outcome(first.memory, result(first.decision.decision_id,
                                                   ActionStatus.FAILED, "libvirtError: boom"))
    # The fleet, read afresh, has it after all: a replica, and no longer named as failed.
    clone = FleetVm(c["name"], c["target_host"], 2, 2048, {GROUP_LABEL: G, "clone_of": "web-0"})
    there = evaluate(memory, T0 + COOLDOWN, 50.0, (WEB0, clone))
    assert there.memory["released"] == {} and there.memory["ordered"] == {}
