"""Reads and writes the pipeline needs; every function takes a Session so callers own the
transaction boundaries."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from novacron.store import models
from sqlalchemy import delete, func, select
from sqlalchemy import update as update_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from novacron.events import ActionKind, ActionResult, Decision, utcnow
from novacron.inventory import HostFacts, Inventory, host_facts_of

log = logging.getLogger(__name__)

SCALING_ACTIONS = {
    ActionKind.SCALE_VCPU, ActionKind.SCALE_MEMORY, ActionKind.SCALE_OUT, ActionKind.SCALE_IN,
    ActionKind.NOOP,
}


def _alternatives(decision: Decision) -> list[dict[str, Any]]:
    return [a.model_dump() for a in decision.alternatives]


def record_decision(session: Session, decision: Decision) -> None:
    """Store a decision in its table; a redelivered decision is a no-op (same decision_id)."""
    if decision.action == ActionKind.PLACE:
        stmt = pg_insert(models.PlacementDecision).values(
            decision_id=decision.decision_id, vm_id=decision.target_id,
            target_host=decision.host_id, score=decision.score,
            explanation=decision.explanation, alternatives=_alternatives(decision),
            policy=decision.policy, decided_at=decision.occurred_at,
        )
    else:
        stmt = pg_insert(models.ScalingEvent).values(
            decision_id=decision.decision_id, vm_id=decision.target_id,
            action=decision.action.value, params=decision.params,
            trigger=decision.trigger, explanation=decision.explanation,
            alternatives=_alternatives(decision), policy=decision.policy,
            mode=decision.mode.value, decided_by=decision.decided_by,
            occurred_at=decision.occurred_at,
        )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["decision_id"]))


def claim_action(session: Session, decision: Decision) -> bool:
    """Record the decision in the action ledger *before* acting.

    Returns True when this caller owns the effect; False when the decision was already
    claimed (a redelivery or a duplicate), in which case the caller must not act again.
    The insert commits before the effect so a crash after acting cannot lose the claim.
    """
    stmt = (
        pg_insert(models.Action)
        .values(
            decision_id=decision.decision_id, action=decision.action.value,
            target_id=decision.target_id, host_id=decision.host_id, status="claimed",
            detail="", before={}, after={}, claimed_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["decision_id"])
        .returning(models.Action.decision_id)
    )
    return session.execute(stmt).first() is not None


def finish_action(session: Session, result: ActionResult) -> None:
    row = session.get(models.Action, result.decision_id)
    if row is None:  # a result for an unclaimed decision (e.g. skipped by mode): keep it anyway
        row = models.Action(
            decision_id=result.decision_id, action=result.action.value,
            target_id=result.target_id, host_id=result.host_id, claimed_at=result.occurred_at,
        )
        session.add(row)
    row.status = result.status.value
    row.detail = result.detail
    row.before = result.before
    row.after = result.after
    row.finished_at = result.occurred_at
    row.duration_ms = result.duration_ms


def action_status(session: Session, decision_id: uuid.UUID) -> str | None:
    row = session.get(models.Action, decision_id)
    return row.status if row else None


def scaling_events_for(session: Session, vm_id: str) -> list[models.ScalingEvent]:
    q = select(models.ScalingEvent).where(models.ScalingEvent.vm_id == vm_id)
    return list(session.scalars(q.order_by(models.ScalingEvent.occurred_at)))


def upsert_host(session: Session, host_id: str, uri: str, vcpus: int, memory_mib: int,
                labels: dict[str, str], *, facts: Mapping[str, Any] | None = None,
                state: str = "up") -> None:
    """Insert or replace a host row; ``facts`` (the hosts.facts document) is left as stored
    when not given."""
    values: dict[str, Any] = dict(host_id=host_id, uri=uri, vcpus=vcpus, memory_mib=memory_mib,
                                  labels=labels, state=state, updated_at=utcnow())
    if facts is not None:
        values["facts"] = dict(facts)
    stmt = pg_insert(models.Host).values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=["host_id"], set_=values))


# Host states a sync writes. "retired": gone from the inventory but still holding VMs, so the
# row stays (the VMs reference it) and placement treats it as cordoned.
HOST_UP, HOST_UNREACHABLE, HOST_RETIRED = "up", "unreachable", "retired"


@dataclass
class HostSync:
    """What :func:`sync_hosts` did, host ids per outcome."""

    up: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def sync_hosts(session: Session, inventory: Inventory, facts: Mapping[str, HostFacts],
               *, prune: bool = True) -> HostSync:
    """Make the hosts table say what the inventory and libvirt say.

    Every inventory host is upserted with its facts, ``up`` when libvirt answered, else
    ``unreachable``: then the size and libvirt's facts last read are kept (a host that is down
    for a moment keeps its NUMA cells and UUID), and the error is recorded. With ``prune``,
    hosts an earlier sync wrote (their facts name an inventory) that this inventory no longer
    lists are removed, or, while VMs still reference them, marked ``retired`` and logged: a
    host is never deleted from under its VMs. Hosts written by other means are left alone.
    """
    out = HostSync()
    now = utcnow()
    for entry in inventory.hosts:
        f = facts.get(entry.id) or host_facts_of(entry, None, "its facts were not read",
                                                 inventory.source)
        state = HOST_UP if f.reachable else HOST_UNREACHABLE
        doc = f.as_json()
        if not f.reachable:
            doc = {**_libvirt_facts(session, entry.id), **doc}
        values: dict[str, Any] = dict(host_id=entry.id, uri=entry.uri, labels=f.labels, state=state,
                                      updated_at=now, facts=doc)
        stmt = pg_insert(models.Host).values(**values, vcpus=f.vcpus or 0, memory_mib=f.memory_mib or 0)
        update: dict[str, Any] = dict(values)
        if f.vcpus is not None:  # else keep the size last read
            update["vcpus"] = f.vcpus
        if f.memory_mib is not None:
            update["memory_mib"] = f.memory_mib
        session.execute(stmt.on_conflict_do_update(index_elements=["host_id"], set_=update))
        (out.up if f.reachable else out.unreachable).append(entry.id)
    if prune:
        _prune_hosts(session, set(inventory.ids), inventory.source, out)
    return out


def host_facts(session: Session) -> dict[str, dict[str, Any]]:
    """host id -> its facts document, for the hosts that have any."""
    h = models.Host
    return {hid: doc for hid, doc in session.execute(select(h.host_id, h.facts)) if doc}


def _libvirt_facts(session: Session, host_id: str) -> dict[str, Any]:
    """The facts libvirt last gave for a host (its UUID, hostname and NUMA cells read from
    it), to keep while it cannot be asked."""
    old = session.scalar(select(models.Host.facts).where(models.Host.host_id == host_id)) or {}
    keys = ["uuid", "hostname"] + (["numa", "numa_source"] if old.get("numa_source") == "libvirt" else [])
    return {k: old[k] for k in keys if k in old}


def _prune_hosts(session: Session, keep: set[str], source: str, out: HostSync) -> None:
    h, v = models.Host, models.VM
    vm_count = (select(func.count()).select_from(v).where(v.host_id == h.host_id)
                .correlate(h).scalar_subquery())
    rows = session.execute(select(h.host_id, h.state, vm_count)
                           .where(func.jsonb_exists(h.facts, "inventory")).order_by(h.host_id))
    for host_id, state, vms in rows:
        if host_id in keep:
            continue
        if vms:
            if state != HOST_RETIRED:
                log.warning("host %s is no longer in the inventory (%s) but %d VMs still reference "
                            "it: marked retired, so nothing is placed there; move or delete its "
                            "VMs and the next sync removes it", host_id, source, vms)
            session.execute(update_(h).where(h.host_id == host_id)
                            .values(state=HOST_RETIRED, updated_at=utcnow()))
            out.retired.append(host_id)
        else:
            log.info("host %s is no longer in the inventory (%s) and holds no VMs: removed",
                     host_id, source)
            session.execute(delete(h).where(h.host_id == host_id))
            out.removed.append(host_id)


def upsert_vm(session: Session, vm_id: str, host_id: str, vcpus: int, memory_mib: int,
              labels: dict[str, str], state: str = "running") -> None:
    values = dict(vm_id=vm_id, host_id=host_id, vcpus=vcpus, memory_mib=memory_mib,
                  labels=labels, state=state, updated_at=utcnow())
    stmt = pg_insert(models.VM).values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=["vm_id"], set_=values))
