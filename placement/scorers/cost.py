"""Cost: a VM on an already-running host adds no host-hours; opening an idle host costs its
hourly price (spot hosts are cheap, when the VM allows them). Among running hosts the
cheaper one still wins, by a small margin."""

from __future__ import annotations

import numpy as np

from ..framework import CycleContext, Hosts, PluginSettings, Scores


class Cost:
    name = "cost"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def score(self, ctx: CycleContext, hosts: Hosts) -> Scores | None:
        s = ctx.state
        rel = s.price[hosts] / max(s.max_price, 1e-12)
        opening = (s.vm_count[hosts] == 0).astype(np.float64)
        return 1.0 - (0.9 * opening + 0.1) * rel  # type: ignore[no-any-return]
