"""Balanced: prefer hosts whose CPU and memory utilisation end up equal, so neither strands
the other (k8s BalancedAllocation: 1 - spread of the utilisations)."""

from __future__ import annotations

import numpy as np

from ..framework import CycleContext, Hosts, PluginSettings, Scores
from ._util import util_after


class BalancedAllocation:
    name = "balanced_allocation"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def score(self, ctx: CycleContext, hosts: Hosts) -> Scores | None:
        u = util_after(ctx, hosts)
        return 1.0 - np.abs(u[0] - u[1])  # type: ignore[no-any-return]
