"""The scheduling cycle end to end: strategies, groups, and the explanations it gives."""

from __future__ import annotations

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
    VMSpec,
)

DB = LabelSelector.of(app="db")


def fleet(n: int = 6) -> Scheduler:
    hosts = [Host(f"h{i}", 16, 32768, rack=f"rack-{'ab'[i % 2]}", zone="z") for i in range(n)]
    return Scheduler(FleetState(hosts))


def test_binpack_fills_one_host_spread_uses_all() -> None:
    pack, spread = fleet(), fleet()
    for i in range(4):
        pack.decide(PlacementRequest(VMSpec(f"v{i}", 2, 2048), strategy="binpack"))
        spread.decide(PlacementRequest(VMSpec(f"v{i}", 2, 2048), strategy="spread"))
    assert len({p.host for p in pack.state.vms.values()}) == 1
    assert len({p.host for p in spread.state.vms.values()}) == 4


def test_negative_weight_turns_spread_into_pack() -> None:
    s = fleet()
    for i in range(3):
        s.decide(
            PlacementRequest(
                VMSpec(f"v{i}", 2, 2048),
                strategy="spread",
                preferences={"least_allocated": -1.0, "balanced_allocation": 0},
            )
        )
    assert len({p.host for p in s.state.vms.values()}) == 1


def test_cost_strategy_uses_cheap_spot_only_when_allowed() -> None:
    cls = {
        "od": HostClass("od", price_per_hour=2.0),
        "spot": HostClass("spot", price_per_hour=0.5, spot=True),
    }
    s = Scheduler(
        FleetState(
            [Host("od", 16, 32768, host_class="od"), Host("sp", 16, 32768, host_class="spot")], cls
        )
    )
    assert s.decide(PlacementRequest(VMSpec("a", 1, 512), strategy="cost")).target_node == "od"
    d = s.decide(
        PlacementRequest(VMSpec("b", 1, 512), Constraints(allow_spot=True), strategy="cost")
    )
    assert d.target_node == "od"  # already running beats opening even a cheap host
    s.remove("a")
    s.remove("b")
    assert (
        s.decide(
            PlacementRequest(VMSpec("c", 1, 512), Constraints(allow_spot=True), strategy="cost")
        ).target_node
        == "sp"
    )


def test_three_replicas_under_hard_host_anti_affinity() -> None:
    s = fleet(3)
    req = PlacementRequest(
        VMSpec("db", 4, 4096, labels={"app": "db"}),
        Constraints((AffinityTerm(DB, "host", anti=True),)),
        replicas=3,
    )
    g = s.decide_group(req)
    assert g.status == DecisionStatus.PLACED
    assert sorted(d.target_node or "" for d in g.decisions) == ["h0", "h1", "h2"]
    more = s.decide_group(
        PlacementRequest(VMSpec("db2", 4, 4096, labels={"app": "db"}), req.constraints, replicas=1)
    )
    assert more.status == DecisionStatus.PENDING and "db2-0" not in s.state.vms
    wp = more.decisions[-1].why_pending
    assert wp is not None and wp.binding == "vm_affinity"
    assert "move the 1 VM(s) matching app=db out of host h0 (frees 1 host(s) there)" in wp.hints[0]


def test_group_rolls_back_when_last_replica_does_not_fit() -> None:
    s = fleet(3)
    s.decide(PlacementRequest(VMSpec("hog", 15, 30000)))
    req = PlacementRequest(
        VMSpec("db", 4, 4096, labels={"app": "db"}),
        Constraints((AffinityTerm(DB, "host", anti=True),)),
        replicas=3,
    )
    g = s.decide_group(req)
    assert g.status == DecisionStatus.PENDING and len(g.decisions) == 3
    assert g.decisions[-1].status == DecisionStatus.PENDING
    assert set(s.state.vms) == {"hog"}
    assert "all-or-nothing" in g.explanation


