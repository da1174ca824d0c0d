"""Preferred VM-VM affinity/anti-affinity: graded by how many matching VMs share the domain
(affinity 1 - 1/(1+n), anti-affinity 1/(1+n)), averaged with the terms' weights."""

from __future__ import annotations

import numpy as np

from ..framework import CycleContext, Hosts, PluginSettings, Scores
from ..types import TopologyKey


class VMAffinityScore:
    name = "vm_affinity"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def score(self, ctx: CycleContext, hosts: Hosts) -> Scores | None:
        terms = [t for t in ctx.request.constraints.affinity if not t.hard]
        if not terms:
            return None
        s = ctx.state
        total = np.zeros(hosts.size)
        wsum = 0.0
        for t in terms:
            if t.topology_key == TopologyKey.NUMA:
                cells = s.counts(t.selector).cell[hosts]
                valid = s.cell_valid[hosts]
                # The VM will take its best cell: fewest matches for anti, most for affinity.
                big = np.iinfo(np.int32).max
                n = (
                    np.where(valid, cells, big).min(axis=1)
                    if t.anti
                    else np.where(valid, cells, 0).max(axis=1)
                )
            else:
                dom = s.domain_of(t.topology_key)
                assert dom is not None
                n = s.domain_counts(t.selector, t.topology_key)[dom[hosts]]
            inv = 1.0 / (1.0 + n.astype(np.float64))
            total += t.weight * (inv if t.anti else 1.0 - inv)
            wsum += t.weight
        return total / wsum if wsum > 0 else None
