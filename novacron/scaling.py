"""The foundation's vertical scaling rule: pure, explained, in event time.

Forecast-driven when a forecast is available: scale up when the upper bound of the interval
within the lead time (how long a resize takes to help) crosses the high threshold; scale down
only when the upper bound stays under the low threshold over the whole horizon (never into
predicted load). Reactive on the window's p95 otherwise,
and the decision says which rule ran and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from novacron.events import ActionKind, Alternative, AutonomyMode, Decision, FeatureVector, Forecast


@dataclass(frozen=True, slots=True)
class ScalingRule:
    target_pct: float = 60.0
    high_pct: float = 85.0
    low_pct: float = 30.0
    min_vcpus: int = 1
    max_vcpus: int = 8
    cooldown: timedelta = timedelta(minutes=5)
    lead_time: timedelta = timedelta(minutes=2)
    policy: str = "default"
    mode: AutonomyMode = AutonomyMode.AUTO

    def __post_init__(self) -> None:
        if not 0 < self.low_pct < self.target_pct < self.high_pct <= 100:
            raise ValueError("thresholds must satisfy 0 < low < target < high <= 100")
        if not 1 <= self.min_vcpus <= self.max_vcpus:
            raise ValueError("need 1 <= min_vcpus <= max_vcpus")


def decide(
    features: FeatureVector,
    forecast: Forecast | None,
    rule: ScalingRule,
    last_decision_at: datetime | None,
    fallback_reason: str | None = None,
) -> Decision | None:
    """A vCPU decision for one VM, or None when the VM should stay as it is."""
    alloc = features.allocated
    if alloc is None or alloc < 1:
        return None
    if last_decision_at is not None and features.occurred_at - last_decision_at < rule.cooldown:
        return None
    current = round(alloc)
    if forecast is not None:
        lead = max(1, math.ceil(rule.lead_time.total_seconds() / forecast.step_s))
        lead_upper = max(forecast.upper[:lead])
        horizon_upper = max(forecast.upper)
        peak_point = max(forecast.point)
        rule_name = "predictive"
        trigger = {"rule": rule_name, "forecast_event": str(forecast.event_id),
                   "peak_point": peak_point, "lead_upper": lead_upper,
                   "horizon_upper": horizon_upper, "level": forecast.level}
        demand_pct = max(forecast.point[:lead])
        up_signal, down_signal = lead_upper, horizon_upper
        basis = (
            f"forecast {forecast.model}@{forecast.model_version}: the {forecast.level:.0%} upper "
            f"bound reaches {lead_upper:.1f}% within the {rule.lead_time.total_seconds() / 60:.0f}"
            f"-min lead time and {horizon_upper:.1f}% within "
            f"{forecast.horizon_s / 60:.0f} min (point peak {peak_point:.1f}%)"
        )
    else:
        up_signal = down_signal = demand_pct = features.p95
        basis = (f"reactive fallback ({fallback_reason or 'no forecast'}): p95 over the last "
                 f"{features.window_s / 60:.0f} min is {features.p95:.1f}%")
        rule_name = "reactive"
        trigger = {"rule": rule_name, "p95": features.p95, "fallback_reason": fallback_reason}

    if up_signal > rule.high_pct and current < rule.max_vcpus:
        wanted = math.ceil(current * demand_pct / rule.target_pct)
        target = min(rule.max_vcpus, max(current + 1, wanted))
        why = f"{basis}, above the {rule.high_pct:.0f}% threshold: {current} -> {target} vCPUs"
        stay_why = f"would exceed {rule.high_pct:.0f}% utilisation"
    elif (down_signal < rule.low_pct and current > rule.min_vcpus
          # and one vCPU less still keeps the bound under the target
          and down_signal * current / (current - 1) < rule.target_pct):
        target = current - 1
        why = f"{basis}, below the {rule.low_pct:.0f}% threshold: {current} -> {target} vCPUs"
        stay_why = f"wastes capacity: stays under {rule.low_pct:.0f}%"
    else:
        return None
    trigger["current_vcpus"] = current
    return Decision(
        occurred_at=features.occurred_at,
        action=ActionKind.SCALE_VCPU,
        target_id=features.vm_id,
        host_id=features.host_id,
        params={"vcpus": target, "previous_vcpus": current},
        trigger=trigger,
        policy=rule.policy,
        score=round(up_signal, 3),
        explanation=why,
        alternatives=[Alternative(option=f"keep {current} vCPUs", why_not=stay_why)],
        mode=rule.mode,
        decided_by=f"autoscaler/{rule_name}",
    )
