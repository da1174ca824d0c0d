"""A scale-in's replicas count as leaving until they leave the fleet; an outcome saying one was
not removed makes it count again at once (it still serves), logged and named by the next
decision, while lead time + cooldown stays the fallback. The memory goes through JSON between
steps, as it does through the agent's table."""

from __future__ import annotations

import uuid
from typing import Any

from group_outcome_support import T0, G, evaluate_at
from group_outcome_support import result as make_result
from novacron.autoscaler.live_group import (
    ANTI_AFFINITY_LABEL,
    CLONE_OF_LABEL,
    CLONED_AT_LABEL,
    GROUP_LABEL,
    MIN_REPLICAS_LABEL,
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

POLICY = group_policy({MIN_REPLICAS_LABEL: "2", ANTI_AFFINITY_LABEL: "host"},
                      default_group_policy())


def clone(name: str, host_id: str, at: float) -> FleetVm:
    return FleetVm(name, host_id, 2, 2048, {GROUP_LABEL: G, CLONE_OF_LABEL: "web-0",
                                            CLONED_AT_LABEL: repr(at)})


VMS = (FleetVm("web-0", "h0", 2, 2048, {GROUP_LABEL: G}), clone("web-a", "h1", T0 - 900),
       clone("web-b", "h2", T0 - 60))
FLEET = FleetView(tuple(FleetHost(f"h{i}", 16, 65536) for i in range(3)), VMS)


def evaluate(memory: Memory, at: float) -> Outcome:
    return evaluate_at(memory, at, FLEET, POLICY, 5.0, VMS)


def until_scale_in(memory: Memory, start: float) -> tuple[Outcome, float]:
    for k in range(60):
        at = start + 60 * k
        out = evaluate(memory, at)
        if out.decision is not None:
            assert out.decision.action is ActionKind.SCALE_IN
            return out, at
        memory = out.memory
    raise AssertionError("no scale-in within an hour of low load")


def result(decision_id: uuid.UUID, status: ActionStatus, detail: str,
           after: dict[str, Any] | None = None,
           action: ActionKind = ActionKind.SCALE_IN) -> ActionResult:
    return make_result(decision_id, status, detail, after, action)


def removed(copies: dict[str, str]) -> dict[str, Any]:
    """``after`` as the actuator reads it after a scale-in of web-b."""
    return {"removed": {"web-b": {"name": "web-b", "copies": copies,
                                  "running_on": [h for h, s in copies.items() if s == "running"],
                                  "host_id": None}}}


def test_a_replica_not_removed_stops_counting_as_leaving_at_once() -> None:
    first, at = until_scale_in({}, T0)
    d = first.decision
    assert d is not None and d.params["remove"] == [{"name": "web-b", "host": "h2"}]
    assert set(first.memory["removing"]) == {"web-b"}
    failed = result(d.decision_id, ActionStatus.FAILED,
                    "libvirtError: shutdown timed out; state after acting does not match the "
                    "decision", removed({"h2": "running"}))
    memory, note = learn_outcome(first.memory, failed)
    assert note is not None
    assert note == ("group web: replica web-b was not removed (still on h2 (running)): "
                    "libvirtError: shutdown timed out; state after acting does not match the "
                    "decision; no longer counted as leaving")
    assert memory["removing"] == {} and memory["removals"] == {}
    soon = evaluate(memory, at + 60)
    assert soon.memory["removing"] == {} and set(soon.memory["not_removed"]) == {"web-b"}
    # Without the outcome web-b would still count as leaving, until lead time + cooldown.
    assert set(evaluate(first.memory, at + 60).memory["removing"]) == {"web-b"}
    # Serving again, it is named again by the next scale-in, which says why.
    again, _ = until_scale_in(soon.memory, at + 120)
    d2 = again.decision
    assert d2 is not None and d2.params["remove"] == [{"name": "web-b", "host": "h2"}]
    assert d2.params["previous_replicas"] == 3
    assert "replica web-b was not removed (still on h2 (running))" in d2.explanation
    assert d2.trigger["not_removed"] == ["web-b"] and again.memory["not_removed"] == {}


def test_a_failed_scale_in_that_cannot_say_releases_every_named_replica() -> None:
    first, _ = until_scale_in({}, T0)
    d = first.decision
    assert d is not None
    memory, note = learn_outcome(first.memory, result(d.decision_id, ActionStatus.FAILED,
                                                      "ActuatorError: host h2 unreachable"))
    assert note is not None and "replica web-b may not have been removed (scale-in failed)" in note
    assert memory["removing"] == {}


def test_removed_replicas_skipped_and_unknown_outcomes_change_nothing() -> None:
    first, _ = until_scale_in({}, T0)
    d = first.decision
    assert d is not None
    for r in (
        result(d.decision_id, ActionStatus.SUCCEEDED, "removed web-b; verified", removed({})),
        # Gone from every host even though another step failed: it did leave.
        result(d.decision_id, ActionStatus.FAILED, "overlay left behind", removed({})),
        result(d.decision_id, ActionStatus.SKIPPED, "autonomy mode is approve: not acting"),
        result(uuid.uuid4(), ActionStatus.FAILED, "not ours", removed({"h2": "running"})),
        result(d.decision_id, ActionStatus.FAILED, "a scale-out's id?",
               action=ActionKind.SCALE_OUT),
    ):
        memory, note = learn_outcome(first.memory, r)
        assert note is None and memory is first.memory


def test_an_approved_copy_answers_for_the_original() -> None:
    first, _ = until_scale_in({}, T0)
    d = first.decision
    assert d is not None
    copy = uuid.uuid5(d.decision_id, "approved")
    memory, note = learn_outcome(first.memory,
                                 result(copy, ActionStatus.FAILED, "boom",
                                        removed({"h2": "shut off"})),
                                 copy_id=lambda i: uuid.uuid5(i, "approved"))
    assert note is not None and "still on h2 (shut off)" in note
    assert memory["removing"] == {}
