"""Placement decision latency at fleet scale, with a realistic request mix.

Fleet: three host classes (general 64 vCPU/512 GiB with 4x CPU overcommit, memory-heavy
48/768, dense 96/384 with spot pricing), two NUMA cells each, 40 hosts per rack, 3 zones,
pre-filled with ~20 VMs per host in ~host/4 application groups. Requests: 40% plain,
30% hard host anti-affinity with their group, 15% NUMA-required, 15% hard rack spread
(maxSkew 1); each decision is committed. Then a run of decisions that all carry required
anti-affinity measures throughput.
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
from novacron.placement.engine import Scheduler
from novacron.placement.state import FleetState
from novacron.placement.types import (
    AffinityTerm,
    Constraints,
    Host,
    HostClass,
    LabelSelector,
    NumaCell,
    PlacementRequest,
    Strategy,
    TopologySpreadTerm,
    VMSpec,
)

from bench._common import write_results

CLASSES = {
    "general": HostClass(
        "general", {"cpu": 4.0}, reserved_vcpus=2, reserved_memory_mib=8192, price_per_hour=2.0
    ),
    "memory": HostClass(
        "memory", {"cpu": 4.0}, reserved_vcpus=2, reserved_memory_mib=8192, price_per_hour=3.0
    ),
    "dense": HostClass(
        "dense",
        {"cpu": 2.0},
        reserved_vcpus=2,
        reserved_memory_mib=8192,
        price_per_hour=1.2,
        spot=True,
    ),
}
SHAPES = {"general": (64, 524288), "memory": (48, 786432), "dense": (96, 393216)}
FLAVORS = np.array(
    [(1, 2048), (2, 4096), (2, 8192), (4, 8192), (4, 16384), (8, 32768), (16, 65536)]
)
FLAVOR_P = np.array([0.2, 0.25, 0.15, 0.15, 0.12, 0.09, 0.04])


def build_fleet(n: int, rng: np.random.Generator, vms_per_host: int = 20) -> tuple[FleetState, int]:
    kinds = rng.choice(list(SHAPES), size=n, p=[0.6, 0.25, 0.15])
    hosts = []
    for i, k in enumerate(kinds):
        cpu, mem = SHAPES[str(k)]
        cells = (NumaCell(cpu / 2, mem / 2), NumaCell(cpu / 2, mem / 2))
        rack = i // 40
        hosts.append(
            Host(
                f"h{i}",
                cpu,
                mem,
                25_000,
                4_000,
                200_000,
                str(k),
                f"rack-{rack}",
                f"zone-{rack % 3}",
                {"class": str(k)},
                cells,
            )
        )
    state = FleetState(hosts, CLASSES)
    groups = max(n // 4, 1)
    total = n * vms_per_host
    fl = FLAVORS[rng.choice(len(FLAVORS), size=total, p=FLAVOR_P)]
    target = rng.integers(0, n, size=total)
    free = state.cap.copy()
    vms, where = [], []
    for j in range(total):
        h = int(target[j])
        c, m = int(fl[j, 0]), int(fl[j, 1])
        if free[h, 0] < c * 1000 or free[h, 1] < m:
            continue
        free[h, 0] -= c * 1000
        free[h, 1] -= m
        vms.append(VMSpec(f"pre{j}", c, m, 50, 20, 500, {"app": f"g{j % groups}"}))
        where.append(h)
    state.place_many(vms, where)
    return state, groups


def request(kind: str, i: int, groups: int, rng: np.random.Generator) -> PlacementRequest:
    c, m = FLAVORS[rng.choice(len(FLAVORS), p=FLAVOR_P)]
    g = f"g{int(rng.integers(groups))}"
    vm = VMSpec(f"{kind}{i}", float(c), float(m), 50, 20, 500, {"app": g})
    sel = LabelSelector.of(app=g)
    if kind == "anti":
        return PlacementRequest(vm, Constraints((AffinityTerm(sel, "host", anti=True),)))
    if kind == "numa":
        return PlacementRequest(
            VMSpec(vm.vm_id, vm.vcpus, vm.memory_mib, labels=vm.labels, numa="require"),
            strategy=Strategy.BINPACK,
        )
    if kind == "spread":
        return PlacementRequest(
            vm, Constraints(spread=(TopologySpreadTerm(sel, "rack", 1),)), strategy=Strategy.SPREAD
        )
    return PlacementRequest(vm)


def run(n: int, decisions: int, rng: np.random.Generator) -> dict[str, float]:
    t0 = time.perf_counter()
    state, groups = build_fleet(n, rng)
    build_s = time.perf_counter() - t0
    # The fleet is long-lived: keep its million objects out of the cyclic GC's scans, as the
    # placement service does after loading the inventory.
    gc.collect()
    gc.freeze()
    sched = Scheduler(state)
    kinds = rng.choice(
        ["plain", "anti", "numa", "spread"], size=decisions, p=[0.4, 0.3, 0.15, 0.15]
    )
    reqs = [request(str(k), i, groups, rng) for i, k in enumerate(kinds)]
    for r in reqs[:20]:  # warm-up: first use of a selector builds its counters once
        sched.decide(r, commit=False)
    lat = np.empty(decisions)
    cpu = np.empty(decisions)  # CPU time of this thread: wall time minus preemption by others
    placed = 0
    for i, r in enumerate(reqs):
        c = time.thread_time()
        t = time.perf_counter()
        d = sched.decide(r)
        lat[i] = time.perf_counter() - t
        cpu[i] = time.thread_time() - c
        placed += d.status == "placed"
    anti = [request("anti", i, groups, rng) for i in range(decisions)]
    anti = [
        PlacementRequest(
            VMSpec(f"aa{i}", r.vm.vcpus, r.vm.memory_mib, labels=r.vm.labels), r.constraints
        )
        for i, r in enumerate(anti)
    ]
    t = time.perf_counter()
    ok = 0
    for r in anti:
        ok += sched.decide(r).status == "placed"
    anti_s = time.perf_counter() - t
    gc.unfreeze()
    return {
        f"p50_ms_{n}_hosts": float(np.percentile(lat, 50) * 1e3),
        f"p99_ms_{n}_hosts": float(np.percentile(lat, 99) * 1e3),
        f"mean_ms_{n}_hosts": float(lat.mean() * 1e3),
        f"cpu_p50_ms_{n}_hosts": float(np.percentile(cpu, 50) * 1e3),
        f"cpu_p99_ms_{n}_hosts": float(np.percentile(cpu, 99) * 1e3),
        f"decisions_per_s_{n}_hosts_required_anti_affinity": decisions / anti_s,
        f"placed_pct_{n}_hosts": 100.0 * placed / decisions,
        f"anti_affinity_placed_pct_{n}_hosts": 100.0 * ok / decisions,
        f"vms_prefilled_{n}_hosts": float(len(state.vms) - placed - ok),
        f"fleet_build_s_{n}_hosts": build_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer decisions; under a minute")
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    decisions = 500 if args.quick else 3000
    figures: dict[str, float] = {"decisions_per_size": float(decisions)}
    for n in (int(x) for x in args.sizes.split(",")):
        figures.update(run(n, decisions, np.random.default_rng(args.seed)))
        print({k: round(v, 3) for k, v in figures.items() if f"_{n}_" in k}, flush=True)
    write_results("placement_latency", figures)
    nan = float("nan")
    p50 = figures.get("p50_ms_10000_hosts", nan)
    p99 = figures.get("p99_ms_10000_hosts", nan)
    cpu99 = figures.get("cpu_p99_ms_10000_hosts", nan)
    rate = figures.get("decisions_per_s_10000_hosts_required_anti_affinity", nan)
    print(
        f"placement_latency: 10k hosts p50 {p50:.2f} ms, p99 {p99:.2f} ms (CPU-time p99 "
        f"{cpu99:.2f} ms), {rate:.0f} decisions/s with required anti-affinity "
        "(targets p99 <= 5 ms, >= 1000/s)"
    )


if __name__ == "__main__":
    main()
