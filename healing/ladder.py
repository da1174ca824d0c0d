"""The recovery ladder: rungs, their time budgets, and the typed plan the actuators execute.

Each failure class has an ordered list of rungs (learning may reorder it). A rung that fails
or overruns its budget escalates to the next one; when none is left the incident becomes
``needs-operator``. A plan is the unit the actuator side executes and reports back on by its
``plan_id`` (which is the Decision's ``decision_id``, so effects stay idempotent).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from novacron.healing.diagnosis import Diagnosis, FailureClass
from novacron.healing.safety import FenceResult

from novacron.events import ActionKind, Alternative, AutonomyMode, Decision


class Rung(StrEnum):
    RESTART_SERVICE = "restart_service"
    RESTART_VM = "restart_vm"
    LIVE_MIGRATE = "live_migrate"
    COLD_MIGRATE = "cold_migrate"  # also "restart on another host" after a host failure
    SCALE = "scale"  # scale up in place, or out to a new replica
    FAILOVER = "failover"  # promote the warm standby
    DISASTER_RECOVERY = "disaster_recovery"  # restart in another zone


# The brief's budgets: restart service < 30 s ... disaster recovery < 15 min.
RUNG_BUDGET_S: dict[Rung, float] = {
    Rung.RESTART_SERVICE: 30.0,
    Rung.RESTART_VM: 60.0,
    Rung.LIVE_MIGRATE: 120.0,
    Rung.COLD_MIGRATE: 180.0,
    Rung.SCALE: 180.0,
    Rung.FAILOVER: 120.0,
    Rung.DISASTER_RECOVERY: 900.0,
}

# Rungs that boot a copy of the VM (count against the restart cap).
BOOTS = frozenset({Rung.RESTART_VM, Rung.COLD_MIGRATE, Rung.FAILOVER, Rung.DISASTER_RECOVERY})
# Rungs that start a copy somewhere else: the old copy must be fenced first.
STARTS_ELSEWHERE = frozenset({Rung.COLD_MIGRATE, Rung.FAILOVER, Rung.DISASTER_RECOVERY})
# Rungs that move load between hosts (count against the migration limits).
MOVES = frozenset({Rung.LIVE_MIGRATE, Rung.COLD_MIGRATE, Rung.DISASTER_RECOVERY})

DEFAULT_LADDERS: dict[FailureClass, tuple[Rung, ...]] = {
    FailureClass.GUEST_SERVICE_DOWN: (
        Rung.RESTART_SERVICE, Rung.RESTART_VM, Rung.COLD_MIGRATE, Rung.FAILOVER,
        Rung.DISASTER_RECOVERY,
    ),
    FailureClass.VM_CRASHED: (
        Rung.RESTART_VM, Rung.COLD_MIGRATE, Rung.FAILOVER, Rung.DISASTER_RECOVERY,
    ),
    FailureClass.VM_HUNG: (
        Rung.RESTART_VM, Rung.COLD_MIGRATE, Rung.FAILOVER, Rung.DISASTER_RECOVERY,
    ),
    FailureClass.RESOURCE_EXHAUSTION: (
        Rung.SCALE, Rung.LIVE_MIGRATE, Rung.COLD_MIGRATE, Rung.FAILOVER,
    ),
    # The disk under the VM is failing: move it off this host's storage, not restart in place.
    FailureClass.STORAGE_ERROR: (
        Rung.LIVE_MIGRATE, Rung.COLD_MIGRATE, Rung.FAILOVER, Rung.DISASTER_RECOVERY,
    ),
    # Per VM of a failed host (after the host is fenced).
    FailureClass.HOST_DOWN: (Rung.COLD_MIGRATE, Rung.FAILOVER, Rung.DISASTER_RECOVERY),
    FailureClass.HOST_PARTITIONED: (),  # never evacuate on a management-link loss
}


@dataclass(frozen=True, slots=True)
class RungContext:
    """What the fleet offers this VM right now; decides which rungs can apply."""

    has_guest_agent: bool
    source_alive: bool
    has_standby: bool
    has_other_zone: bool
    scalable: bool


def not_applicable(rung: Rung, ctx: RungContext) -> str | None:
    """Why ``rung`` cannot run in ``ctx``, or None when it can."""
    if rung == Rung.RESTART_SERVICE and not ctx.has_guest_agent:
        return "no guest agent to restart a service through"
    if rung in (Rung.RESTART_VM, Rung.LIVE_MIGRATE) and not ctx.source_alive:
        return "its host is down"
    if rung == Rung.FAILOVER and not ctx.has_standby:
        return "no warm standby"
    if rung == Rung.DISASTER_RECOVERY and not ctx.has_other_zone:
        return "no healthy host in another zone"
    if rung == Rung.SCALE and not ctx.scalable:
        return "not in a scalable group"
    return None


class PlanStatus(StrEnum):
    ISSUED = "issued"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


_ACTION: dict[Rung, ActionKind] = {
    Rung.RESTART_SERVICE: ActionKind.RESTART,
    Rung.RESTART_VM: ActionKind.RESTART,
    Rung.LIVE_MIGRATE: ActionKind.MIGRATE,
    Rung.COLD_MIGRATE: ActionKind.MIGRATE,
    Rung.SCALE: ActionKind.SCALE_OUT,
    Rung.FAILOVER: ActionKind.START,
    Rung.DISASTER_RECOVERY: ActionKind.START,
}


@dataclass(slots=True)
class RecoveryPlan:
    """One rung to execute for one VM; the actuator reports back with ``plan_id``."""

    incident_id: uuid.UUID
    diagnosis: Diagnosis
    rung: Rung
    vm_id: str
    source_host: str
    target_host: str | None
    issued_at: datetime
    budget_s: float
    attempt: int  # 1 for the first rung of the incident
    explanation: str
    alternatives: tuple[Alternative, ...] = ()
    fence: FenceResult | None = None
    params: dict[str, Any] = field(default_factory=dict)
    plan_id: uuid.UUID = field(default_factory=uuid.uuid4)
    status: PlanStatus = PlanStatus.ISSUED

    @property
    def deadline(self) -> datetime:
        return self.issued_at + timedelta(seconds=self.budget_s)

    def overdue(self, now: datetime) -> bool:
        return self.status == PlanStatus.ISSUED and now > self.deadline

    def to_decision(self, mode: AutonomyMode = AutonomyMode.AUTO) -> Decision:
        params: dict[str, Any] = {
            "rung": self.rung.value, "budget_s": self.budget_s, "attempt": self.attempt,
            "incident_id": str(self.incident_id), "source_host": self.source_host,
            "target_host": self.target_host, **self.params,
        }
        if self.fence is not None:
            params["fence"] = {"method": self.fence.method, "fenced": self.fence.fenced,
                               "target": self.fence.request.target_id,
                               "detail": self.fence.detail}
        return Decision(
            decision_id=self.plan_id, occurred_at=self.issued_at, action=_ACTION[self.rung],
            target_kind="vm", target_id=self.vm_id,
            host_id=self.target_host or self.source_host, params=params,
            trigger={"health": self.diagnosis.failure.value, "summary": self.diagnosis.summary,
                     "evidence": {k: str(v) for k, v in self.diagnosis.evidence.items()}},
            explanation=self.explanation, alternatives=list(self.alternatives), mode=mode,
            decided_by="healer",
        )


class IncidentStatus(StrEnum):
    OPEN = "open"
    RECOVERED = "recovered"
    NEEDS_OPERATOR = "needs_operator"
    CANCELLED = "cancelled"  # e.g. the operator shut the VM down


@dataclass(slots=True)
class Incident:
    """One VM's recovery: its diagnosis, its rung order, where it is on the ladder."""

    vm_id: str
    diagnosis: Diagnosis
    order: tuple[Rung, ...]
    opened_at: datetime
    why_order: str = ""
    position: int = 0
    status: IncidentStatus = IncidentStatus.OPEN
    plans: list[RecoveryPlan] = field(default_factory=list)
    skipped: list[Alternative] = field(default_factory=list)
    waiting: str | None = None  # why no plan is in flight right now
    retry_at: datetime | None = None
    waiting_since: datetime | None = None  # waiting for capacity since
    fence_failures: int = 0
    avoid: set[str] = field(default_factory=set)  # targets that already failed this incident
    reschedules: int = 0
    closed_at: datetime | None = None
    incident_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def rung(self) -> Rung | None:
        return self.order[self.position] if self.position < len(self.order) else None

    @property
    def in_flight(self) -> RecoveryPlan | None:
        last = self.plans[-1] if self.plans else None
        return last if last is not None and last.status == PlanStatus.ISSUED else None

    def escalate(self, why: str) -> Rung | None:
        """Move to the next rung; None (and ``needs-operator``) when the ladder is exhausted."""
        if self.rung is not None:
            self.skipped.append(Alternative(option=self.rung.value, why_not=why))
        self.position += 1
        if self.rung is None:
            self.status = IncidentStatus.NEEDS_OPERATOR
            self.waiting = f"ladder exhausted ({why})"
        return self.rung

    def close(self, status: IncidentStatus, at: datetime, why: str = "") -> None:
        self.status, self.closed_at = status, at
        if why:
            self.waiting = why
