"""SQLAlchemy models: the brief's tables plus what the system needs to be auditable."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# JSONB on PostgreSQL, plain JSON elsewhere (the API tests may use other engines later).
Json = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    pass


class Host(Base):
    __tablename__ = "hosts"
    host_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    uri: Mapped[str] = mapped_column(String(500))
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mib: Mapped[int] = mapped_column(Integer)
    labels: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    state: Mapped[str] = mapped_column(String(40), default="up")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Inventory facts beyond vCPUs and memory (migration 0005): price_per_hour, overcommit,
    # numa cells, net/disk/IOPS capacity, libvirt's host UUID.
    facts: Mapped[dict[str, Any]] = mapped_column(Json, default=dict, server_default="{}")


class VM(Base):
    __tablename__ = "vms"
    vm_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host_id: Mapped[str | None] = mapped_column(ForeignKey("hosts.host_id"), nullable=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mib: Mapped[int] = mapped_column(Integer)
    labels: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    state: Mapped[str] = mapped_column(String(40), default="running")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The applied effective-policy settings (field path -> value) that the dry-run compares.
    policy_settings: Mapped[dict[str, Any]] = mapped_column(Json, default=dict, server_default="{}")
    tags: Mapped[list[Any]] = mapped_column(Json, default=list, server_default="[]")
    # Hard anti-affinity it was placed with, [{"labels": {...}, "topology_key": "host"}]: these
    # bind VMs placed after it too (placement/symmetric.py), so they live with the VM.
    anti_affinity: Mapped[list[Any]] = mapped_column(Json, default=list, server_default="[]")
    # Every dimension placement decided on (net, storage, IOPS, NUMA, GPUs, disks, NICs).
    spec: Mapped[dict[str, Any]] = mapped_column(Json, default=dict, server_default="{}")
    # The operator's intent (running | stopped); ``state`` is what libvirt reports.
    desired_state: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # The NUMA cells the placement chose for it (its domain's <numatune>).
    numa_cells: Mapped[list[Any]] = mapped_column(Json, default=list, server_default="[]")


class OrchestrationPolicy(Base):
    __tablename__ = "orchestration_policies"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    spec: Mapped[dict[str, Any]] = mapped_column(Json)
    source: Mapped[str | None] = mapped_column(String(500), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PlacementDecision(Base):
    __tablename__ = "placement_decisions"
    decision_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    vm_id: Mapped[str] = mapped_column(String(200), index=True)
    target_host: Mapped[str | None] = mapped_column(String(200), nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    explanation: Mapped[str] = mapped_column(Text)
    alternatives: Mapped[list[Any]] = mapped_column(Json, default=list)
    policy: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # placed | pending | invalid | awaiting-approval (API-made decisions; NULL before 0002)
    status: Mapped[str | None] = mapped_column(String(40), nullable=True)
    request: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)  # breakdown, why-pending
    # What the actuator reported after defining and starting the VM: {status, detail, host_id,
    # at, duration_ms}; NULL until it reports.
    outcome: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)


class ScalingEvent(Base):
    """One scaling decision: what was decided, why, on which trigger, under which mode."""

    __tablename__ = "scaling_events"
    decision_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    vm_id: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    trigger: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    explanation: Mapped[str] = mapped_column(Text)
    alternatives: Mapped[list[Any]] = mapped_column(Json, default=list)
    policy: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(20))
    decided_by: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Action(Base):
    """The actuator's ledger. A row is written (``claimed``) *before* acting, keyed by the
    decision, so a redelivered decision or a restarted worker never acts twice."""

    __tablename__ = "actions"
    decision_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    action: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(200), index=True)
    host_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(20))  # claimed | succeeded | failed | skipped
    detail: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)


class HealingEvent(Base):
    __tablename__ = "healing_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(String(200), index=True)
    diagnosis: Mapped[str] = mapped_column(String(100))
    rung: Mapped[str] = mapped_column(String(100))
    succeeded: Mapped[bool | None] = mapped_column(nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# -- The API's tables (migration 0002): who may call it, what they did, what waits for them.


class ApiToken(Base):
    """An API token. Only a hash of the secret is stored (novacron.api.tokens); the token's public
    ``token_id`` (its prefix) finds the row, so verifying costs one hash, not one per row."""

    __tablename__ = "api_tokens"
    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # viewer | operator | admin
    secret_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditEntry(Base):
    """Who did what, when, and how it ended: one row per mutating request, refused ones too."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)  # token id, or "anonymous"
    role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(1000))
    status_code: Mapped[int] = mapped_column(Integer)
    client: Mapped[str | None] = mapped_column(String(100), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class PendingDecision(Base):
    """A decision waiting for an operator (autonomy mode ``approve``, or the fleet paused):
    approve it, reject it, or override it with another target."""

    __tablename__ = "pending_decisions"
    decision_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    action: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(200), index=True)
    decision: Mapped[dict[str, Any]] = mapped_column(Json)  # the full decision as proposed
    reason: Mapped[str] = mapped_column(Text)  # why it waits
    status: Mapped[str] = mapped_column(String(20), index=True)  # pending|approved|rejected|overridden
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    override: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    # When the approved copy of a stream decision was handed to the actuators (the outbox
    # mark; placements act inside the approving request and never need it).
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DecisionOutbox(Base):
    """A decision written in the same transaction as its cause (a placement, an operator's
    start or stop) and relayed to novacron.decisions by the worker, then marked."""

    __tablename__ = "decision_outbox"
    decision_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    action: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(200))
    decision: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FleetEvent(Base):
    """Drift between PostgreSQL and libvirt, and inventory changes, each with its reason."""

    __tablename__ = "fleet_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # discovered|vanished|moved|state-drift|...
    host_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    vm_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(Json, default=dict, server_default="{}")


class ControlSetting(Base):
    """Fleet-wide switches (the global pause) with who set them and when."""

    __tablename__ = "control_settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))


# The decision log is read newest first (the API, the GraphQL view, the event stream).
Index("ix_placement_decisions_decided_at", PlacementDecision.decided_at)
Index("ix_healing_events_occurred_at", HealingEvent.occurred_at)
