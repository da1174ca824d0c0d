"""Explanations people can act on: "why pending" when nothing fits, and why the winner won.

Counting rule for "why pending": each rejected host is charged to the first filter (in the
configured order) that rejects it, so the per-filter `eliminated` counts plus the feasible
hosts add up to the fleet. `only_blocker` counts hosts where a filter is the single reason,
which is what tells an operator which constraint binds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .framework import CycleContext, FilterPlugin, FilterResult, HintPlugin
from .types import (
    Alternative,
    FilterOutcome,
    ScorerContribution,
    StatusCode,
    WhyPending,
)

MAX_HINTS = 4


def failure_matrix(
    results: Sequence[tuple[FilterPlugin, FilterResult]], n: int
) -> NDArray[np.int8]:
    if not results:
        return np.zeros((0, n), dtype=np.int8)
    return np.stack([r.codes for _, r in results])


def eliminated_counts(codes: NDArray[np.int8]) -> NDArray[np.int64]:
    fails = codes > 0
    if fails.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    any_fail = fails.any(axis=0)
    first = fails.argmax(axis=0)[any_fail]
    return np.bincount(first, minlength=fails.shape[0]).astype(np.int64)


def why_pending(
    ctx: CycleContext, results: Sequence[tuple[FilterPlugin, FilterResult]]
) -> WhyPending:
    n = ctx.state.n_hosts
    codes = failure_matrix(results, n)
    fails = codes > 0
    nfail = fails.sum(axis=0)
    elim = eliminated_counts(codes)
    only = (fails & (nfail == 1)).sum(axis=1) if fails.size else np.zeros(0, dtype=np.int64)
    outcomes = []
    for k, (plugin, res) in enumerate(results):
        worst = int(codes[k].max(initial=0))
        outcomes.append(
            FilterOutcome(
                filter=plugin.name,
                eliminated=int(elim[k]),
                rejected=int(fails[k].sum()),
                only_blocker=int(only[k]),
                code=StatusCode(worst),
                reason=res.reason if worst else "",
            )
        )
    feasible = int((nfail == 0).sum()) if fails.size else n
    binding: str | None = None
    hints: list[str] = []
    if outcomes and feasible == 0 and n > 0:
        by_only = sorted(range(len(outcomes)), key=lambda k: (-outcomes[k].only_blocker, k))
        if outcomes[by_only[0]].only_blocker > 0:
            binding = outcomes[by_only[0]].filter
            for k in by_only:
                if outcomes[k].only_blocker == 0 or len(hints) >= MAX_HINTS:
                    break
                plugin = results[k][0]
                hosts = np.flatnonzero(fails[k] & (nfail == 1))
                if isinstance(plugin, HintPlugin):
                    hints += plugin.hints(ctx, hosts)
                else:
                    hints.append(f"relax {plugin.name}: {hosts.size} hosts fail only on it")
        else:
            binding = max(outcomes, key=lambda o: o.rejected).filter
            fewest = int(nfail.min())
            h = int(np.flatnonzero(nfail == fewest)[0])
            names = [results[int(k)][0].name for k in np.flatnonzero(fails[:, h])]
            hints.append(
                "no single constraint blocks alone; the closest hosts "
                f"(e.g. {ctx.state.host_ids[h]}) "
                f"fail {fewest} filters: {', '.join(names)}"
            )
    elif n == 0:
        hints.append("the fleet has no hosts")
    resolvable = (
        bool((codes.max(axis=0, initial=0) < StatusCode.UNSCHEDULABLE_AND_UNRESOLVABLE).any())
        if n
        else False
    )
    return WhyPending(
        total_hosts=n,
        feasible_hosts=feasible,
        filters=tuple(outcomes),
        binding=binding,
        hints=tuple(hints[:MAX_HINTS]),
        resolvable=resolvable,
    )


def breakdown(
    names: Sequence[str], weights: NDArray[np.float64], raw: NDArray[np.float64]
) -> tuple[ScorerContribution, ...]:
    return tuple(
        ScorerContribution(scorer=n, raw=float(r), weight=float(w), contribution=float(w * r))
        for n, w, r in zip(names, weights, raw, strict=True)
    )


def why_lost(
    names: Sequence[str],
    weights: NDArray[np.float64],
    win: NDArray[np.float64],
    alt: NDArray[np.float64],
    gap: float,
) -> str:
    if gap <= 1e-12:
        return "tied with the winner; ties go to the first host in fleet order, for determinism"
    diff = weights * (win - alt)
    order = np.argsort(-diff)
    parts = [f"{names[k]} {diff[k]:+.3f} for the winner" for k in order[:2] if diff[k] > 1e-12]
    return f"scored {gap:.3f} lower; " + ", ".join(parts)


def alternatives(
    host_ids: Sequence[str],
    hosts: NDArray[np.intp],
    totals: NDArray[np.float64],
    raw: NDArray[np.float64],
    names: Sequence[str],
    weights: NDArray[np.float64],
    best: int,
    k: int,
) -> tuple[Alternative, ...]:
    if hosts.size <= 1 or k <= 0:
        return ()
    kk = min(k + 1, hosts.size)
    top = np.argpartition(-totals, kk - 1)[:kk]
    top = top[np.lexsort((top, -totals[top]))]
    top = top[top != best][:k]
    return tuple(
        Alternative(
            node=host_ids[int(hosts[j])],
            score=float(totals[j]),
            breakdown=breakdown(names, weights, raw[:, j]),
            why_lost=why_lost(
                names, weights, raw[:, best], raw[:, j], float(totals[best] - totals[j])
            ),
        )
        for j in top
    )
