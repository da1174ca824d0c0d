"""Turn an autoscaler decision into the ``novacron.events.Decision`` the actuators read."""

from __future__ import annotations

from datetime import UTC, datetime

from novacron.events import ActionKind, Alternative, AutonomyMode, Decision

from .types import Direction, ScalingDecision


def to_event(
    d: ScalingDecision, *, host_id: str | None = None, mode: AutonomyMode = AutonomyMode.AUTO
) -> Decision:
    params: dict[str, object]
    if d.memory_unit_mib:
        action = ActionKind.SCALE_MEMORY
        params = {"memory_mib": d.desired * d.memory_unit_mib,
                  "previous_memory_mib": d.current * d.memory_unit_mib}  # fmt: skip
    elif d.vertical:
        action = ActionKind.SCALE_VCPU
        params = {"vcpus": d.desired, "previous_vcpus": d.current}
    else:
        action = ActionKind.SCALE_OUT if d.direction is Direction.UP else ActionKind.SCALE_IN
        params = {
            "replicas": d.desired,
            "previous_replicas": d.current,
            "delta": d.delta,
            "spot_replicas": d.spot_after,
        }
    params["cost_delta_per_hour"] = d.cost_delta_per_hour
    return Decision(
        occurred_at=datetime.fromtimestamp(d.at_s, UTC),
        action=action,
        target_kind="vm" if d.vertical else "group",
        target_id=d.target_id,
        host_id=host_id,
        params=params,
        trigger={**d.trigger, "rule": d.rule.value},
        policy=d.policy,
        score=float(d.desired),
        explanation=d.explanation,
        alternatives=[Alternative(option=o, why_not=w) for o, w in d.alternatives],
        mode=mode,
        decided_by=f"autoscaler/{d.rule.value}",
    )
