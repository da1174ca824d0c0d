"""The reactive baseline, as users run it today: Kubernetes' HPA algorithm.

desired = ceil(current x utilisation / target), skipped within a 10 % tolerance; a scale-up
acts at once (on the threshold crossing), a scale-down only to the highest recommendation of
the last 5 minutes (the HPA's default scale-down stabilisation window). Utilisation is
averaged over the ready units, as the HPA averages over ready pods.
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


def hpa_desired(
    at_s: float, demand: float, ready: int, current: int, state: HpaState, cfg: HpaConfig
) -> tuple[int, HpaState]:
    """The HPA's replica count for this observation, and the state to keep."""
    util = demand / ready if ready > 0 else (math.inf if demand > 0 else 0.0)
    ratio = util / cfg.target
    if abs(ratio - 1.0) <= cfg.tolerance or not math.isfinite(ratio):
        raw = current + (1 if not math.isfinite(ratio) else 0)
    else:
        raw = math.ceil(current * ratio - 1e-9)
    raw = max(cfg.min_replicas, min(cfg.max_replicas, raw))
    recs = tuple((t, r) for t, r in state.recommendations if at_s - t < cfg.stabilization_s)
    recs = (*recs, (at_s, raw))
    if raw >= current:
        return raw, HpaState(recs)
    return min(current, max(r for _, r in recs)), HpaState(recs)
