"""Strategies are nothing but weight presets over the scorers; a policy may override any weight
(a negative weight turns a preference around, e.g. spread into pack)."""

from __future__ import annotations

from collections.abc import Mapping

from .types import Strategy

# Constraint-driven scorers weigh in under every strategy: they only speak when the request
# has soft terms, NUMA needs or the fleet has recent failures.
_CONSTRAINTS: dict[str, float] = {
    "vm_affinity": 2.0,
    "host_affinity": 1.0,
    "topology_spread": 1.0,
    "numa_locality": 1.0,
    "recent_failure": 1.0,
}

PRESETS: dict[str, dict[str, float]] = {
    Strategy.SPREAD: {"least_allocated": 1.0, "balanced_allocation": 0.5},
    Strategy.BINPACK: {"most_allocated": 1.0, "balanced_allocation": 0.3},
    Strategy.BALANCED: {"balanced_allocation": 1.0, "least_allocated": 0.5},
    Strategy.COST: {"cost": 1.0, "most_allocated": 0.5},
    Strategy.FRAGMENTATION: {
        "fragmentation": 1.0,
        "most_allocated": 0.5,
        "balanced_allocation": 0.2,
    },
}


def weights_for(strategy: str, preferences: Mapping[str, float]) -> dict[str, float]:
    w = dict(_CONSTRAINTS)
    w.update(PRESETS[strategy])
    w.update(preferences)
    return {k: v for k, v in w.items() if v != 0.0}
