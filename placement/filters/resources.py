"""Free capacity (after overcommit and reserved headroom) must cover the VM on every resource."""

from __future__ import annotations

import numpy as np

from .. import fmt
from ..framework import CycleContext, FilterResult, Hosts, PluginSettings, codes_from
from ..types import RESOURCES


class ResourceFit:
    name = "resources"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def filter(self, ctx: CycleContext) -> FilterResult | None:
        s, d = ctx.state, ctx.demand
        fail = np.zeros(s.n_hosts, dtype=bool)
        never = np.zeros(s.n_hosts, dtype=bool)
        short_dims = []
        # Column by column, and only where the VM asks for something: a zero demand always fits.
        for r in np.flatnonzero(d):
            short = s.free_t[r] < d[r]
            if short.any():
                fail |= short
                never |= s.cap[:, r] < d[r]  # even an empty host is too small
                short_dims.append(RESOURCES[int(r)])
        reason = f"not enough free {', '.join(short_dims) or 'capacity'}"
        return FilterResult(codes_from(fail, never), reason)

    def hints(self, ctx: CycleContext, hosts: Hosts) -> list[str]:
        s, d = ctx.state, ctx.demand
        gap = np.maximum(d - (s.cap[hosts] - s.used[hosts]), 0)
        growable = (s.cap[hosts] >= d).all(axis=1)
        if not growable.any():
            return [
                "no host is large enough even when empty: "
                "use a smaller VM or add a larger host class"
            ]
        rel = np.where(growable, (gap / np.maximum(s.cap[hosts], 1)).max(axis=1), np.inf)
        best = int(np.argmin(rel))
        h = int(hosts[best])
        need = " and ".join(
            fmt.amount(int(r), float(gap[best, r])) for r in np.flatnonzero(gap[best])
        )
        rack = s.domain_name("rack", h)
        same = int(((gap <= gap[best]).all(axis=1) & (s.rack_of[hosts] == s.rack_of[h])).sum())
        return [
            f"{need} more free on host {s.host_ids[h]} ({rack}); {same} host(s) in {rack} need "
            f"no more than that (of {hosts.size} blocked only by capacity)"
        ]
