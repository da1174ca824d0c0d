"""Spot hosts are cheap but can be reclaimed: only VMs that allow it may land there."""

from __future__ import annotations

from ..framework import CycleContext, FilterResult, Hosts, PluginSettings, codes_from


class SpotAllowed:
    name = "spot_allowed"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def filter(self, ctx: CycleContext) -> FilterResult | None:
        if ctx.request.constraints.allow_spot or not ctx.state.spot.any():
            return None
        spot = ctx.state.spot
        return FilterResult(codes_from(spot, spot), "spot host, and the VM does not allow spot")

    def hints(self, ctx: CycleContext, hosts: Hosts) -> list[str]:
        return [f"set constraints.allow_spot: {hosts.size} spot hosts would take the VM"]
