"""Preferred topology spread: 1/(1+n) where n is how many more matching VMs the host's domain
holds than the least-loaded eligible domain. Absolute, so a host's score does not depend on
which other hosts are candidates."""

from __future__ import annotations

import numpy as np

from ..filters.topology_spread import skew_after
from ..framework import CycleContext, Hosts, PluginSettings, Scores


class TopologySpreadScore:
    name = "topology_spread"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def score(self, ctx: CycleContext, hosts: Hosts) -> Scores | None:
        terms = [t for t in ctx.request.constraints.spread if not t.hard]
        if not terms:
            return None
        total = np.zeros(hosts.size)
        wsum = sum(t.weight for t in terms)
        for t in terms:
            excess = skew_after(ctx, t)[hosts] - int(t.selector.matches(ctx.vm.labels))
            total += t.weight / (1.0 + np.maximum(excess, 0).astype(np.float64))
        return total / wsum if wsum > 0 else None
