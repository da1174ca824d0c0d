"""Penalty for hosts that recently failed an action: 1/(1 + failures/half), so a host at the
configured decayed failure count scores half."""

from __future__ import annotations

from ..framework import CycleContext, Hosts, PluginSettings, Scores


class RecentFailure:
    name = "recent_failure"

    def __init__(self, settings: PluginSettings) -> None:
        self.half = max(settings.failure_half_score, 1e-9)

    def score(self, ctx: CycleContext, hosts: Hosts) -> Scores | None:
        f = ctx.state.failures
        if not f.any():
            return None
        return 1.0 / (1.0 + f[hosts] / self.half)  # type: ignore[no-any-return]
