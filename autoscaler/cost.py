"""Cost of a capacity change: spot for the burst share where the policy allows it."""

from __future__ import annotations

import math

from .policy import ScalingPolicy


def spot_units(total: int, policy: ScalingPolicy) -> int:
    """How many of ``total`` units run on spot: never the guaranteed minimum, at most the
    policy's share, zero where spot is not allowed."""
    if not policy.spot_allowed or total <= policy.min_replicas:
        return 0
    return min(total - policy.min_replicas, math.floor(policy.spot_max_fraction * total))


def hourly_cost(total: int, spot: int, policy: ScalingPolicy) -> float:
    c = policy.cost
    return (total - spot) * c.on_demand_per_hour + spot * c.spot_per_hour


def cost_delta(current: int, spot_now: int, desired: int, policy: ScalingPolicy) -> tuple[float, int]:
    """(change of the hourly cost, spot units after) when going from ``current`` to ``desired``."""
    spot_after = spot_units(desired, policy)
    delta = hourly_cost(desired, spot_after, policy) - hourly_cost(current, spot_now, policy)
    return round(delta, 6), spot_after
