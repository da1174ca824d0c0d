"""The even-load rebalance: a hot host's VMs spread out to the fleet's mean level, under
anti-affinity, cordons and NUMA pins, with a plan that replays under transient capacity."""

from __future__ import annotations

import numpy as np
from novacron.placement.optimizer_even import even_load
from novacron.placement.state import FleetState
from novacron.placement.types import Host, NumaPolicy, VMSpec


def hot_fleet() -> FleetState:
    """Four 16-vCPU hosts; eight 2-vCPU VMs all on h0 (100 % CPU), the rest idle."""
    s = FleetState([Host(f"h{i}", 16, 32768, rack="r", zone="z") for i in range(4)])
    for i in range(8):
        s.place(VMSpec(f"v{i}", 2, 2048), 0)
    return s


def replay(s: FleetState, moves: tuple[tuple[str, str, str], ...]) -> dict[str, int]:
    """Apply the moves one by one, each checked against capacity while the VM still holds its
    source (live migration), in the order given."""
    loads = s.used.copy()
    where = {v: p.host for v, p in s.vms.items()}
    for vm, src, dst in moves:
        d = np.asarray(s.vms[vm].demand)
        si, di = s.index[src], s.index[dst]
        assert where[vm] == si
        assert (loads[di] + d <= s.cap[di]).all()
        loads[di] += d
        loads[si] -= d
        where[vm] = di
    return where


def cpu_per_host(s: FleetState, where: dict[str, int]) -> list[int]:
    out = [0] * s.n_hosts
    for v, h in where.items():
        out[h] += s.vms[v].demand[0]
    return out


def test_hot_host_spreads_to_the_mean() -> None:
    s = hot_fleet()
    before = s.used.copy()
    plan = even_load(s, time_limit=2.0)
    assert np.array_equal(s.used, before), "planning does not change the fleet"
    where = replay(s, plan.moves)
    # Mean CPU is 25 %; level 30 %: at most 4.8 vCPU, so exactly two 2-vCPU VMs per host.
    assert cpu_per_host(s, where) == [4000] * 4
    assert len(plan.moves) == 6  # no more moves than needed: each one costs
    assert plan.max_util_before[0] == 1.0 and plan.max_util_after[0] == 0.25
    assert plan.cost_after < plan.cost_before


def test_even_load_keeps_anti_affinity_cordons_and_pins() -> None:
    s = hot_fleet()
    s.set_cordoned("h3", True)
    s.place(VMSpec("pinned", 2, 2048, numa=NumaPolicy.REQUIRE), 0, ((0, 2000, 2048),))
    groups = {"v0": "a", "v1": "a", "v2": "a"}
    plan = even_load(s, time_limit=2.0, anti_affinity_groups=groups)
    where = replay(s, plan.moves)
    assert where["pinned"] == 0
    assert s.index["h3"] not in {s.index[dst] for _, _, dst in plan.moves}
    assert len({where[v] for v in groups}) == 3  # three members, three hosts
    # 18 vCPU over three open hosts: 6 each is the even answer.
    assert sorted(cpu_per_host(s, where)[:3]) == [6000, 6000, 6000]


def test_balanced_fleet_needs_no_moves() -> None:
    s = FleetState([Host(f"h{i}", 16, 32768, rack="r", zone="z") for i in range(3)])
    for i in range(6):
        s.place(VMSpec(f"v{i}", 2, 2048), i % 3)
    plan = even_load(s, time_limit=0.5)
    assert plan.moves == () and plan.cost_after == plan.cost_before == 0
