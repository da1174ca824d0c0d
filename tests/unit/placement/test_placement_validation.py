"""Bad input gives a field and a reason, never an exception and never a placement."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from novacron.placement.engine import Scheduler
from novacron.placement.state import FleetState
from novacron.placement.types import (
    AffinityTerm,
    Constraints,
    DecisionStatus,
    Host,
    HostAffinityTerm,
    HostClass,
    LabelSelector,
    PlacementRequest,
    PlacementValidationError,
    TopologySpreadTerm,
    VMSpec,
)

G = LabelSelector.of(app="g")


def sched() -> Scheduler:
    return Scheduler(FleetState([Host(f"h{i}", 16, 32768, rack=f"r{i % 2}") for i in range(4)]))


def fields(req: PlacementRequest) -> dict[str, str]:
    d = sched().decide(req)
    assert d.status == DecisionStatus.INVALID and d.target_node is None
    return {e.field: e.reason for e in d.errors}


@pytest.mark.parametrize(
    ("vm", "field"),
    [
        (VMSpec("v", -1, 1024), "vm.vcpus"),
        (VMSpec("v", 0, 1024), "vm.vcpus"),
        (VMSpec("v", 2, -5), "vm.memory_mib"),
        (VMSpec("v", 2, math.inf), "vm.memory_mib"),
        (VMSpec("v", 2, math.nan), "vm.memory_mib"),
        (VMSpec("v", 1e9, 1024), "vm.vcpus"),
        (VMSpec("v", 2, 1024, iops=-1), "vm.iops"),
        (VMSpec("v", 2, 1024, net_mbps="fast"), "vm.net_mbps"),  # type: ignore[arg-type]
        (VMSpec("", 2, 1024), "vm.vm_id"),
        (VMSpec("v", 2, 1024, numa="always"), "vm.numa"),
    ],
)
def test_absurd_resources_name_the_field(vm: VMSpec, field: str) -> None:
    assert field in fields(PlacementRequest(vm))


def test_unknown_topology_key() -> None:
    errs = fields(
        PlacementRequest(VMSpec("v", 1, 512), Constraints((AffinityTerm(G, "datacenter"),)))
    )
    assert "unknown topology key 'datacenter'" in errs["constraints.affinity[0].topology_key"]
    errs = fields(
        PlacementRequest(VMSpec("v", 1, 512), Constraints(spread=(TopologySpreadTerm(G, "row"),)))
    )
    assert "constraints.spread[0].topology_key" in errs


def test_excluded_hosts_must_be_a_set_of_host_ids() -> None:
    bad = Constraints(exclude_hosts="h1")  # type: ignore[arg-type]
    assert "constraints.exclude_hosts" in fields(PlacementRequest(VMSpec("v", 1, 512), bad))
    ok = Constraints(exclude_hosts=frozenset({"h1"}))
    assert sched().decide(PlacementRequest(VMSpec("v", 1, 512), ok)).target_node not in (None, "h1")


@pytest.mark.parametrize(
    ("aff", "anti", "contradicts"),
    [
        ("host", "host", True),
        ("host", "rack", True),
        ("rack", "host", False),
        ("zone", "rack", False),
    ],
)
def test_hard_affinity_and_anti_affinity_to_the_same_group(
    aff: str, anti: str, contradicts: bool
) -> None:
    req = PlacementRequest(
        VMSpec("v", 1, 512), Constraints((AffinityTerm(G, aff), AffinityTerm(G, anti, anti=True)))
    )
    d = sched().decide(req)
    assert (d.status == DecisionStatus.INVALID) == contradicts
    if contradicts:
        assert (
            "contradicts" in d.errors[0].reason and d.errors[0].field == "constraints.affinity[1]"
        )


def test_more_replicas_than_domains_under_hard_anti_affinity() -> None:
    req = PlacementRequest(
        VMSpec("v", 1, 512, labels={"app": "g"}),
        Constraints((AffinityTerm(G, "rack", anti=True),)),
        replicas=3,
    )
    g = sched().decide_group(req)
    assert g.status == DecisionStatus.INVALID and g.errors[0].field == "replicas"
    assert "2" in g.errors[0].reason and "rack" in g.errors[0].reason
    ok = sched().decide_group(PlacementRequest(req.vm, req.constraints, replicas=2))
    assert ok.status == DecisionStatus.PLACED


def test_other_fields() -> None:
    errs = fields(
        PlacementRequest(
            VMSpec("v", 1, 512),
            Constraints(
                host_affinity=(
                    HostAffinityTerm("disk", frozenset(), "In"),
                    HostAffinityTerm("disk", frozenset({"x"}), "Like"),
                ),
                spread=(TopologySpreadTerm(G, "rack", 0),),
            ),
            preferences={"nonsense": 1.0, "cost": math.nan},
            strategy="yolo",
        )
    )
    assert {
        "constraints.host_affinity[0].values",
        "constraints.host_affinity[1].operator",
        "constraints.spread[0].max_skew",
        "preferences.nonsense",
        "preferences.cost",
        "strategy",
    } <= set(errs)


def test_bad_fleet_names_the_host_field() -> None:
    with pytest.raises(PlacementValidationError) as e:
        FleetState(
            [Host("a", -4, 1024), Host("a", 4, 1024, host_class="nope")],
            {"x": HostClass("x", {"warp": 2.0})},
        )
    names = {err.field for err in e.value.errors}
    assert {
        "hosts[0].vcpus",
        "hosts[1].host_id",
        "hosts[1].host_class",
        "host_classes.x.overcommit",
    } <= names


junk = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**12), 10**12),
    st.text(max_size=3),
    st.none(),
)


@settings(max_examples=100, deadline=None)
@given(
    cpu=junk,
    mem=junk,
    disk=junk,
    key=st.text(max_size=6),
    skew=junk,
    replicas=st.one_of(junk, st.integers(-3, 6)).filter(lambda r: not isinstance(r, int) or r < 50),
)
def test_fuzzed_requests_never_crash_nor_break_constraints(
    cpu: object, mem: object, disk: object, key: str, skew: object, replicas: object
) -> None:
    s = sched()
    vm = VMSpec("v", cpu, mem, disk_gib=disk, labels={"app": "g"})  # type: ignore[arg-type]
    c = Constraints(
        (AffinityTerm(G, key, anti=True),), spread=(TopologySpreadTerm(G, "rack", skew),)
    )  # type: ignore[arg-type]
    d = s.decide(PlacementRequest(vm, c))
    assert d.status in (DecisionStatus.INVALID, DecisionStatus.PLACED, DecisionStatus.PENDING)
    if d.status == DecisionStatus.INVALID:
        assert d.errors and all(e.field and e.reason for e in d.errors)
    g = s.decide_group(PlacementRequest(VMSpec("w", 1, 512), replicas=replicas))  # type: ignore[arg-type]
    assert g.status in (DecisionStatus.INVALID, DecisionStatus.PLACED, DecisionStatus.PENDING)
    if g.status == DecisionStatus.PENDING:
        assert set(s.state.vms) <= {"v"}  # all-or-nothing
