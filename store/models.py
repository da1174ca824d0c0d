"""SQLAlchemy models: the brief's tables plus what the system needs to be auditable."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, Uuid
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


class VM(Base):
    __tablename__ = "vms"
    vm_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host_id: Mapped[str | None] = mapped_column(ForeignKey("hosts.host_id"), nullable=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mib: Mapped[int] = mapped_column(Integer)
    labels: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    state: Mapped[str] = mapped_column(String(40), default="running")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


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
