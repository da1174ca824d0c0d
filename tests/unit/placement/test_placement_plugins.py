"""Unit tests, one or more per plug-in, on hand-built fleets with known answers."""

from __future__ import annotations

import numpy as np
from novacron.placement.engine import Scheduler
from novacron.placement.framework import CycleContext, PluginSettings
from novacron.placement.registry import FILTERS, SCORERS
from novacron.placement.state import FleetState
from novacron.placement.types import (
    AffinityTerm,
    Constraints,
    DecisionStatus,
    Host,
    HostAffinityTerm,
    HostClass,
    LabelSelector,
    NumaCell,
    PlacementRequest,
    StatusCode,
    TopologySpreadTerm,
    VMSpec,
)

S = PluginSettings()
WEB = LabelSelector.of(app="web")


def codes(name: str, state: FleetState, req: PlacementRequest) -> list[int]:
    res = FILTERS[name](S).filter(CycleContext.build(state, req, S))
    assert res is not None
    return [int(c) for c in res.codes]


def scores(name: str, state: FleetState, req: PlacementRequest) -> list[float]:
    out = SCORERS[name](S).score(CycleContext.build(state, req, S), np.arange(state.n_hosts))
    assert out is not None
    return [float(x) for x in out]


def plain(n: int = 3, **kw: object) -> FleetState:
    return FleetState([Host(f"h{i}", 8, 16384, rack=f"r{i}", **kw) for i in range(n)])  # type: ignore[arg-type]


def test_host_available_rejects_cordoned_and_maintenance_as_unresolvable() -> None:
    s = FleetState(
        [
            Host("a", 8, 8192),
            Host("b", 8, 8192, cordoned=True),
            Host("c", 8, 8192, maintenance=True),
        ]
    )
    assert codes("host_available", s, PlacementRequest(VMSpec("v", 1, 512))) == [0, 2, 2]
    s.set_cordoned("b", False)
    assert codes("host_available", s, PlacementRequest(VMSpec("v", 1, 512))) == [0, 0, 2]


def test_excluded_hosts_are_unresolvable_and_the_rest_pass() -> None:
    s = plain(3)
    plain_req = PlacementRequest(VMSpec("v", 1, 512))
    assert FILTERS["excluded_hosts"](S).filter(CycleContext.build(s, plain_req, S)) is None
    # A host id the fleet does not hold excludes nothing.
    req = PlacementRequest(VMSpec("v", 1, 512), Constraints(exclude_hosts=frozenset({"h1", "gone"})))
    assert codes("excluded_hosts", s, req) == [0, 2, 0]
    d = Scheduler(s).decide(req, commit=False)
    assert d.status == DecisionStatus.PLACED and d.target_node != "h1"
    assert ("excluded_hosts", 1) in d.trace
    every = PlacementRequest(
        VMSpec("v", 1, 512), Constraints(exclude_hosts=frozenset(s.host_ids))
    )
    d = Scheduler(s).decide(every, commit=False)
    assert d.status == DecisionStatus.PENDING and d.why_pending is not None
    assert d.why_pending.binding == "excluded_hosts" and not d.why_pending.resolvable
    assert "drop the exclusion of 3 hosts" in d.explanation


def test_spot_hosts_only_when_allowed() -> None:
    s = FleetState(
        [Host("a", 8, 8192), Host("b", 8, 8192, host_class="spot")],
        {"spot": HostClass("spot", spot=True)},
    )
    assert codes("spot_allowed", s, PlacementRequest(VMSpec("v", 1, 512))) == [0, 2]
    allowed = PlacementRequest(VMSpec("v", 1, 512), Constraints(allow_spot=True))
    assert FILTERS["spot_allowed"](S).filter(CycleContext.build(s, allowed, S)) is None


def test_host_affinity_in_and_not_in() -> None:
    s = FleetState(
        [
            Host("a", 8, 8192, labels={"gpu": "t4"}),
            Host("b", 8, 8192, labels={"gpu": "a10"}),
            Host("c", 8, 8192),
        ]
    )
    t4 = HostAffinityTerm("gpu", frozenset({"t4"}))
    assert codes(
        "host_affinity", s, PlacementRequest(VMSpec("v", 1, 512), Constraints(host_affinity=(t4,)))
    ) == [0, 2, 2]
    not_t4 = HostAffinityTerm("gpu", frozenset({"t4"}), "NotIn")
    assert codes(
        "host_affinity",
        s,
        PlacementRequest(VMSpec("v", 1, 512), Constraints(host_affinity=(not_t4,))),
    ) == [2, 0, 0]
    soft = PlacementRequest(
        VMSpec("v", 1, 512),
        Constraints(host_affinity=(HostAffinityTerm("gpu", frozenset({"a10"}), hard=False),)),
    )
    assert scores("host_affinity", s, soft) == [0.0, 1.0, 0.0]


