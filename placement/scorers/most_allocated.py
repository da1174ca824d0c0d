"""Binpack: prefer the fullest hosts so whole hosts stay empty (k8s MostAllocated)."""

from __future__ import annotations

from ..framework import CycleContext, Hosts, PluginSettings, Scores
from ._util import util_after


class MostAllocated:
    name = "most_allocated"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def score(self, ctx: CycleContext, hosts: Hosts) -> Scores | None:
        u = util_after(ctx, hosts)
        return 0.5 * (u[0] + u[1])  # type: ignore[no-any-return]
