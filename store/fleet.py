"""Reads and writes the API needs on the fleet tables: VMs, hosts, decisions, events, policies.
Every function takes a Session, so callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from novacron.store import models
from sqlalchemy import DateTime, Uuid, bindparam, delete, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.expression import ColumnClause

from novacron.events import Decision, utcnow

# One placement commits at a time across every API process: the decision reads free capacity
# and the insert must see the same fleet, or two concurrent requests could fill one slot twice.
PLACEMENT_LOCK = 0x4E4F5641  # "NOVA"


def writes(session: Session) -> int:
    """How many placement writes this session has made (api.deps batches placements in one
    transaction and must know whether a refused one wrote anything)."""
    return int(session.info.get("placement_writes", 0))


def _wrote(session: Session) -> None:
    session.info["placement_writes"] = writes(session) + 1


def lock_placement(session: Session) -> None:
    """Take the placement lock for the rest of this transaction (once: it is re-entrant, but
    each extra call would still cost a round trip)."""
    txn = session.get_transaction()
    if txn is not None and session.info.get("placement_lock") is txn:
        return
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PLACEMENT_LOCK})
    session.info["placement_lock"] = session.get_transaction()


# -- what placement sees of the fleet ------------------------------------------------------

# The fingerprint of what placement reads, in one round trip: one row for the hosts table
# (host_id NULL) and one per host for the VMs on it ('' for VMs on no host). Each row is a
# count and a sum of 64-bit hashes of every column placement reads, so any committed change by
# any writer changes the row of each host it touches (short of a hash collision). PostgreSQL
# computes it in a few milliseconds; loading the rows into Python takes tens. A host's facts are
# hashed as JSONB (jsonb_hash_extended, XORed in); as text they cost twice as much (10,000
# hosts, interleaved on a loaded machine: the hosts row 12 ms without facts, 22 ms, 37-41 ms).
_FINGERPRINT = text("""
SELECT NULL, count(*), coalesce(sum(hashtextextended(
         host_id || '|' || state || '|' || vcpus || '|' || memory_mib || '|' || labels::text, 0)
         # jsonb_hash_extended(facts, 0)), 0)
FROM hosts
UNION ALL
SELECT coalesce(host_id, ''), count(*), sum(hashtextextended(
         vm_id || '|' || coalesce(host_id, '') || '|' || state || '|' || vcpus || '|' ||
         memory_mib || '|' || labels::text, 0))
FROM vms GROUP BY 1""")
# The same per-VM hash, returned by the INSERT itself (no extra round trip).
_VM_HASH_SQL = ("hashtextextended(vms.vm_id || '|' || coalesce(vms.host_id, '') || '|' || vms.state "
                "|| '|' || vms.vcpus || '|' || vms.memory_mib || '|' || vms.labels::text, 0)")
_VM_HASH: ColumnClause[Any] = literal_column(_VM_HASH_SQL)

Print = tuple[int, int]  # rows, sum of their hashes


@dataclass
class FleetPrint:
    hosts: Print
    vms_by_host: dict[str, Print]  # '' holds the VMs on no host

    def changed_hosts(self, other: FleetPrint) -> set[str]:
        keys = self.vms_by_host.keys() | other.vms_by_host.keys()
        return {k for k in keys if self.vms_by_host.get(k) != other.vms_by_host.get(k)}


def fingerprint(session: Session) -> FleetPrint:
    return _print_of(list(session.execute(_FINGERPRINT)))


PolicyRow = tuple[str, int, dict[str, Any], str | None]  # name, priority, spec, source


def lock_and_read(session: Session) -> tuple[FleetPrint, list[PolicyRow]]:
    """Take the placement lock, then read the fleet's fingerprint, the stored policies (in
    ``policies()``'s order) and the control settings, sent as one pipeline: one round trip
    instead of five (the transaction's BEGIN included). The lock is its own statement, before
    the fingerprint, so the fingerprint's snapshot sees every placement committed before the
    lock was granted. The control settings are put in the session as if loaded, so that
    ``store.control``'s reads of them in this transaction (the pause switch) need no trip."""
    conn = session.connection()
    raw = conn.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError("the placement pipeline needs the psycopg (3) driver")
    try:
        with raw.pipeline():
            raw.execute("SELECT pg_advisory_xact_lock(%s)", [PLACEMENT_LOCK])
            fp_cur = raw.execute(str(_FINGERPRINT))
            pol_cur = raw.execute("SELECT name, priority, spec, source FROM orchestration_policies "
                                  "ORDER BY priority DESC, name")
            ctl_cur = raw.execute("SELECT key, value, updated_at, updated_by FROM control_settings")
        fp_rows, policies, controls = fp_cur.fetchall(), pol_cur.fetchall(), ctl_cur.fetchall()
    except psycopg.OperationalError as exc:
        # Bypassing SQLAlchemy here, tell it what it would have seen: a dead connection.
        conn.invalidate(exc)
        raise DBAPIError(None, None, exc, connection_invalidated=True) from exc
    session.info["placement_lock"] = session.get_transaction()
    held = session.info.setdefault("control_rows", [])  # the identity map holds rows weakly
    for key, value, updated_at, updated_by in controls:
        if session.identity_map.get(identity_key(models.ControlSetting, key)) is None:
            row = models.ControlSetting(key=key, value=value, updated_at=updated_at, updated_by=updated_by)
            make_transient_to_detached(row)
            session.add(row)
            held.append(row)
    return _print_of(fp_rows), [(r[0], int(r[1]), r[2], r[3]) for r in policies]


def _print_of(rows: Sequence[Any]) -> FleetPrint:
    hosts: Print = (0, 0)
    by_host: dict[str, Print] = {}
    for key, n, total in rows:
        if key is None:
            hosts = (int(n), int(total))
        else:
            by_host[str(key)] = (int(n), int(total))
    return FleetPrint(hosts, by_host)


def note_new_vm(fp: FleetPrint, host_id: str, row_hash: int) -> None:
    """Update ``fp`` for a VM row inserted on ``host_id`` (``row_hash`` from add_placed_vm)."""
    n, total = fp.vms_by_host.get(host_id, (0, 0))
    fp.vms_by_host[host_id] = (n + 1, total + row_hash)


HostRow = tuple[str, int, int, dict[str, Any], str]  # host_id, vcpus, memory_mib, labels, state
# vm_id, host_id, vcpus, memory_mib, labels, anti_affinity (see models.VM.anti_affinity)
VmRow = tuple[str, str, int, int, dict[str, Any], list[Any]]


def placement_rows(session: Session, free_states: Sequence[str],
                   on_hosts: Sequence[str] | None = None) -> tuple[list[HostRow], list[VmRow]]:
    """Hosts, and the VMs holding capacity on them (only on ``on_hosts`` if given, and then no
    hosts), as plain tuples: loading a couple of thousand VMs as tuples is several times faster
    than as ORM objects."""
    h, v = models.Host, models.VM
    hosts: list[HostRow] = []
    if on_hosts is None:
        hosts = [(r[0], r[1], r[2], r[3], r[4]) for r in session.execute(
            select(h.host_id, h.vcpus, h.memory_mib, h.labels, h.state).order_by(h.host_id))]
    q = (select(v.vm_id, v.host_id, v.vcpus, v.memory_mib, v.labels, v.anti_affinity)
         .where(v.host_id.is_not(None), v.state.not_in(list(free_states))).order_by(v.vm_id))
    if on_hosts is not None:
        q = q.where(v.host_id.in_(list(on_hosts)))
    vms = [(r[0], r[1], r[2], r[3], r[4], r[5] or []) for r in session.execute(q)]
    return hosts, vms


# -- hosts and VMs -------------------------------------------------------------------------


def hosts(session: Session, limit: int | None = None, offset: int = 0) -> list[models.Host]:
    q = select(models.Host).order_by(models.Host.host_id).offset(offset)
    if limit is not None:
        q = q.limit(limit)
    return list(session.scalars(q))


def host(session: Session, host_id: str) -> models.Host | None:
    return session.get(models.Host, host_id)


def vms(session: Session, limit: int | None = 100, offset: int = 0, host_id: str | None = None,
        state: str | None = None) -> list[models.VM]:
    q = select(models.VM).order_by(models.VM.vm_id).offset(offset)
    if limit is not None:
        q = q.limit(limit)
    if host_id is not None:
        q = q.where(models.VM.host_id == host_id)
    if state is not None:
        q = q.where(models.VM.state == state)
    return list(session.scalars(q))


def vm(session: Session, vm_id: str) -> models.VM | None:
    return session.get(models.VM, vm_id)


def add_vm(session: Session, vm_id: str, host_id: str | None, vcpus: int, memory_mib: int,
           labels: dict[str, str], tags: Sequence[str], state: str) -> bool:
    """Insert a VM; False when the id is taken (the caller answers 409)."""
    stmt = pg_insert(models.VM).values(
        vm_id=vm_id, host_id=host_id, vcpus=vcpus, memory_mib=memory_mib, labels=labels,
        tags=list(tags), state=state, updated_at=utcnow(), policy_settings={},
    ).on_conflict_do_nothing(index_elements=["vm_id"]).returning(models.VM.vm_id)
    return session.execute(stmt).first() is not None


@dataclass
class NewVm:
    """A placed VM's row: what placement counts (whole vCPUs, MiB, labels), its intent, every
    dimension it was placed with (``spec``) and the NUMA cells chosen for it."""

    vcpus: int
    memory_mib: int
    labels: dict[str, str]
    tags: list[str]
    state: str
    desired_state: str
    spec: dict[str, Any]
    numa_cells: list[int]
    anti_affinity: list[Any]


def _outbox_values(order: Decision) -> dict[str, Any]:
    return {"o_id": order.decision_id, "o_action": order.action.value, "o_target": order.target_id,
            "o_decision": order.model_dump(mode="json")}


# A placed VM and the PLACE for the actuators in one round trip; the PLACE is queued only if
# the VM was inserted (its id was free), so a taken id writes nothing.
_ADD_VM = text(f"""
WITH v AS (
  INSERT INTO vms (vm_id, host_id, vcpus, memory_mib, labels, tags, state, updated_at, policy_settings,
                   anti_affinity, spec, desired_state, numa_cells)
  VALUES (:vm_id, :host_id, :vcpus, :memory_mib, :labels, :tags, :state, :at, '{{}}', :anti_affinity,
          :spec, :desired_state, :numa_cells)
  ON CONFLICT (vm_id) DO NOTHING
  RETURNING {_VM_HASH_SQL}),
o AS (
  INSERT INTO decision_outbox (decision_id, action, target_id, decision, created_at)
  SELECT :o_id, :o_action, :o_target, :o_decision, :at
  WHERE EXISTS (SELECT 1 FROM v))
SELECT * FROM v""").bindparams(  # noqa: S608 (constants only)
    *(bindparam(k, type_=JSONB) for k in ("labels", "tags", "anti_affinity", "spec", "numa_cells",
                                          "o_decision")),
    bindparam("o_id", type_=Uuid), bindparam("at", type_=DateTime(timezone=True)))


def _vm_values(vm_id: str, host_id: str, new: NewVm, at: datetime) -> dict[str, Any]:
    return {"vm_id": vm_id, "host_id": host_id, "vcpus": new.vcpus, "memory_mib": new.memory_mib,
            "labels": new.labels, "tags": list(new.tags), "state": new.state,
            "anti_affinity": list(new.anti_affinity), "spec": new.spec,
            "desired_state": new.desired_state, "numa_cells": list(new.numa_cells), "at": at}


def add_placed_vm(session: Session, vm_id: str, host_id: str, new: NewVm, order: Decision) -> int | None:
    """Insert a VM and queue ``order`` (its PLACE); the VM row's fingerprint hash, or None
    (nothing written) when the id is taken."""
    row = session.execute(_ADD_VM, {**_vm_values(vm_id, host_id, new, utcnow()),
                                    **_outbox_values(order)}).first()
    if row is None:
        return None
    _wrote(session)
    return int(row[0])


# A placed VM, its decision and its PLACE in one round trip: the decision and the PLACE are
# inserted only if the VM was (its id was free), so a taken id writes nothing and the caller
# can still answer 409.
_PLACE_VM = text(f"""
WITH v AS (
  INSERT INTO vms (vm_id, host_id, vcpus, memory_mib, labels, tags, state, updated_at, policy_settings,
                   anti_affinity, spec, desired_state, numa_cells)
  VALUES (:vm_id, :host_id, :vcpus, :memory_mib, :labels, :tags, :state, :at, '{{}}', :anti_affinity,
          :spec, :desired_state, :numa_cells)
  ON CONFLICT (vm_id) DO NOTHING
  RETURNING {_VM_HASH_SQL}),
d AS (
  INSERT INTO placement_decisions (decision_id, vm_id, target_host, score, explanation, alternatives,
                                   policy, decided_at, status, request, detail)
  SELECT :decision_id, :vm_id, :host_id, :score, :explanation, :alternatives, :policy, :at, :status,
         :request, :detail
  WHERE EXISTS (SELECT 1 FROM v)),
o AS (
  INSERT INTO decision_outbox (decision_id, action, target_id, decision, created_at)
  SELECT :o_id, :o_action, :o_target, :o_decision, :at
  WHERE EXISTS (SELECT 1 FROM v))
SELECT * FROM v""").bindparams(  # noqa: S608 (constants only)
    *(bindparam(k, type_=JSONB) for k in ("labels", "tags", "alternatives", "request", "detail",
                                          "anti_affinity", "spec", "numa_cells", "o_decision")),
    bindparam("decision_id", type_=Uuid), bindparam("o_id", type_=Uuid),
    bindparam("at", type_=DateTime(timezone=True)))


def place_vm(session: Session, decision: models.PlacementDecision, new: NewVm, order: Decision) -> int | None:
    """Insert the placed VM (on ``decision.target_host``), its decision and ``order`` (its
    PLACE); the VM row's fingerprint hash, or None (nothing written) when the VM id is taken."""
    assert decision.target_host is not None
    row = session.execute(_PLACE_VM, {
        **_vm_values(decision.vm_id, decision.target_host, new, decision.decided_at),
        "decision_id": decision.decision_id, "score": decision.score,
        "explanation": decision.explanation, "alternatives": decision.alternatives,
        "policy": decision.policy, "status": decision.status, "request": decision.request,
        "detail": decision.detail, **_outbox_values(order)}).first()
    if row is None:
        return None
    _wrote(session)
    return int(row[0])


def delete_vm(session: Session, vm_id: str) -> bool:
    res = session.execute(delete(models.VM).where(models.VM.vm_id == vm_id).returning(models.VM.vm_id))
    return res.first() is not None


def set_vm_state(session: Session, vm_id: str, state: str) -> models.VM | None:
    row = session.get(models.VM, vm_id, with_for_update=True)
    if row is not None:
        row.state = state
        row.updated_at = utcnow()
    return row


def set_vm_intent(session: Session, vm_id: str, desired: str) -> models.VM | None:
    """Record the operator's intent (the row locked). ``state`` shows the intent too until the
    actuators report what libvirt did: v1 answers a start with ``running`` as it always has."""
    row = session.get(models.VM, vm_id, with_for_update=True)
    if row is not None:
        row.desired_state = desired
        row.state = desired
        row.updated_at = utcnow()
    return row


def set_vm_host(session: Session, vm_id: str, host_id: str | None) -> None:
    row = session.get(models.VM, vm_id)
    if row is not None:
        row.host_id = host_id
        row.updated_at = utcnow()


def set_policy_settings(session: Session, vm_id: str, settings: dict[str, Any]) -> None:
    row = session.get(models.VM, vm_id, with_for_update=True)
    if row is not None:
        row.policy_settings = settings
        row.updated_at = utcnow()


def count_vms(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(models.VM)) or 0)


# -- decisions and events ------------------------------------------------------------------


def record_placement(session: Session, *, decision_id: uuid.UUID, vm_id: str,
                     target_host: str | None, score: float | None, explanation: str,
                     alternatives: list[dict[str, Any]], policy: str, status: str,
                     request: dict[str, Any], detail: dict[str, Any]) -> models.PlacementDecision:
    row = models.PlacementDecision(
        decision_id=decision_id, vm_id=vm_id, target_host=target_host, score=score,
        explanation=explanation, alternatives=alternatives, policy=policy, status=status,
        request=request, detail=detail, decided_at=utcnow(),
    )
    _wrote(session)
    session.add(row)
    session.flush()
    return row


def set_placement_status(session: Session, decision_id: uuid.UUID, status: str,
                         target_host: str | None) -> None:
    row = session.get(models.PlacementDecision, decision_id)
    if row is not None:
        row.status = status
        row.target_host = target_host


def placement_decisions(session: Session, vm_id: str | None = None, status: str | None = None,
                        limit: int = 100, since: datetime | None = None
                        ) -> list[models.PlacementDecision]:
    m = models.PlacementDecision
    q = select(m).order_by(m.decided_at.desc()).limit(limit)
    if vm_id is not None:
        q = q.where(m.vm_id == vm_id)
    if status is not None:
        q = q.where(m.status == status)
    if since is not None:
        q = q.where(m.decided_at >= since)
    return list(session.scalars(q))


def placement_decision(session: Session, decision_id: uuid.UUID) -> models.PlacementDecision | None:
    return session.get(models.PlacementDecision, decision_id)


def scaling_events(session: Session, vm_id: str | None = None, action: str | None = None,
                   limit: int = 100, since: datetime | None = None) -> list[models.ScalingEvent]:
    m = models.ScalingEvent
    q = select(m).order_by(m.occurred_at.desc()).limit(limit)
    if vm_id is not None:
        q = q.where(m.vm_id == vm_id)
    if action is not None:
        q = q.where(m.action == action)
    if since is not None:
        q = q.where(m.occurred_at >= since)
    return list(session.scalars(q))


def healing_events(session: Session, subject_id: str | None = None, limit: int = 100,
                   since: datetime | None = None) -> list[models.HealingEvent]:
    m = models.HealingEvent
    q = select(m).order_by(m.occurred_at.desc()).limit(limit)
    if subject_id is not None:
        q = q.where(m.subject_id == subject_id)
    if since is not None:
        q = q.where(m.occurred_at >= since)
    return list(session.scalars(q))


# -- policies ------------------------------------------------------------------------------


def vm_tags(session: Session) -> dict[str, frozenset[str]]:
    """vm id -> its tags, for the VMs that have any (what policies' ``matchTags`` select)."""
    m = models.VM
    rows = session.execute(select(m.vm_id, m.tags).where(func.jsonb_array_length(m.tags) > 0))
    return {vm_id: frozenset(str(t) for t in tags) for vm_id, tags in rows}


def policies(session: Session) -> list[models.OrchestrationPolicy]:
    m = models.OrchestrationPolicy
    return list(session.scalars(select(m).order_by(m.priority.desc(), m.name)))


def policy(session: Session, name: str) -> models.OrchestrationPolicy | None:
    return session.get(models.OrchestrationPolicy, name)


def upsert_policy(session: Session, name: str, priority: int, spec: dict[str, Any],
                  source: str | None) -> bool:
    """Insert or replace; True when the policy is new."""
    existed = session.get(models.OrchestrationPolicy, name) is not None
    values = dict(name=name, priority=priority, spec=spec, source=source, updated_at=utcnow())
    stmt = pg_insert(models.OrchestrationPolicy).values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))
    return not existed


def delete_policy(session: Session, name: str) -> bool:
    m = models.OrchestrationPolicy
    return session.execute(delete(m).where(m.name == name).returning(m.name)).first() is not None
