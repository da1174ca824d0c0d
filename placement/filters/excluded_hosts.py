"""Hosts the request names as excluded take it on no account, whatever they offer.

For a caller that knows something the fleet state does not, e.g. the group autoscaler after a
clone failed on a host for a reason it cannot see (a disk in no storage pool there). A caller
that would rather place on such a host than not at all asks again without the exclusion: the
filter never relaxes itself.
"""

from __future__ import annotations

import numpy as np

from ..framework import CycleContext, FilterResult, Hosts, PluginSettings, codes_from


class ExcludedHosts:
    name = "excluded_hosts"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def filter(self, ctx: CycleContext) -> FilterResult | None:
        excluded = ctx.request.constraints.exclude_hosts
        if not excluded:
            return None
        out = np.zeros(ctx.state.n_hosts, dtype=bool)
        for host_id in excluded:  # a host not in the fleet excludes nothing
            i = ctx.state.index.get(host_id)
            if i is not None:
                out[i] = True
        # No change of the other VMs makes an excluded host pass: unresolvable.
        return FilterResult(codes_from(out, out), "the request excludes the host")

    def hints(self, ctx: CycleContext, hosts: Hosts) -> list[str]:
        ids = ", ".join(ctx.state.host_ids[int(h)] for h in hosts[:3])
        return [f"drop the exclusion of {hosts.size} hosts (e.g. {ids}) from the request"]
