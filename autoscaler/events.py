"""Turn an autoscaler decision into the ``novacron.events.Decision`` the actuators read.

A decision's id is derived from what it decides on: its target, the event time of the window
that triggered it, its kind, and the target's incarnation (its libvirt domain UUID, or the
group template's). A worker that restarts and decides the same window again (its table's state
not yet written back when it died) makes the same id, which the actuator's ledger already
holds, so it is not acted on twice; a trace replayed onto a fleet defined afresh (new domain
UUIDs under the same names) gets new ids, so it does not find its previous run's ledger rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from novacron.events import ActionKind, Alternative, AutonomyMode, Decision

from .types import Direction, ScalingDecision

_DECISION_NS = uuid.UUID("6f1c8f5e-3b0a-5d8e-9a57-2c7e4d1b9a40")


def decision_id_for(target_id: str, at: datetime, action: ActionKind, incarnation: str = "",
                    ) -> uuid.UUID:
    """The id of the ``action`` decision on ``target_id`` (a VM or group) for the window
    ending at event time ``at``; ``incarnation`` tells apart targets that reuse a name (a
    domain UUID; empty when unknown). The same inputs always give the same id."""
    at_iso = at.astimezone(UTC).isoformat()
    return uuid.uuid5(_DECISION_NS, f"{target_id}|{at_iso}|{action.value}|{incarnation}")


def to_event(
    d: ScalingDecision, *, host_id: str | None = None, mode: AutonomyMode = AutonomyMode.AUTO,
    incarnation: str = "",
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
    at = datetime.fromtimestamp(d.at_s, UTC)
    return Decision(
        decision_id=decision_id_for(d.target_id, at, action, incarnation),
        occurred_at=at,
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
