"""Stored policies as the policy package sees them, and the VMs as dry-run objects."""

from __future__ import annotations

from novacron.policy import LoadedPolicy, ObjectState, Policy, PolicySet
from novacron.store import fleet
from pydantic import ValidationError
from sqlalchemy.orm import Session


def stored_policies(session: Session) -> list[LoadedPolicy]:
    out = []
    for row in fleet.policies(session):
        try:
            out.append(LoadedPolicy(Policy.model_validate(row.spec), row.source or f"store:{row.name}", 1))
        except ValidationError:
            continue  # written by an older schema; `policy validate` reports it
    return out


def policy_set(session: Session) -> PolicySet:
    return PolicySet(stored_policies(session))


def policy_set_of(rows: list[fleet.PolicyRow]) -> PolicySet:
    """The same as ``policy_set`` from rows already read (``fleet.lock_and_read``)."""
    out = []
    for name, _, spec, source in rows:
        try:
            out.append(LoadedPolicy(Policy.model_validate(spec), source or f"store:{name}", 1))
        except ValidationError:
            continue
    return PolicySet(out)


def objects(session: Session, vm_ids: list[str] | None = None) -> list[ObjectState]:
    wanted = set(vm_ids) if vm_ids is not None else None
    return [
        ObjectState(v.vm_id, {str(k): str(x) for k, x in v.labels.items()},
                    frozenset(str(t) for t in v.tags), dict(v.policy_settings))
        for v in fleet.vms(session, limit=None) if wanted is None or v.vm_id in wanted
    ]