def test_why_pending_names_binding_constraint_and_a_fix() -> None:
    s = fleet(4)  # rack-a: h0, h2; rack-b: h1, h3
    for h in range(4):
        s.state.place(VMSpec(f"fill{h}", 8, 30720), h)  # 2 GiB free everywhere
    req = PlacementRequest(
        VMSpec("v", 2, 4096),
        Constraints(host_affinity=(HostAffinityTerm("never", frozenset({"x"}), "NotIn"),)),
    )
    d = s.decide(req)
    wp = d.why_pending
    assert d.status == DecisionStatus.PENDING and wp is not None
    assert wp.binding == "resources" and wp.resolvable
    res = next(f for f in wp.filters if f.filter == "resources")
    assert res.eliminated == 4 and res.only_blocker == 4 and "memory" in res.reason
    assert "2.0 GiB memory more free on host h0 (z/rack-a)" in wp.hints[0]
    assert wp.as_dict()["filters"][0]["filter"] == "host_available"


def test_why_pending_counts_each_host_once_in_filter_order() -> None:
    hosts = [
        Host("a", 16, 32768, cordoned=True),
        Host("b", 2, 2048),
        Host("c", 16, 32768, labels={"t": "x"}),
    ]
    s = Scheduler(FleetState(hosts))
    req = PlacementRequest(
        VMSpec("v", 4, 4096), Constraints(host_affinity=(HostAffinityTerm("t", frozenset({"y"})),))
    )
    wp = s.decide(req).why_pending
    assert wp is not None
    got = {f.filter: (f.eliminated, f.rejected, f.only_blocker) for f in wp.filters}
    assert got["host_available"] == (1, 1, 0)
    assert got["host_affinity"] == (2, 3, 1)
    assert got["resources"] == (0, 1, 0)
    assert wp.binding == "host_affinity" and not wp.resolvable


def test_placed_decision_explains_winner_and_alternatives() -> None:
    s = fleet(4)
    s.state.place(VMSpec("x", 8, 16384), 0)
    d = s.decide(PlacementRequest(VMSpec("v", 2, 2048), strategy="binpack"))
    assert d.target_node == "h0" and d.score is not None
    assert abs(sum(c.contribution for c in d.breakdown) - d.score) < 1e-12
    assert {c.scorer for c in d.breakdown} >= {"most_allocated", "balanced_allocation"}
    assert len(d.alternatives) == 3
    for a in d.alternatives:
        assert a.score <= d.score
        assert abs(sum(c.contribution for c in a.breakdown) - a.score) < 1e-12
        assert ("lower" in a.why_lost and "most_allocated" in a.why_lost) or "tied" in a.why_lost
    assert "h0" in d.explanation and "4 feasible" in d.explanation
    assert d.trace and all(n == 0 for _, n in d.trace)


def test_numa_require_reserves_a_cell() -> None:
    from novacron.placement.types import NumaCell

    cells = (NumaCell(4, 8192), NumaCell(4, 8192))
    s = Scheduler(
        FleetState(
            [Host("a", 8, 16384, numa_cells=cells)], {"default": HostClass(overcommit={"cpu": 2.0})}
        )
    )
    one = s.decide(PlacementRequest(VMSpec("p", 4, 4096, numa="require")))
    two = s.decide(PlacementRequest(VMSpec("q", 4, 4096, numa="require")))
    assert one.numa_cells != two.numa_cells and len(one.numa_cells) == 1
    three = s.decide(PlacementRequest(VMSpec("r", 1, 512, numa="require")))
    assert three.status == DecisionStatus.PENDING
    assert three.why_pending is not None and three.why_pending.binding == "numa"


