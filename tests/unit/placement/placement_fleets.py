"""Hypothesis strategies for small fleets and requests (small enough for brute force)."""

from __future__ import annotations

from hypothesis import strategies as st
from novacron.placement.engine import Scheduler
from novacron.placement.state import FleetState
from novacron.placement.types import (
    AffinityTerm,
    Constraints,
    Host,
    HostAffinityTerm,
    HostClass,
    LabelSelector,
    NumaCell,
    PlacementRequest,
    TopologySpreadTerm,
    VMSpec,
)

CLASSES = {
    "std": HostClass(
        "std", {"cpu": 2.0}, reserved_vcpus=1, reserved_memory_mib=1024, price_per_hour=1.0
    ),
    "big": HostClass("big", {}, price_per_hour=3.0),
    "spot": HostClass("spot", {"cpu": 1.5}, price_per_hour=0.4, spot=True),
}
APPS = ("a", "b", "c")


@st.composite
def hosts(draw: st.DrawFn) -> list[Host]:
    n = draw(st.integers(2, 7))
    out = []
    for i in range(n):
        cpu = draw(st.sampled_from([4, 8, 16]))
        mem = draw(st.sampled_from([8192, 16384, 32768]))
        ncell = draw(st.integers(0, 2))
        cells = tuple(NumaCell(cpu / ncell, mem / ncell) for _ in range(ncell))
        out.append(
            Host(
                f"h{i}",
                cpu,
                mem,
                host_class=draw(st.sampled_from(list(CLASSES))),
                rack=f"r{draw(st.integers(0, 2))}",
                zone=f"z{draw(st.integers(0, 1))}",
                labels={"disk": draw(st.sampled_from(["ssd", "hdd"]))},
                numa_cells=cells,
                cordoned=draw(st.booleans()) and draw(st.booleans()),
                recent_failures=draw(st.sampled_from([0.0, 0.0, 1.0, 3.0])),
            )
        )
    return out


def vm(draw: st.DrawFn, vm_id: str, numa: bool = True) -> VMSpec:
    return VMSpec(
        vm_id,
        draw(st.sampled_from([0.5, 1, 2, 4, 6])),
        draw(st.sampled_from([512, 2048, 4096, 8192, 12288])),
        labels={"app": draw(st.sampled_from(APPS))},
        numa=draw(st.sampled_from(["none", "prefer", "require"])) if numa else "none",
    )


@st.composite
def constraints(draw: st.DrawFn, soft: bool = True, numa_key: bool = False) -> Constraints:
    keys = ["host", "rack", "zone"] + (["numa"] if numa_key else [])
    aff = tuple(
        AffinityTerm(
            LabelSelector.of(app=draw(st.sampled_from(APPS))),
            draw(st.sampled_from(keys)),
            anti=draw(st.booleans()),
            hard=draw(st.booleans()) if soft else True,
            weight=draw(st.sampled_from([0.5, 1.0, 3.0])),
        )
        for _ in range(draw(st.integers(0, 2)))
    )
    hostaff = tuple(
        HostAffinityTerm(
            "disk",
            frozenset({draw(st.sampled_from(["ssd", "hdd"]))}),
            draw(st.sampled_from(["In", "NotIn"])),
            hard=draw(st.booleans()) if soft else True,
        )
        for _ in range(draw(st.integers(0, 1)))
    )
    spread = tuple(
        TopologySpreadTerm(
            LabelSelector.of(app=draw(st.sampled_from(APPS))),
            draw(st.sampled_from(["host", "rack", "zone"])),
            draw(st.integers(1, 2)),
            hard=draw(st.booleans()) if soft else True,
        )
        for _ in range(draw(st.integers(0, 1)))
    )
    return Constraints(aff, hostaff, spread, allow_spot=draw(st.booleans()))


@st.composite
def scenario(
    draw: st.DrawFn,
    soft: bool = True,
    strategies: tuple[str, ...] = ("spread", "binpack", "balanced", "cost", "fragmentation"),
) -> tuple[Scheduler, PlacementRequest]:
    """A fleet with some VMs already placed (through the engine), and one more request."""
    state = FleetState(draw(hosts()), CLASSES)
    sched = Scheduler(state)
    for i in range(draw(st.integers(0, 12))):
        r = PlacementRequest(
            vm(draw, f"pre{i}"),
            draw(constraints(soft=True)),
            strategy=draw(st.sampled_from(strategies)),
        )
        sched.decide(r)
    v = vm(draw, "new")
    numa_key = v.numa == "require"
    req = PlacementRequest(
        v,
        draw(constraints(soft=soft, numa_key=numa_key)),
        strategy=draw(st.sampled_from(strategies)),
    )
    return sched, req
