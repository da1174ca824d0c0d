"""Preferred host labels: the weighted share of soft host-affinity terms a host satisfies."""

from __future__ import annotations

import numpy as np

from ..filters.host_affinity import term_matches
from ..framework import CycleContext, Hosts, PluginSettings, Scores


class HostAffinityScore:
    name = "host_affinity"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def score(self, ctx: CycleContext, hosts: Hosts) -> Scores | None:
        terms = [t for t in ctx.request.constraints.host_affinity if not t.hard]
        if not terms:
            return None
        total = np.zeros(hosts.size)
        wsum = sum(t.weight for t in terms)
        for t in terms:
            total += t.weight * term_matches(ctx.state, t)[hosts]
        return total / wsum if wsum > 0 else None