def test_resources_apply_overcommit_and_reserved_headroom() -> None:
    cls = {"oc": HostClass("oc", {"cpu": 4.0}, reserved_vcpus=2, reserved_memory_mib=2048)}
    s = FleetState([Host("a", 4, 8192, host_class="oc"), Host("b", 4, 8192)], cls)
    # a: 4*4-2 = 14 vCPU and 6 GiB schedulable; b: 4 vCPU and 8 GiB.
    assert codes("resources", s, PlacementRequest(VMSpec("v", 10, 4096))) == [0, 2]
    assert codes("resources", s, PlacementRequest(VMSpec("v", 2, 7000))) == [2, 0]
    s.place(VMSpec("x", 12, 1024), 0)
    assert codes("resources", s, PlacementRequest(VMSpec("v", 3, 1024))) == [
        1,
        0,
    ]  # full now, not forever


def test_resources_hint_names_the_gap() -> None:
    s = plain(2)
    s.place(VMSpec("x", 2, 14336), 0)
    s.place(VMSpec("y", 2, 12288), 1)
    req = PlacementRequest(VMSpec("v", 1, 6144))
    ctx = CycleContext.build(s, req, S)
    hint = FILTERS["resources"](S).hints(ctx, np.array([0, 1]))  # type: ignore[attr-defined]
    assert "2.0 GiB memory" in hint[0] and "h1" in hint[0]


def test_numa_require_needs_one_cell() -> None:
    cells = (NumaCell(4, 8192), NumaCell(4, 8192))
    s = FleetState(
        [
            Host("a", 8, 16384, numa_cells=cells),
            Host("b", 8, 16384, numa_cells=(NumaCell(8, 16384),)),
        ]
    )
    req = PlacementRequest(VMSpec("v", 6, 4096, numa="require"))
    assert codes("numa", s, req) == [2, 0]
    assert (
        FILTERS["numa"](S).filter(CycleContext.build(s, PlacementRequest(VMSpec("v", 6, 4096)), S))
        is None
    )
    s.place(
        VMSpec("p", 4, 4096, numa="require"),
        1,
        s.choose_cells(VMSpec("p", 4, 4096, numa="require"), 1) or (),
    )
    assert codes("numa", s, req) == [2, 1]


def test_numa_locality_prefers_fewest_cells() -> None:
    cells = (NumaCell(4, 8192), NumaCell(4, 8192))
    s = FleetState(
        [
            Host("a", 8, 16384, numa_cells=cells),
            Host("b", 8, 16384, numa_cells=(NumaCell(8, 16384),)),
        ]
    )
    assert scores("numa_locality", s, PlacementRequest(VMSpec("v", 6, 4096, numa="prefer"))) == [
        0.5,
        1.0,
    ]
    assert (
        SCORERS["numa_locality"](S).score(
            CycleContext.build(s, PlacementRequest(VMSpec("v", 6, 4096)), S), np.arange(2)
        )
        is None
    )


def test_vm_anti_affinity_and_affinity_per_domain() -> None:
    s = FleetState([Host(f"h{i}", 8, 16384, rack=f"r{i // 2}") for i in range(4)])
    s.place(VMSpec("w", 1, 512, labels={"app": "web"}), 0)
    anti_rack = PlacementRequest(
        VMSpec("v", 1, 512, labels={"app": "web"}),
        Constraints((AffinityTerm(WEB, "rack", anti=True),)),
    )
    assert codes("vm_affinity", s, anti_rack) == [1, 1, 0, 0]
    aff_host = PlacementRequest(VMSpec("v", 1, 512), Constraints((AffinityTerm(WEB, "host"),)))
    assert codes("vm_affinity", s, aff_host) == [0, 1, 1, 1]
    s.remove("w")
    # First of its group: affinity to its own (empty) group does not block it.
    first = PlacementRequest(
        VMSpec("v", 1, 512, labels={"app": "web"}), Constraints((AffinityTerm(WEB, "host"),))
    )
    assert codes("vm_affinity", s, first) == [0, 0, 0, 0]


def test_vm_affinity_soft_is_graded() -> None:
    s = plain(3)
    for i, h in enumerate([0, 0, 1]):
        s.place(VMSpec(f"w{i}", 1, 512, labels={"app": "web"}), h)
    anti = PlacementRequest(
        VMSpec("v", 1, 512), Constraints((AffinityTerm(WEB, "host", anti=True, hard=False),))
    )
    assert scores("vm_affinity", s, anti) == [1 / 3, 1 / 2, 1.0]


