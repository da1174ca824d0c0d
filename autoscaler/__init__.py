"""novacron.autoscaler: predictive and reactive scaling decisions (pure).

The live decision agent calls, per group (or per VM for vertical scaling) and observation:

    step = decide_group(group_id, Observation(at_s, demand, ready, pending),
                        ForecastView.from_event(forecast, allocated) or None,
                        state, ScalingPolicy.from_profile(...), fallback_reason)
    state = step.state                      # keep it for the next call
    if step.decision: publish(to_event(step.decision, mode=...))

``decide_vcpus`` is the vertical twin; ``AccuracyTracker.poor_reason()`` gives the
``fallback_reason`` when a series' recent forecast accuracy is poor.
"""

from novacron.autoscaler.accuracy import AccuracyTracker
from novacron.autoscaler.events import to_event
from novacron.autoscaler.policy import CostModel, ScalingPolicy
from novacron.autoscaler.rules import decide_group, decide_vcpus
from novacron.autoscaler.types import (
    Direction,
    ForecastView,
    GroupState,
    Observation,
    Rule,
    ScalingDecision,
    Step,
)

__all__ = [
    "AccuracyTracker",
    "CostModel",
    "Direction",
    "ForecastView",
    "GroupState",
    "Observation",
    "Rule",
    "ScalingDecision",
    "ScalingPolicy",
    "Step",
    "decide_group",
    "decide_vcpus",
    "to_event",
]
