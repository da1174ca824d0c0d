"""Rows to JSON-ready dicts (one place, so REST, GraphQL and the stream agree)."""

from __future__ import annotations

from typing import Any

from novacron.store import models


def vm(v: models.VM) -> dict[str, Any]:
    return {"vm_id": v.vm_id, "host_id": v.host_id, "vcpus": v.vcpus, "memory_mib": v.memory_mib,
            "labels": v.labels, "tags": v.tags, "state": v.state, "updated_at": v.updated_at.isoformat(),
            "desired_state": v.desired_state, "spec": v.spec or {}, "numa_cells": v.numa_cells or []}


def host(h: models.Host) -> dict[str, Any]:
    return {"host_id": h.host_id, "uri": h.uri, "vcpus": h.vcpus, "memory_mib": h.memory_mib,
            "labels": h.labels, "state": h.state}


def placement(d: models.PlacementDecision, applied: bool = False) -> dict[str, Any]:
    return {"decision_id": d.decision_id, "vm_id": d.vm_id, "status": d.status or "placed",
            "target_host": d.target_host, "score": d.score, "explanation": d.explanation,
            "alternatives": d.alternatives, "policy": d.policy,
            "decided_at": d.decided_at.isoformat(), "detail": d.detail or {}, "applied": applied,
            "outcome": d.outcome}


def scaling(e: models.ScalingEvent) -> dict[str, Any]:
    return {"decision_id": str(e.decision_id), "vm_id": e.vm_id, "action": e.action,
            "params": e.params, "trigger": e.trigger, "explanation": e.explanation,
            "alternatives": e.alternatives, "policy": e.policy, "mode": e.mode,
            "decided_by": e.decided_by, "occurred_at": e.occurred_at.isoformat()}


def healing(e: models.HealingEvent) -> dict[str, Any]:
    return {"id": e.id, "subject_id": e.subject_id, "diagnosis": e.diagnosis, "rung": e.rung,
            "succeeded": e.succeeded, "duration_s": e.duration_s, "evidence": e.evidence,
            "occurred_at": e.occurred_at.isoformat()}


def pending(p: models.PendingDecision) -> dict[str, Any]:
    return {"decision_id": p.decision_id, "action": p.action, "target_id": p.target_id,
            "decision": p.decision, "reason": p.reason, "status": p.status,
            "created_at": p.created_at.isoformat(),
            "resolved_at": p.resolved_at.isoformat() if p.resolved_at else None,
            "resolved_by": p.resolved_by, "override": p.override, "comment": p.comment}
