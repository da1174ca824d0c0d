"""Scaffolding shared by the group-outcome tests: the group and its clock, an evaluation whose
memory goes through JSON between steps (as through the agent's table), and ActionResults as
the actuator writes them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from novacron.autoscaler.live_group import (
    FleetView,
    FleetVm,
    GroupPolicy,
    Memory,
    Outcome,
    evaluate_group,
    record_feature,
)

from novacron.events import ActionKind, ActionResult, ActionStatus

G = "web"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def table(memory: Memory) -> Memory:
    """What the agent's JSON table gives back."""
    return dict(json.loads(json.dumps(memory)))


def evaluate_at(memory: Memory, at: float, fleet: FleetView, policy: GroupPolicy, util: float,
                vms: Sequence[FleetVm]) -> Outcome:
    """Every one of ``vms`` reports ``util`` at ``at``, then the group is evaluated."""
    for v in vms:
        memory = record_feature(memory, v.vm_id, at, util, v.vcpus, [util] * 20, 60.0)
    out = evaluate_group(G, memory, fleet, policy, at)
    return Outcome(out.decision, table(out.memory), out.note)


def result(decision_id: uuid.UUID, status: ActionStatus, detail: str,
           after: dict[str, Any] | None = None, action: ActionKind = ActionKind.SCALE_OUT,
           host_id: str | None = None) -> ActionResult:
    return ActionResult(occurred_at=datetime.now(UTC), decision_id=decision_id, action=action,
                        target_id=G, host_id=host_id, status=status, detail=detail,
                        after=after or {}, duration_ms=12.0)