def test_topology_spread_max_skew() -> None:
    s = FleetState([Host(f"h{i}", 8, 16384, zone=f"z{i}") for i in range(3)])
    for i, h in enumerate([0, 0, 1]):
        s.place(VMSpec(f"w{i}", 1, 512, labels={"app": "web"}), h)
    req = PlacementRequest(
        VMSpec("v", 1, 512, labels={"app": "web"}),
        Constraints(spread=(TopologySpreadTerm(WEB, "zone", 1),)),
    )
    # counts 2,1,0: only the empty zone keeps skew <= 1.
    assert codes("topology_spread", s, req) == [1, 1, 0]
    soft = PlacementRequest(
        req.vm, Constraints(spread=(TopologySpreadTerm(WEB, "zone", 1, hard=False),))
    )
    assert scores("topology_spread", s, soft) == [1 / 3, 1 / 2, 1.0]


def test_spread_ignores_ineligible_domains() -> None:
    s = FleetState([Host("a", 8, 16384, zone="z0"), Host("b", 8, 16384, zone="z1", cordoned=True)])
    s.place(VMSpec("w", 1, 512, labels={"app": "web"}), 0)
    req = PlacementRequest(
        VMSpec("v", 1, 512, labels={"app": "web"}),
        Constraints(spread=(TopologySpreadTerm(WEB, "zone", 1),)),
    )
    assert codes("topology_spread", s, req)[0] == 0  # the cordoned zone cannot take VMs


def test_allocation_scorers() -> None:
    s = plain(2)
    s.place(VMSpec("x", 4, 8192), 0)  # h0 half full
    req = PlacementRequest(VMSpec("v", 2, 4096))
    most = scores("most_allocated", s, req)
    least = scores("least_allocated", s, req)
    assert most == [0.75, 0.25] and least == [0.25, 0.75]
    s2 = plain(2)
    s2.place(VMSpec("x", 1, 8192), 0)  # h0 memory-heavy
    bal = scores("balanced_allocation", s2, PlacementRequest(VMSpec("v", 4, 512)))
    # A CPU-heavy VM evens out the memory-heavy host but unbalances the empty one.
    assert bal[0] > 0.9 and bal[1] < 0.6


def test_cost_prefers_running_then_cheap_hosts() -> None:
    cls = {
        "cheap": HostClass("cheap", price_per_hour=1),
        "dear": HostClass("dear", price_per_hour=4),
    }
    s = FleetState(
        [
            Host("a", 8, 8192, host_class="dear"),
            Host("b", 8, 8192, host_class="cheap"),
            Host("c", 8, 8192, host_class="dear"),
        ],
        cls,
    )
    s.place(VMSpec("x", 1, 512), 2)
    sc = scores("cost", s, PlacementRequest(VMSpec("v", 1, 512)))
    assert sc[2] > sc[1] > sc[0]


def test_fragmentation_keeps_large_shapes() -> None:
    st = PluginSettings(fragmentation_shapes=((8.0, 16384.0),))
    s = FleetState([Host("a", 8, 16384), Host("b", 12, 24576)])
    s.place(VMSpec("x", 4, 8192), 1)  # b has 8 vCPU free: exactly one large slot
    out = SCORERS["fragmentation"](st).score(
        CycleContext.build(s, PlacementRequest(VMSpec("v", 2, 2048)), st), np.arange(2)
    )
    assert out is not None and list(out) == [0.0, 0.0]
    s2 = FleetState([Host("a", 8, 16384), Host("b", 10, 20480)])
    out2 = SCORERS["fragmentation"](st).score(
        CycleContext.build(s2, PlacementRequest(VMSpec("v", 2, 2048)), st), np.arange(2)
    )
    assert out2 is not None and list(out2) == [0.0, 1.0]  # b keeps its 8-vCPU slot


def test_recent_failure_penalty() -> None:
    s = FleetState([Host("a", 8, 8192, recent_failures=1.0), Host("b", 8, 8192)])
    assert scores("recent_failure", s, PlacementRequest(VMSpec("v", 1, 512))) == [0.5, 1.0]
    s.decay_failures(0.0)
    assert (
        SCORERS["recent_failure"](S).score(
            CycleContext.build(s, PlacementRequest(VMSpec("v", 1, 512)), S), np.arange(2)
        )
        is None
    )


def test_status_codes_are_kubernetes_like() -> None:
    assert [c.name for c in StatusCode] == [
        "SUCCESS",
        "UNSCHEDULABLE",
        "UNSCHEDULABLE_AND_UNRESOLVABLE",
    ]
