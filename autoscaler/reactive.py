"""The reactive baseline, as users run it today: Kubernetes' HPA algorithm.

Utilisation is averaged over the ready units, as the HPA averages over ready pods, and the
recommendation is ``ceil(ready x utilisation / target)`` (``replica_calculator.go``: the
usage ratio times the ready pod count), skipped within a 10 % tolerance. Units still booting
are the HPA's not-yet-ready pods: on a scale-up they count as 0 % busy, so the ratio is taken
again over all units and the HPA keeps its size when that ratio is within the tolerance or no
longer above 1 (the dampening that stops it from ordering again, every sync, the units it has
already ordered). A scale-up acts at once (on the threshold crossing), a scale-down only to
the highest recommendation of the last 5 minutes (the HPA's default scale-down stabilisation
window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HpaConfig:
    target: float = 0.70
    tolerance: float = 0.10
    stabilization_s: float = 300.0
    min_replicas: int = 1
    max_replicas: int = 100


@dataclass(frozen=True, slots=True)
class HpaState:
    recommendations: tuple[tuple[float, int], ...] = ()  # (time, desired) within the window


def _recommendation(demand: float, ready: int, current: int, cfg: HpaConfig) -> int:
    if ready <= 0:
        # No ready unit to measure: every unit is not-yet-ready; with none at all, add one.
        if current <= 0:
            return 1 if demand > 0 else current
        ratio = demand / current / cfg.target
        return current if ratio <= 1.0 + cfg.tolerance else math.ceil(current * ratio - 1e-9)
    ratio = demand / ready / cfg.target
    if current > ready and ratio > 1.0:
        # Scale-up with not-yet-ready units: they count as 0 % busy (the ratio over all units).
        ratio = demand / current / cfg.target
        if ratio <= 1.0 + cfg.tolerance:
            return current
        return math.ceil(current * ratio - 1e-9)
    if abs(ratio - 1.0) <= cfg.tolerance:
        return current
    return math.ceil(ready * ratio - 1e-9)


def hpa_desired(
    at_s: float, demand: float, ready: int, current: int, state: HpaState, cfg: HpaConfig
) -> tuple[int, HpaState]:
    """The HPA's replica count for this observation (``current`` = ready + booting units),
    and the state to keep."""
    raw = _recommendation(demand, ready, current, cfg)
    raw = max(cfg.min_replicas, min(cfg.max_replicas, raw))
    recs = tuple((t, r) for t, r in state.recommendations if at_s - t < cfg.stabilization_s)
    recs = (*recs, (at_s, raw))
    if raw >= current:
        return raw, HpaState(recs)
    return min(current, max(r for _, r in recs)), HpaState(recs)
