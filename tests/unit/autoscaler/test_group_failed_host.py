"""After a clone failed on a host, the group's next scale-outs keep off that host for a while
(the placement engine's ``excluded_hosts`` filter), say so, and place there anyway when it is
the only host a replica fits. The memory goes through JSON between steps, as it does through
the agent's table."""

from __future__ import annotations

from group_outcome_support import T0, G, evaluate_at, result, table
from novacron.autoscaler.live_group import (
    ANTI_AFFINITY_LABEL,
    AVOID_FAILED_HOST_S,
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

from novacron.events import ActionKind, ActionStatus

POLICY = group_policy({MAX_REPLICAS_LABEL: "10", ANTI_AFFINITY_LABEL: "host"},
                      default_group_policy())
COOLDOWN = POLICY.scaling.scale_up_cooldown_s
WEB0 = FleetVm("web-0", "h0", 2, 2048, {GROUP_LABEL: G})
NO_POOL = "ActuatorError: disk /x/web.qcow2 (vda) is in no storage pool of the target host"


def hosts(n: int) -> tuple[FleetHost, ...]:
    return tuple(FleetHost(f"h{i}", 16, 65536, {"rack": "r0", "zone": "z0"}) for i in range(n))


def evaluate(memory: Memory, at: float, n_hosts: int = 6) -> Outcome:
    return evaluate_at(memory, at, FleetView(hosts(n_hosts), (WEB0,)), POLICY, 97.0, (WEB0,))


def failed_once(n_hosts: int = 6) -> tuple[Memory, str]:
    """A scale-out whose one clone failed; the memory after learning it, and the host."""
    first = evaluate({}, T0, n_hosts)
    d = first.decision
    assert d is not None and d.action is ActionKind.SCALE_OUT, first.note
    [c] = d.params["clones"]
    memory, note = learn_outcome(first.memory, result(d.decision_id, ActionStatus.FAILED, NO_POOL))
    assert note is not None and f"{c['target_host']} avoided by the next placements" in note
    return table(memory), c["target_host"]


def test_the_next_scale_out_avoids_the_host_the_clone_failed_on() -> None:
    memory, bad = failed_once()
    again = evaluate(memory, T0 + COOLDOWN)
    d = again.decision
    assert d is not None and d.action is ActionKind.SCALE_OUT, again.note
    [c] = d.params["clones"]
    assert c["target_host"] != bad and "exclusion_dropped" not in c
    assert ["excluded_hosts", 1] in c["trace"]
    assert d.trigger["avoided_hosts"] == [bad]
    assert f"avoided {bad} for another" in d.explanation
    assert f"failed on {bad}: {NO_POOL}" in d.explanation
    # Without the avoidance the engine would have picked the failed host again.
    blind = evaluate({**memory, "avoid": {}}, T0 + COOLDOWN)
    assert blind.decision is not None
    assert blind.decision.params["clones"][0]["target_host"] == bad
    # The avoidance outlives the scale-out that honoured it.
    assert set(again.memory["avoid"]) == {bad}


def test_the_avoidance_ends_after_its_window_of_event_time() -> None:
    memory, bad = failed_once()
    late = evaluate(memory, T0 + AVOID_FAILED_HOST_S + 60)
    d = late.decision
    assert d is not None, late.note
    assert d.params["clones"][0]["target_host"] == bad
    assert "avoided_hosts" not in d.trigger and "avoid" not in d.explanation
    assert late.memory["avoid"] == {}


def test_when_only_the_avoided_host_fits_the_replica_goes_there_and_the_decision_says_so() -> None:
    # Two hosts, hard anti-affinity per host: web-0 holds h0, so h1 is the only place.
    memory, bad = failed_once(n_hosts=2)
    assert bad == "h1"
    again = evaluate(memory, T0 + COOLDOWN, n_hosts=2)
    d = again.decision
    assert d is not None and d.action is ActionKind.SCALE_OUT, again.note
    [c] = d.params["clones"]
    assert c["target_host"] == "h1" and c["exclusion_dropped"] is True
    assert "avoiding h1" in d.explanation
    assert "placed without avoiding them rather than not scaling" in d.explanation
    # That clone is made there: the host is no longer avoided.
    made = {"clones": {c["name"]: {"name": c["name"], "running_on": ["h1"], "copies": {}}}}
    memory, note = learn_outcome(again.memory, result(d.decision_id, ActionStatus.SUCCEEDED,
                                                      "cloned; verified", made))
    assert note is not None and f"clone {c['name']} was made on h1: no longer avoided" in note
    assert memory["avoid"] == {} and c["name"] in memory["ordered"]


def test_a_made_clone_on_a_host_not_avoided_changes_nothing() -> None:
    first = evaluate({}, T0)
    d = first.decision
    assert d is not None
    [c] = d.params["clones"]
    made = {"clones": {c["name"]: {"name": c["name"], "running_on": [c["target_host"]],
                                   "copies": {}}}}
    memory, note = learn_outcome(first.memory, result(d.decision_id, ActionStatus.SUCCEEDED,
                                                      "cloned; verified", made))
    assert note is None and memory is first.memory
