"""Required host affinity: host labels must match (In) or avoid (NotIn) given values."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..framework import CycleContext, FilterResult, Hosts, PluginSettings, codes_from
from ..state import FleetState
from ..types import HostAffinityTerm


def term_matches(state: FleetState, term: HostAffinityTerm) -> NDArray[np.bool_]:
    codes = state.label_codes.get(term.label)
    known = state.label_values.get(term.label, {})
    wanted = [known[v] for v in term.values if v in known]
    if codes is None:
        inside = np.zeros(state.n_hosts, dtype=bool)
    else:
        inside = np.isin(codes, np.asarray(wanted, dtype=np.int32))
    return ~inside if term.operator == "NotIn" else inside


class HostAffinity:
    name = "host_affinity"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def filter(self, ctx: CycleContext) -> FilterResult | None:
        terms = [t for t in ctx.request.constraints.host_affinity if t.hard]
        if not terms:
            return None
        ok = np.ones(ctx.state.n_hosts, dtype=bool)
        for t in terms:
            ok &= term_matches(ctx.state, t)
        what = "; ".join(f"{t.label} {t.operator} {sorted(t.values)}" for t in terms)
        return FilterResult(codes_from(~ok, ~ok), f"host labels do not satisfy {what}")

    def hints(self, ctx: CycleContext, hosts: Hosts) -> list[str]:
        return [f"relax the required host labels: {hosts.size} hosts fail only on labels"]
