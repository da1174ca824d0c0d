"""Which decisions wait for an operator, and what an approved one becomes (pure, no I/O).

A decision whose policy says ``approve``, or any acting decision while the global pause is on,
is not carried out: the actuator records it as skipped and parks it in ``pending_decisions``.
When an operator approves it, the relay (``streams.approvals``) publishes an *approved copy*:
the same action and parameters, mode ``auto``, and a decision id derived from the original, so
a copy published twice (a relay that died between publishing and marking) is still acted on
once by the ledger.
"""

from __future__ import annotations

import uuid

from novacron.events import ActionKind, AutonomyMode, Decision

# A fixed namespace: the same original always gives the same approved copy's id.
_APPROVED_NS = uuid.uuid5(uuid.NAMESPACE_URL, "novacron/approved")


def operator_wait_reason(decision: Decision, paused: bool) -> str | None:
    """Why ``decision`` waits for an operator, or None when it does not (it acts, or it is
    only observed/recommended: those are recorded, never queued for approval)."""
    if decision.action == ActionKind.NOOP:
        return None
    if decision.mode == AutonomyMode.APPROVE:
        return f"the policy {decision.policy!r} says approve for {decision.action.value}"
    if decision.mode == AutonomyMode.AUTO and paused:
        return "the fleet is paused (global pause switch)"
    return None


def approved_id(decision_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_APPROVED_NS, str(decision_id))


def approved_copy(decision: Decision, actor: str, comment: str | None = None) -> Decision:
    """The decision an operator approved, ready for the actuators: mode ``auto``, its id
    derived from the original, and who approved it in its params and explanation."""
    note = f"approved by {actor}" + (f": {comment}" if comment else "")
    return decision.model_copy(update={
        "decision_id": approved_id(decision.decision_id),
        "event_id": uuid.uuid4(),
        "mode": AutonomyMode.AUTO,
        "params": {**decision.params, "approved_from": str(decision.decision_id),
                   "approved_by": actor},
        "explanation": f"{decision.explanation} ({note})",
    })
