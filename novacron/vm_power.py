"""An operator's start, stop and delete of a VM: the intent is recorded on its row and, in the
same transaction, a START, SHUTDOWN or DESTROY decision is queued in the decision outbox for
the actuators, which act on libvirt and report; the recorder writes what they found back to
the row (``store.outcomes``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from novacron.events import ActionKind, AutonomyMode, Decision, utcnow
from novacron.store import fleet, models, outbox


class VmNotFound(LookupError):
    pass


class VmConflict(Exception):
    """The VM cannot do that now; the message says why and what to do."""


_VERBS = {"running": (ActionKind.START, "start"), "stopped": (ActionKind.SHUTDOWN, "stop")}


def _order(vm: models.VM, action: ActionKind, verb: str, actor: str, **params: object) -> Decision:
    assert vm.host_id is not None
    return Decision(occurred_at=utcnow(), action=action, target_id=vm.vm_id, host_id=vm.host_id,
                    params={"by": "operator", **params}, mode=AutonomyMode.AUTO,
                    explanation=f"{actor} asked to {verb} {vm.vm_id}", decided_by=actor[:200] or "operator")


def set_power(session: Session, vm_id: str, desired: str, actor: str) -> models.VM:
    """``desired`` is ``running`` or ``stopped``. A start lifts an operator's earlier stop (the
    hold the actuators leave on the domain); a stop is graceful, then hard after 30 s."""
    action, verb = _VERBS[desired]
    current = fleet.vm(session, vm_id)
    if current is None:
        raise VmNotFound(f"no VM {vm_id}")
    if current.state == "failed":
        raise VmConflict(f"VM {vm_id} failed to be created on {current.host_id} (see its placement's "
                         "outcome); delete it and create it again")
    row = fleet.set_vm_intent(session, vm_id, desired)
    assert row is not None
    if row.host_id is not None:
        outbox.add(session, _order(row, action, verb, actor))
    return row


def delete(session: Session, vm_id: str, actor: str) -> None:
    """Forget the VM and have the actuators power its domain off and undefine it (its disks
    are the user's: they stay). The id is free again at once."""
    row = fleet.vm(session, vm_id)
    if row is None:
        raise VmNotFound(f"no VM {vm_id}")
    if row.host_id is not None and row.state != "failed":  # a failed VM left nothing defined
        outbox.add(session, _order(row, ActionKind.DESTROY, "delete", actor, undefine=True))
    fleet.delete_vm(session, vm_id)
