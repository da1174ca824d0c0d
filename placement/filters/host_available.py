"""Cordoned and maintenance hosts take no new VMs; only an operator changes that."""

from __future__ import annotations

from ..framework import CycleContext, FilterResult, Hosts, PluginSettings, codes_from


class HostAvailable:
    name = "host_available"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def filter(self, ctx: CycleContext) -> FilterResult | None:
        s = ctx.state
        down = s.cordoned | s.maintenance
        return FilterResult(codes_from(down, down), "host is cordoned or in maintenance")

    def hints(self, ctx: CycleContext, hosts: Hosts) -> list[str]:
        ids = ", ".join(ctx.state.host_ids[int(h)] for h in hosts[:3])
        return [f"uncordon or end maintenance on one of {hosts.size} hosts (e.g. {ids})"]
