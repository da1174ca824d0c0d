"""Spread: prefer hosts left with the most free CPU and memory.

Like Nova's RAM weigher and Kubernetes' LeastAllocated."""

from __future__ import annotations

from ..framework import CycleContext, Hosts, PluginSettings, Scores
from ._util import util_after


class LeastAllocated:
    name = "least_allocated"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def score(self, ctx: CycleContext, hosts: Hosts) -> Scores | None:
        u = util_after(ctx, hosts)
        return 1.0 - 0.5 * (u[0] + u[1])  # type: ignore[no-any-return]
