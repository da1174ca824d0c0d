"""Required topology spread: count(domain) + self - min over eligible domains <= max_skew.

Eligible domains are those with at least one host the VM could use regardless of other VMs
(available, label- and spot-compatible), as Kubernetes counts nodes passing node affinity.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..framework import CycleContext, FilterResult, Hosts, PluginSettings, codes_from
from ..types import TopologySpreadTerm
from .host_affinity import term_matches


def eligible_hosts(ctx: CycleContext) -> NDArray[np.bool_]:
    got = ctx.cache.get("spread_eligible")
    if got is None:
        s = ctx.state
        got = ~(s.cordoned | s.maintenance)
        if not ctx.request.constraints.allow_spot:
            got &= ~s.spot
        for t in ctx.request.constraints.host_affinity:
            if t.hard:
                got &= term_matches(s, t)
        ctx.cache["spread_eligible"] = got
    return got  # type: ignore[no-any-return]


def skew_after(ctx: CycleContext, term: TopologySpreadTerm) -> NDArray[np.int64]:
    """Per host: the skew of its domain if the VM went there (min over eligible domains)."""
    s = ctx.state
    dom = s.domain_of(term.topology_key)
    assert dom is not None
    counts = s.domain_counts(term.selector, term.topology_key).astype(np.int64)
    elig = np.zeros(counts.size, dtype=bool)
    elig[dom[eligible_hosts(ctx)]] = True
    floor = int(counts[elig].min()) if elig.any() else 0
    self_match = int(term.selector.matches(ctx.vm.labels))
    return counts[dom] + self_match - floor


class TopologySpread:
    name = "topology_spread"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def filter(self, ctx: CycleContext) -> FilterResult | None:
        terms = [t for t in ctx.request.constraints.spread if t.hard]
        if not terms:
            return None
        ok = np.ones(ctx.state.n_hosts, dtype=bool)
        for t in terms:
            ok &= skew_after(ctx, t) <= t.max_skew
        what = "; ".join(f"{t.selector} per {t.topology_key} maxSkew {t.max_skew}" for t in terms)
        return FilterResult(codes_from(~ok), f"would exceed required spread {what}")

    def hints(self, ctx: CycleContext, hosts: Hosts) -> list[str]:
        return [
            f"add capacity in the least-loaded domain, or raise maxSkew: {hosts.size} hosts "
            "are blocked only by the spread constraint"
        ]
