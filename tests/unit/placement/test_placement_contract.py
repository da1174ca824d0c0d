"""One contract over every registered filter and scorer: the same assertions for each."""

from __future__ import annotations

import numpy as np
import pytest
from novacron.placement.framework import (
    CycleContext,
    FilterPlugin,
    HintPlugin,
    PluginSettings,
    ScorePlugin,
)
from novacron.placement.registry import DEFAULT_FILTER_ORDER, FILTERS, SCORERS
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
    StatusCode,
    TopologySpreadTerm,
    VMSpec,
)


def fleet() -> FleetState:
    classes = {
        "spot": HostClass("spot", price_per_hour=0.3, spot=True),
        "pricey": HostClass("pricey", price_per_hour=4),
    }
    hosts = [
        Host(
            f"h{i}",
            8 * (1 + i % 3),
            16384 * (1 + i % 2),
            host_class=["default", "spot", "pricey"][i % 3],
            rack=f"r{i % 4}",
            zone=f"z{i % 2}",
            labels={"disk": "ssd" if i % 2 else "hdd"},
            numa_cells=(NumaCell(4 * (1 + i % 3), 8192 * (1 + i % 2)),) * 2,
            cordoned=i == 5,
            recent_failures=float(i % 4 == 0),
        )
        for i in range(12)
    ]
    s = FleetState(hosts, classes)
    for j in range(20):
        s.place(VMSpec(f"v{j}", 1 + j % 3, 2048, labels={"app": "web" if j % 2 else "db"}), j % 12)
    return s


def requests() -> list[PlacementRequest]:
    web = LabelSelector.of(app="web")
    rich = Constraints(
        affinity=(
            AffinityTerm(web, "host", anti=True),
            AffinityTerm(web, "rack", hard=False, weight=2),
        ),
        host_affinity=(
            HostAffinityTerm("disk", frozenset({"ssd"})),
            HostAffinityTerm("disk", frozenset({"hdd"}), hard=False),
        ),
        spread=(TopologySpreadTerm(web, "zone", 1), TopologySpreadTerm(web, "rack", 1, hard=False)),
        allow_spot=True,
        exclude_hosts=frozenset({"h1", "h7", "not-in-the-fleet"}),
    )
    return [
        PlacementRequest(VMSpec("p", 2, 4096)),
        PlacementRequest(
            VMSpec("q", 3, 4096, labels={"app": "web"}, numa="require"), rich, strategy="binpack"
        ),
        PlacementRequest(VMSpec("r", 6, 12000, numa="prefer"), strategy="fragmentation"),
        PlacementRequest(VMSpec("s", 64, 4096), strategy="cost"),  # fits nowhere
    ]


def test_registry_is_explicit_and_complete() -> None:
    assert set(DEFAULT_FILTER_ORDER) == set(FILTERS)
    for name, factory in FILTERS.items():
        plugin = factory(PluginSettings())
        assert isinstance(plugin, FilterPlugin) and plugin.name == name
    for name, factory in SCORERS.items():
        plugin = factory(PluginSettings())
        assert isinstance(plugin, ScorePlugin) and plugin.name == name


@pytest.mark.parametrize("name", sorted(FILTERS))
@pytest.mark.parametrize("req", requests(), ids=lambda r: r.vm.vm_id)
def test_filter_contract(name: str, req: PlacementRequest) -> None:
    s = fleet()
    used = s.used.copy()
    plugin = FILTERS[name](PluginSettings())
    ctx = CycleContext.build(s, req, PluginSettings())
    res = plugin.filter(ctx)
    assert np.array_equal(s.used, used), "filters must not change the fleet"
    if res is None:
        return  # Skip: not relevant to this request
    assert res.codes.shape == (s.n_hosts,) and res.codes.dtype == np.int8
    assert set(np.unique(res.codes)) <= {int(c) for c in StatusCode}
    if (res.codes > 0).any():
        assert res.reason
    again = plugin.filter(CycleContext.build(s, req, PluginSettings()))
    assert again is not None and np.array_equal(again.codes, res.codes), "deterministic"
    failing = np.flatnonzero(res.codes > 0)
    if isinstance(plugin, HintPlugin) and failing.size:
        hints = plugin.hints(ctx, failing)
        assert hints and all(isinstance(h, str) and h for h in hints)


@pytest.mark.parametrize("name", sorted(SCORERS))
@pytest.mark.parametrize("req", requests(), ids=lambda r: r.vm.vm_id)
def test_scorer_contract(name: str, req: PlacementRequest) -> None:
    s = fleet()
    plugin = SCORERS[name](PluginSettings())
    hosts = np.arange(s.n_hosts)
    out = plugin.score(CycleContext.build(s, req, PluginSettings()), hosts)
    if out is None:
        return
    assert out.shape == (s.n_hosts,)
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0
    # Absolute, not relative: a host's score does not depend on the other candidates.
    sub = hosts[::3]
    part = plugin.score(CycleContext.build(s, req, PluginSettings()), sub)
    assert part is not None and np.allclose(part, out[sub])
