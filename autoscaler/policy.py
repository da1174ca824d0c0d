"""The numbers a scaling decision runs under, taken from the policy package's profile table.

``ScalingPolicy`` is what every decision function receives: thresholds as fractions of the
allocated capacity, cooldowns, the scale-down delay, the replica bounds, the lead time (how
long a new replica takes to serve) and what capacity may cost. ``from_profile`` gives the
profile names (conservative / moderate / aggressive) their meaning through
``novacron.policy.schema.PROFILES``, the one table that defines them.
"""

from __future__ import annotations

from dataclasses import dataclass

from novacron.policy.schema import PROFILES, AutoScalingProfile

from novacron.events import AutonomyMode


@dataclass(frozen=True, slots=True)
class CostModel:
    """Price of one replica (or one vCPU for vertical scaling) per hour."""

    on_demand_per_hour: float = 1.0
    spot_per_hour: float = 0.3  # spot capacity, usable only where the policy allows it

    def __post_init__(self) -> None:
        if self.on_demand_per_hour <= 0 or not 0 < self.spot_per_hour <= self.on_demand_per_hour:
            raise ValueError("need 0 < spot_per_hour <= on_demand_per_hour")


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    name: str = "default"
    profile: AutoScalingProfile = AutoScalingProfile.MODERATE
    target: float = 0.70  # utilisation the scaler steers towards
    scale_up_threshold: float = 0.80  # forecast utilisation above which capacity is added
    scale_down_threshold: float = 0.40  # forecast utilisation below which it may be removed
    scale_up_cooldown_s: float = 120.0
    scale_down_cooldown_s: float = 600.0
    scale_down_delay_s: float = 600.0  # how long the upper bound must stay low first
    max_step: int = 2  # most units removed in one scale-down
    max_step_up: int | None = None  # most units added at once; None: as many as the forecast needs
    min_replicas: int = 1
    max_replicas: int = 100
    lead_time_s: float = 300.0  # boot time of a replica: how far ahead scale-ups must look
    horizon_s: float = 1800.0  # how far ahead a scale-down must stay safe
    spot_allowed: bool = False
    spot_max_fraction: float = 0.0
    cost: CostModel = CostModel()
    mode: AutonomyMode = AutonomyMode.AUTO

    def __post_init__(self) -> None:
        if not 0 < self.scale_down_threshold < self.target <= self.scale_up_threshold <= 1.0:
            raise ValueError("thresholds must satisfy 0 < down < target <= up <= 1")
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 0 <= min_replicas <= max_replicas")
        if self.max_step < 1 or (self.max_step_up is not None and self.max_step_up < 1):
            raise ValueError("steps must be >= 1")
        if self.lead_time_s <= 0 or self.horizon_s < self.lead_time_s:
            raise ValueError("need 0 < lead_time_s <= horizon_s")
        if not 0.0 <= self.spot_max_fraction <= 1.0:
            raise ValueError("spot_max_fraction must be within [0, 1]")

    @classmethod
    def from_profile(
        cls,
        profile: AutoScalingProfile | str = AutoScalingProfile.MODERATE,
        *,
        name: str = "default",
        min_replicas: int = 1,
        max_replicas: int = 100,
        lead_time_s: float = 300.0,
        horizon_s: float = 1800.0,
        scale_down_delay_s: float | None = None,
        spot_allowed: bool = False,
        spot_max_fraction: float = 1.0,
        cost: CostModel | None = None,
        mode: AutonomyMode = AutonomyMode.AUTO,
    ) -> ScalingPolicy:
        """A policy with the profile's numbers; ``scale_down_delay_s`` overrides the
        profile default like ``rules.scaleDownDelay`` does in a policy file."""
        prof = AutoScalingProfile(profile)
        n = PROFILES[prof]
        return cls(
            name=name,
            profile=prof,
            target=n.target_utilization,
            scale_up_threshold=n.scale_up_threshold,
            scale_down_threshold=n.scale_down_threshold,
            scale_up_cooldown_s=float(n.scale_up_cooldown_s),
            scale_down_cooldown_s=float(n.scale_down_cooldown_s),
            scale_down_delay_s=float(
                n.scale_down_delay_s if scale_down_delay_s is None else scale_down_delay_s
            ),
            max_step=n.max_step,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            lead_time_s=lead_time_s,
            horizon_s=max(horizon_s, lead_time_s),
            spot_allowed=spot_allowed,
            spot_max_fraction=spot_max_fraction if spot_allowed else 0.0,
            cost=cost or CostModel(),
            mode=mode,
        )
