"""Property: over random fleets, groups, policies and demand sequences, no group decision
breaks the replica bounds, and no scale-out target breaks a placement hard constraint
(hard anti-affinity among the group's replicas, capacity, cordoned or maintenance hosts).

Each decision is applied to the fleet before the next evaluation, as the actuator would."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from novacron.autoscaler.live_group import (
    ANTI_AFFINITY_LABEL,
    CLONE_OF_LABEL,
    CLONED_AT_LABEL,
    CORDONED_LABEL,
    GROUP_LABEL,
    MAINTENANCE_LABEL,
    MAX_REPLICAS_LABEL,
    MIN_REPLICAS_LABEL,
    FleetHost,
    FleetView,
    FleetVm,
    Memory,
    evaluate_group,
    group_policy,
    record_feature,
    template,
)
from novacron.autoscaler.policy import ScalingPolicy

from novacron.events import ActionKind

G = "grp"
T0 = 1_767_225_600.0


@st.composite
def hosts(draw: st.DrawFn) -> tuple[FleetHost, ...]:
    n = draw(st.integers(1, 6))
    out = []
    for i in range(n):
        labels = {"rack": f"r{draw(st.integers(0, 2))}", "zone": f"z{draw(st.integers(0, 1))}"}
        if draw(st.integers(0, 4)) == 0:
            labels[CORDONED_LABEL] = "true"
        if draw(st.integers(0, 6)) == 0:
            labels[MAINTENANCE_LABEL] = "true"
        out.append(FleetHost(f"h{i}", draw(st.sampled_from([2, 4, 8, 16])),
                             draw(st.sampled_from([4096, 8192, 32768])), labels))
    return tuple(out)


@dataclass(frozen=True)
class Case:
    fleet: FleetView
    labels: dict[str, str]
    profile: str
    utils: tuple[float, ...]
    gaps: tuple[int, ...]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    hs = draw(hosts())
    lo = draw(st.integers(0, 4))
    hi = draw(st.integers(max(lo, 1), 8))
    labels = {GROUP_LABEL: G, MIN_REPLICAS_LABEL: str(lo), MAX_REPLICAS_LABEL: str(hi),
              ANTI_AFFINITY_LABEL: draw(st.sampled_from(["none", "host", "rack", "zone"]))}
    size = draw(st.sampled_from([(1, 512), (2, 2048), (4, 4096)]))
    vms: list[FleetVm] = []
    for i in range(draw(st.integers(1, 5))):
        lab = dict(labels)
        if i and draw(st.booleans()):
            lab |= {CLONE_OF_LABEL: f"{G}-0", CLONED_AT_LABEL: repr(T0 - draw(st.integers(1, 9e3)))}
        h = draw(st.sampled_from(hs)).host_id
        vms.append(FleetVm(f"{G}-{i}", h, size[0], size[1], lab, draw(st.integers(0, 5)) > 0))
    for j in range(draw(st.integers(0, 6))):
        vms.append(FleetVm(f"other-{j}", draw(st.sampled_from(hs)).host_id,
                           draw(st.integers(1, 8)), draw(st.sampled_from([512, 4096])),
                           {"app": "other", GROUP_LABEL: "other"}))
    n = draw(st.integers(3, 30))
    utils = tuple(draw(st.lists(st.floats(0, 100), min_size=n, max_size=n)))
    gaps = tuple(draw(st.lists(st.sampled_from([30, 60, 60, 120, 600]), min_size=n, max_size=n)))
    profile = draw(st.sampled_from(["conservative", "moderate", "aggressive"]))
    return Case(FleetView(hs, tuple(vms)), labels, profile, utils, gaps)


def domain(h: FleetHost, key: str) -> str:
    if key == "host":
        return h.host_id
    if key == "rack":
        return f"{h.labels['zone']}/{h.labels['rack']}"
    return h.labels["zone"]


def check_scale_out(fleet: FleetView, params: dict, lo: int, hi: int, anti: str) -> FleetView:
    by_id = {h.host_id: h for h in fleet.hosts}
    members = fleet.members(G)
    tpl = template(members)
    assert tpl is not None
    assert params["previous_replicas"] < params["replicas"] <= hi
    assert params["replicas"] == params["previous_replicas"] + len(params["clones"])
    vms = list(fleet.vms)
    for c in params["clones"]:
        h = by_id[c["target_host"]]
        assert not h.cordoned and not h.maintenance, c
        on = [v for v in vms if v.host_id == h.host_id]
        assert sum(v.vcpus for v in on) + tpl.vcpus <= h.vcpus, (c, on)
        assert sum(v.memory_mib for v in on) + tpl.memory_mib <= h.memory_mib, (c, on)
        if anti != "none":
            taken = {domain(by_id[v.host_id], anti) for v in vms if v.group == G}
            assert domain(h, anti) not in taken, (c, anti, taken)
        labels = {**tpl.labels, CLONE_OF_LABEL: tpl.vm_id, CLONED_AT_LABEL: "1"}
        vms.append(FleetVm(c["name"], h.host_id, tpl.vcpus, tpl.memory_mib, labels))
    return FleetView(fleet.hosts, tuple(vms))


def check_scale_in(fleet: FleetView, params: dict, lo: int) -> FleetView:
    names = [r["name"] for r in params["remove"]]
    members = {m.vm_id: m for m in fleet.members(G)}
    assert names and all(members[n].is_clone and members[n].running for n in names)
    assert params["replicas"] == params["previous_replicas"] - len(names)
    assert params["replicas"] >= max(lo, 1)
    running = [m for m in members.values() if m.running and m.vm_id not in names]
    assert len(running) >= max(lo, 1)
    return FleetView(fleet.hosts, tuple(v for v in fleet.vms if v.vm_id not in names))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.booleans())
def test_no_decision_breaks_bounds_or_hard_constraints(case: Case, lag: bool) -> None:
    """With ``lag`` the actuator carries each decision out one evaluation later (within the
    time the core waits for it, lead time + scale-up cooldown, after which it counts it as
    failed): the next decision must already respect the replicas ordered or removed but not
    done yet."""
    base = ScalingPolicy.from_profile(case.profile, name="p", lead_time_s=120.0,
                                      horizon_s=900.0, scale_down_delay_s=120.0)
    pol = group_policy(case.labels, base)
    lo, hi = pol.scaling.min_replicas, pol.scaling.max_replicas
    anti = case.labels[ANTI_AFFINITY_LABEL]
    fleet, memory = case.fleet, Memory()
    # What the fleet will be once every decision so far is done (the checks' view).
    planned = fleet
    waits = pol.scaling.lead_time_s + pol.scaling.scale_up_cooldown_s
    t = T0
    decided = -float("inf")
    for util, gap in zip(case.utils, case.gaps, strict=True):
        t += gap
        if t - decided > waits:
            fleet = planned
        for m in fleet.members(G):
            if m.running:
                memory = record_feature(memory, m.vm_id, t, util, m.vcpus, [util] * 5, 60.0)
        out = evaluate_group(G, memory, fleet, pol, t, stale_after_s=180.0)
        memory = out.memory
        fleet = planned  # the decisions before this one are done now
        d = out.decision
        if d is None:
            continue
        assert d.target_id == G and d.target_kind == "group"
        if d.action is ActionKind.SCALE_OUT:
            planned = check_scale_out(planned, d.params, lo, hi, anti)
        else:
            assert d.action is ActionKind.SCALE_IN
            planned = check_scale_in(planned, d.params, lo)
        decided = t
        if not lag:
            fleet = planned
