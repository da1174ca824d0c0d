"""The live group autoscaler's pure core: membership, aggregate load, the group's policy, and
decisions whose replicas are placed by the placement engine."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from novacron.autoscaler.live_group import (
    ANTI_AFFINITY_LABEL,
    CLONE_OF_LABEL,
    CLONED_AT_LABEL,
    CORDONED_LABEL,
    GROUP_LABEL,
    MAX_REPLICAS_LABEL,
    MIN_REPLICAS_LABEL,
    FleetHost,
    FleetView,
    FleetVm,
    GroupPolicy,
    Memory,
    default_group_policy,
    evaluate_group,
    group_load,
    group_policy,
    label_problem,
    record_feature,
    template,
)
from novacron.autoscaler.policy import ScalingPolicy
from novacron.policy import Policy, PolicySet

from novacron.events import ActionKind, AutonomyMode, Forecast, MetricName

G = "web"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def host(i: int, cpus: int = 16, **labels: str) -> FleetHost:
    return FleetHost(f"h{i}", cpus, 65536, {"rack": f"r{i % 2}", "zone": "z0", **labels})


def member(name: str, host_id: str, vcpus: int = 2, clone_at: float | None = None,
           **labels: str) -> FleetVm:
    lab = {GROUP_LABEL: G, **labels}
    if clone_at is not None:
        lab |= {CLONE_OF_LABEL: "web-0", CLONED_AT_LABEL: repr(clone_at)}
    return FleetVm(name, host_id, vcpus, 2048, lab)


def policy(min_r: int = 1, max_r: int = 10, anti: str | None = "host",
           base: ScalingPolicy | None = None) -> GroupPolicy:
    labels = {MIN_REPLICAS_LABEL: str(min_r), MAX_REPLICAS_LABEL: str(max_r)}
    if anti:
        labels[ANTI_AFFINITY_LABEL] = anti
    return group_policy(labels, base or default_group_policy())


def loaded(vms: Sequence[FleetVm], util: float, at: float, memory: Memory | None = None) -> Memory:
    mem: Memory = dict(memory or {})
    for v in vms:
        mem = record_feature(mem, v.vm_id, at, util, v.vcpus, [util] * 20, 60.0)
    return mem


def test_high_load_clones_onto_the_host_the_engine_picks_honouring_anti_affinity() -> None:
    vms = (member("web-0", "h0"), member("web-1", "h1"), FleetVm("other", "h2", 2, 2048))
    fleet = FleetView((host(0), host(1), host(2), host(3, **{CORDONED_LABEL: "true"})), vms)
    out = evaluate_group(G, loaded(vms[:2], 97.0, T0), fleet, policy(), T0)
    d = out.decision
    assert d is not None and d.action is ActionKind.SCALE_OUT, out.note
    assert d.target_kind == "group" and d.target_id == G
    [clone] = d.params["clones"]
    # h0 and h1 hold replicas (hard anti-affinity per host), h3 is cordoned: only h2 is left.
    assert clone["target_host"] == d.host_id == d.params["target_host"] == "h2"
    assert d.params["source_vm"] == "web-0" and d.params["replicas"] == 3
    assert "placed web-c" in d.explanation and "reactive fallback" in d.explanation
    assert {"host_available", "vm_affinity"} <= {f for f, n in clone["trace"] if n}
    assert out.memory["ordered"] == {clone["name"]: (T0, "h2")}


def test_an_ordered_clone_is_pending_and_holds_its_host_until_it_shows_up() -> None:
    hosts = tuple(host(i) for i in range(9))
    vms = (member("web-0", "h0"),)
    first = evaluate_group(G, loaded(vms, 97.0, T0), FleetView(hosts, vms), policy(), T0)
    assert first.decision is not None
    [c1] = first.decision.params["clones"]
    # Three minutes later the clone is not in the fleet yet, and an operator added a big
    # member: the clone counts as pending, and its host stays taken for the anti-affinity.
    vms += (member("web-1", "h3", vcpus=8),)
    later = evaluate_group(G, loaded(vms, 100.0, T0 + 180, first.memory), FleetView(hosts, vms),
                           policy(), T0 + 180)
    d = later.decision
    assert d is not None and d.params["previous_replicas"] == 3, later.note
    targets = [c["target_host"] for c in d.params["clones"]]
    assert len(set(targets)) == len(targets) >= 2
    assert not set(targets) & {"h0", "h3", c1["target_host"]}


def test_a_decision_only_recommended_is_not_waited_for() -> None:
    vms = (member("web-0", "h0"),)
    fleet = FleetView((host(0), host(1), host(2)), vms)
    base = ScalingPolicy.from_profile("moderate", max_replicas=10, mode=AutonomyMode.RECOMMEND)
    out = evaluate_group(G, loaded(vms, 97.0, T0), fleet, policy(base=base), T0)
    assert out.decision is not None and out.decision.mode is AutonomyMode.RECOMMEND
    assert out.memory["ordered"] == {}


def test_no_host_left_means_no_decision_and_the_rule_retries() -> None:
    vms = (member("web-0", "h0"), member("web-1", "h1"))
    fleet = FleetView((host(0), host(1)), vms)
    mem = loaded(vms, 97.0, T0)
    out = evaluate_group(G, mem, fleet, policy(), T0)
    assert out.decision is None
    assert out.note is not None and "no replica can be placed" in out.note
    assert "vm_affinity" in out.note or "anti-affinity" in out.note
    assert out.memory.get("state") == mem.get("state")  # no cooldown started: it retries


def test_without_anti_affinity_a_replica_may_share_a_host() -> None:
    vms = (member("web-0", "h0"), member("web-1", "h1"))
    fleet = FleetView((host(0), host(1)), vms)
    out = evaluate_group(G, loaded(vms, 97.0, T0), fleet, policy(anti=None), T0)
    assert out.decision is not None and out.decision.host_id in {"h0", "h1"}


def test_a_full_host_is_not_a_target() -> None:
    vms = (member("web-0", "h0"), FleetVm("big", "h1", 15, 2048))
    fleet = FleetView((host(0), host(1), host(2)), vms)
    out = evaluate_group(G, loaded(vms[:1], 97.0, T0), fleet, policy(anti=None), T0)
    assert out.decision is not None
    assert all(c["target_host"] != "h1" for c in out.decision.params["clones"])


def low_for_long(vms: Sequence[FleetVm], fleet: FleetView, pol: GroupPolicy,
                 util: float = 5.0) -> list:
    mem: Memory = {}
    outs = []
    for k in range(0, 40):
        t = T0 + 60 * k
        mem = loaded([v for v in vms if v.group == G], util, t, mem)
        out = evaluate_group(G, mem, fleet, pol, t)
        mem = out.memory
        outs.append(out)
        if out.decision is not None:
            break
    return outs


def test_scale_in_removes_the_newest_clone_never_an_original() -> None:
    vms = (member("web-0", "h0"), member("web-a", "h1", clone_at=T0 - 900),
           member("web-b", "h2", clone_at=T0 - 60))
    fleet = FleetView((host(0), host(1), host(2)), vms)
    outs = low_for_long(vms, fleet, policy(min_r=2))
    d = outs[-1].decision
    assert d is not None and d.action is ActionKind.SCALE_IN
    assert d.params["remove"] == [{"name": "web-b", "host": "h2"}]  # newest, and min 2 stays
    assert d.params["replicas"] == 2 and d.target_id == G
    assert "newest clones first" in d.explanation


def test_scale_in_never_touches_originals() -> None:
    vms = (member("web-0", "h0"), member("web-1", "h1"), member("web-2", "h2"))
    fleet = FleetView((host(0), host(1), host(2)), vms)
    outs = low_for_long(vms, fleet, policy(min_r=1))
    assert all(o.decision is None for o in outs)
    assert any(o.note and "no clone can be removed" in o.note for o in outs)


def test_a_stale_member_is_counted_at_the_mean_of_the_fresh_ones() -> None:
    vms = [member("web-0", "h0"), member("web-1", "h1"), member("web-2", "h2", vcpus=4)]
    mem = record_feature({}, "web-0", T0, 80.0, 2, [80.0], 60)
    mem = record_feature(mem, "web-1", T0 - 60, 40.0, 2, [40.0], 60)
    mem = record_feature(mem, "web-2", T0 - 3600, 100.0, 4, [100.0], 60)  # stale
    load = group_load(mem, vms, T0, unit_vcpus=2, stale_after_s=180)
    assert load is not None
    assert load.fresh == ("web-0", "web-1") and load.imputed == ("web-2",)
    # busy: 1.6 + 0.8 vCPUs; web-2 at the fresh mean (60 %) of its own 4 vCPUs: 2.4; in units
    # of the template's 2 vCPUs.
    assert load.demand == pytest.approx((1.6 + 0.8 + 2.4) / 2)
    # A feature without an allocation is taken relative to the member's vCPUs in libvirt.
    bare = record_feature(mem, "web-2", T0, 50.0, 0.0, [50.0], 60)
    load = group_load(bare, vms, T0, unit_vcpus=2, stale_after_s=180)
    assert load is not None and load.demand == pytest.approx((1.6 + 0.8 + 2.0) / 2)
    assert group_load(mem, vms, T0 + 7200, 2, 180) is None  # nothing fresh: no demand


def test_histories_are_summed_aligned_on_their_latest_point() -> None:
    vms = [member("web-0", "h0"), member("web-1", "h1")]
    mem = record_feature({}, "web-0", T0, 50.0, 2, [10.0, 20.0, 30.0], 60)
    mem = record_feature(mem, "web-1", T0, 50.0, 4, [50.0], 60)  # a clone: one point so far
    load = group_load(mem, vms, T0, unit_vcpus=2, stale_after_s=180)
    assert load is not None and load.history == (10.0, 20.0, 130.0)  # % of one 2-vCPU replica


def test_a_late_older_feature_changes_nothing() -> None:
    mem = record_feature({}, "web-0", T0, 80.0, 2, [80.0], 60)
    assert record_feature(mem, "web-0", T0 - 60, 5.0, 2, [5.0], 60) is mem


def test_a_forecast_of_the_aggregate_drives_a_predictive_scale_out() -> None:
    vms = (member("web-0", "h0"), member("web-1", "h1"))
    fleet = FleetView((host(0), host(1), host(2), host(3)), vms)
    at = datetime.fromtimestamp(T0, UTC)
    fc = Forecast(occurred_at=at, vm_id=G, metric=MetricName.CPU, horizon_s=900, step_s=60,
                  point=[150.0] * 15, lower=[100.0] * 15, upper=[230.0] * 15, model="m")
    out = evaluate_group(G, loaded(vms, 60.0, T0), fleet, policy(), T0, forecast=fc)
    d = out.decision
    assert d is not None and d.decided_by == "autoscaler/predictive"
    # 2.3 replicas' worth cannot be served by 2 (the rule sizes it at its target, whatever
    # the tuning); the new replicas go to h2 and h3, the hosts free of the group.
    targets = [c["target_host"] for c in d.params["clones"]]
    assert d.params["replicas"] == 2 + len(targets) >= 3
    assert len(set(targets)) == len(targets) and set(targets) <= {"h2", "h3"}
    assert len(out.memory["pending"]) == 1  # its accuracy is scored when the lead time comes


def test_policy_beats_labels_which_beat_the_default() -> None:
    labels = {GROUP_LABEL: G, "app": "web", MIN_REPLICAS_LABEL: "2", MAX_REPLICAS_LABEL: "5",
              ANTI_AFFINITY_LABEL: "rack"}
    base = default_group_policy()
    by_label = group_policy(labels, base)
    assert (by_label.scaling.min_replicas, by_label.scaling.max_replicas) == (2, 5)
    assert by_label.anti_affinity == ("rack", True) and not by_label.problems
    pol = Policy.model_validate({
        "name": "web-tier", "selector": {"matchLabels": {"app": "web"}},
        "rules": {"maxReplicas": 7, "antiAffinity": {"mode": "soft", "topologyKey": "zone"},
                  "autoScaling": "aggressive"},
        "autonomy": {"scale_in": "approve"}})
    eff = PolicySet([pol]).effective(labels)
    both = group_policy(labels, base, eff)
    assert (both.scaling.min_replicas, both.scaling.max_replicas) == (2, 7)
    assert both.anti_affinity == ("zone", False)
    assert both.scaling.profile.value == "aggressive"
    assert both.mode_in is AutonomyMode.APPROVE and both.mode_out is base.mode
    assert "maxReplicas 7 from policy web-tier" in both.sources
    default = group_policy({GROUP_LABEL: G}, base)
    assert default.anti_affinity is None and default.scaling.max_replicas == base.max_replicas


def test_bad_labels_are_ignored_and_conflicting_bounds_block() -> None:
    base = default_group_policy()
    bad = group_policy({MIN_REPLICAS_LABEL: "two", ANTI_AFFINITY_LABEL: "numa"}, base)
    assert bad.scaling.min_replicas == base.min_replicas and bad.anti_affinity is None
    assert len(bad.problems) == 2 and "not an integer" in bad.problems[0]
    blocked = group_policy({MIN_REPLICAS_LABEL: "6", MAX_REPLICAS_LABEL: "3"}, base)
    assert blocked.blocked is not None and "min 6 > max 3" in blocked.blocked
    vms = (member("web-0", "h0"),)
    out = evaluate_group(G, loaded(vms, 99.0, T0), FleetView((host(0), host(1)), vms),
                         blocked, T0)
    assert out.decision is None and out.note is not None and "fix the policy" in out.note


def test_membership_and_template() -> None:
    ok = member("web-1", "h0")
    clone = member("web-c", "h1", clone_at=T0)
    bad = FleetVm("x", "h0", 2, 2048, {GROUP_LABEL: "no spaces allowed"})
    fleet = FleetView((host(0), host(1)), (clone, bad, ok))
    assert [m.vm_id for m in fleet.members(G)] == ["web-1", "web-c"]
    assert bad.group is None and label_problem(bad) is not None and label_problem(ok) is None
    assert template(fleet.members(G)) == ok
    assert template([clone]) == clone and template([]) is None


def test_clone_names_come_from_the_decision_id() -> None:
    vms = (member("web-0", "h0"),)
    fleet = FleetView((host(0), host(1)), vms)
    ids = [uuid.UUID(int=7), uuid.uuid4()]
    a, b, c = (evaluate_group(G, loaded(vms, 97.0, T0), fleet, policy(), T0, decision_id=i).decision
               for i in (ids[0], ids[0], ids[1]))
    assert a is not None and b is not None and c is not None and a.decision_id == ids[0]
    assert a.params["clones"] == b.params["clones"] != c.params["clones"]
    assert a.params["name"] == f"web-c{ids[0].hex[:8]}-0"


def test_serving_down_falls_back_to_reactive_and_says_why() -> None:
    vms = (member("web-0", "h0"),)
    fleet = FleetView((host(0), host(1)), vms)
    out = evaluate_group(G, loaded(vms, 97.0, T0), fleet, policy(), T0,
                         fallback_reason="serving unavailable: connection refused")
    d = out.decision
    assert d is not None and d.decided_by == "autoscaler/reactive"
    assert d.trigger["fallback_reason"] == "serving unavailable: connection refused"
    assert "reactive fallback (serving unavailable" in d.explanation


def test_a_poor_forecast_record_sends_the_group_to_the_reactive_rule() -> None:
    vms = (member("web-0", "h0"),)
    fleet = FleetView(tuple(host(i, cpus=64) for i in range(4)), vms)
    mem: Memory = {}
    rules = []
    for k in range(30):  # the forecast says idle; the group is busy: its bound never covers
        t = T0 + 60 * k
        fc = Forecast(occurred_at=datetime.fromtimestamp(t, UTC), vm_id=G, metric=MetricName.CPU,
                      horizon_s=900, step_s=60, point=[5.0] * 15, lower=[0.0] * 15,
                      upper=[10.0] * 15, model="m")
        out = evaluate_group(G, loaded(vms, 97.0, t, mem), fleet, policy(anti=None), t,
                             forecast=fc)
        mem = out.memory
        if out.decision is not None:
            rules.append((k, out.decision.trigger.get("fallback_reason")))
    assert rules[0][1] is None  # at first the forecast is followed (its guard scales up)
    late = [why for k, why in rules if k > 20]
    assert late and all(why and why.startswith("forecast accuracy poor") for why in late)


def test_the_groups_own_bursts_hold_back_a_scale_in_the_served_band_would_allow() -> None:
    # Four replicas idle at 5 % between bursts to 90 % (3 min every 20 min); the served band
    # of the aggregate says 30 % of one replica at most, the group's own history says otherwise.
    vms = (member("web-0", "h0"), *(member(f"web-{c}", f"h{i + 1}", clone_at=T0 - 900 + i)
                                     for i, c in enumerate("abc")))  # fmt: skip
    fleet = FleetView(tuple(host(i) for i in range(4)), vms)

    def scale_ins(bursty: bool) -> list[int]:
        mem: Memory = {}
        got = []
        for k in range(40):
            t = T0 + 60 * k
            hist = [90.0 if (i + k) % 20 < 3 else 5.0 for i in range(180)] + [5.0] if bursty else [5.0]
            for v in vms:
                mem = record_feature(mem, v.vm_id, t, 5.0, v.vcpus, hist, 60.0)
            at = datetime.fromtimestamp(t, UTC)
            fc = Forecast(occurred_at=at, vm_id=G, metric=MetricName.CPU, horizon_s=900, step_s=60,
                          point=[20.0] * 15, lower=[10.0] * 15, upper=[30.0] * 15, model="m")
            out = evaluate_group(G, mem, fleet, policy(), t, forecast=fc, upper_down=[30.0] * 15,
                                 level_down=0.9)  # fmt: skip
            mem = out.memory
            if out.decision is not None and out.decision.action is ActionKind.SCALE_IN:
                got.append(int(out.decision.params["replicas"]))
        return got

    assert scale_ins(bursty=False)  # the served band alone lets the group shrink
    assert scale_ins(bursty=True) == []  # its own bursts keep the replicas