def test_decision_does_not_scan_vms() -> None:
    """Counters are maintained, not rebuilt: after the first use, a decision touches none of
    the placed VMs (we remove the VM table's iteration to prove it)."""
    s = fleet(4)
    for i in range(8):
        s.decide(PlacementRequest(VMSpec(f"d{i}", 1, 512, labels={"app": "db"})))
    anti = Constraints((AffinityTerm(DB, "rack", anti=True, hard=False),))
    s.decide(PlacementRequest(VMSpec("w0", 1, 512), anti))

    class NoScan(dict):  # type: ignore[type-arg]
        def values(self):  # type: ignore[no-untyped-def]
            raise AssertionError("scanned the VMs")

        def __iter__(self):  # type: ignore[no-untyped-def]
            raise AssertionError("scanned the VMs")

    s.state.vms = NoScan(s.state.vms)
    d = s.decide(PlacementRequest(VMSpec("w1", 1, 512, labels={"app": "db"}), anti))
    assert d.status == DecisionStatus.PLACED


def test_counter_eviction_rebuilds_exact_counts() -> None:
    hosts = [Host(f"h{i}", 16, 32768, rack=f"r{i % 3}") for i in range(6)]
    small = FleetState(hosts, max_counters=2)
    big = FleetState(hosts)
    for i in range(18):
        vm = VMSpec(f"v{i}", 1, 512, labels={"app": "abcd"[i % 4]})
        small.place(vm, i % 6)
        big.place(vm, i % 6)
    sels = [LabelSelector.of(app=a) for a in "abcdab"]
    for sel in sels:  # more selectors than the cache holds: older ones get evicted
        assert len(small.counters) <= 2
        assert (small.counts(sel).host == big.counts(sel).host).all()
        assert (small.counts(sel).rack == big.counts(sel).rack).all()
    small.remove("v0")
    big.remove("v0")
    a = LabelSelector.of(app="a")
    assert (small.counts(a).host == big.counts(a).host).all() and small.counts(a).total == 4


def test_hard_anti_affinity_binds_both_ways() -> None:
    """A VM that declared required anti-affinity to app=db keeps later db VMs out of its
    domain, though their own requests say nothing; removing it lifts the block."""
    s = fleet(4)  # racks a, b, a, b
    guard = PlacementRequest(
        VMSpec("guard", 1, 512), Constraints((AffinityTerm(DB, "rack", anti=True),))
    )
    g = s.decide(guard)
    assert g.status == DecisionStatus.PLACED
    guard_rack = s.state.hosts[s.state.vms["guard"].host].rack
    for i in range(3):  # spread would otherwise use every host, both racks
        vm = VMSpec(f"db{i}", 1, 512, labels={"app": "db"})
        d = s.decide(PlacementRequest(vm, strategy="spread"))
        assert d.status == DecisionStatus.PLACED
        assert s.state.hosts[s.state.vms[f"db{i}"].host].rack != guard_rack
    # With the guard gone, db VMs may use its rack again (spread prefers the empty hosts).
    s.remove("guard")
    late = s.decide(
        PlacementRequest(VMSpec("db9", 1, 512, labels={"app": "db"}), strategy="spread")
    )
    assert late.status == DecisionStatus.PLACED
    assert s.state.hosts[s.state.vms["db9"].host].rack == guard_rack
    assert not s.state.declared.counts  # place-then-remove left no declaration behind


def test_declared_anti_affinity_blocks_even_a_lone_member() -> None:
    s = fleet(2)  # h0 rack a, h1 rack b
    for h in ("h0", "h1"):
        s.decide(
            PlacementRequest(
                VMSpec(f"guard-{h}", 1, 512),
                Constraints((AffinityTerm(DB, "host", anti=True),)),
                strategy="spread",
            )
        )
    d = s.decide(PlacementRequest(VMSpec("db0", 1, 512, labels={"app": "db"})))
    assert d.status == DecisionStatus.PENDING
    assert d.why_pending is not None
    assert "placed VMs declared" in d.explanation
    s.remove("guard-h1")
    assert s.decide(PlacementRequest(VMSpec("db0", 1, 512, labels={"app": "db"}))).status == (
        DecisionStatus.PLACED
    )
