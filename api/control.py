"""Operators in control: the global pause switch and the decisions waiting for them."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from novacron.api import views
from novacron.api.auth import AUTH_RESPONSES, admin, operator, viewer
from novacron.api.deps import DB
from novacron.api.placement_flow import apply_to_host
from novacron.api.schemas import OverrideIn, PauseIn, PauseOut, PendingOut, ResolveIn
from novacron.api.tokens import Principal
from novacron.store import control, fleet

from novacron.events import utcnow

router = APIRouter(prefix="/v2", tags=["v2 control"], responses={**AUTH_RESPONSES})
STATUSES = r"^(pending|approved|rejected|overridden)$"
RESOLVE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such pending decision"},
    409: {"description": "Already resolved, fleet paused, stale, or the target has no room"},
}
# How long a parked scaling or healing decision may wait for approval (wall time: operators').
STREAM_APPROVAL_TTL = timedelta(hours=1)


@router.get("/pause", response_model=PauseOut, dependencies=[Depends(viewer)])
def get_pause(session: DB) -> dict[str, Any]:
    return control.pause_state(session)


@router.put("/pause", response_model=PauseOut)
def set_pause(session: DB, body: PauseIn, who: Annotated[Principal, Depends(admin)]) -> dict[str, Any]:
    """Stop (or resume) every action fleet-wide. Decisions keep being made and explained;
    while paused they wait in /v2/approvals."""
    return control.set_pause(session, body.paused, body.reason, f"token:{who.token_id} ({who.name})")


@router.get("/approvals", response_model=list[PendingOut], dependencies=[Depends(viewer)])
def list_pending(session: DB,
                 status: Annotated[str | None, Query(pattern=STATUSES)] = "pending",
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    return [views.pending(p) for p in control.pending(session, status, limit)]


def _open(session: DB, decision_id: uuid.UUID, acting: bool) -> Any:
    row = control.lock_pending(session, decision_id)
    if row is None:
        raise HTTPException(404, f"no pending decision {decision_id}")
    if row.status != control.PENDING:
        raise HTTPException(409, f"decision {decision_id} is already {row.status} by {row.resolved_by}")
    if acting and control.is_paused(session):
        raise HTTPException(409, "the fleet is paused; resume it before approving actions")
    if acting and row.action != "place" and utcnow() - row.created_at > STREAM_APPROVAL_TTL:
        # A scaling or healing proposal answers the load and health of when it was made; an
        # hour on, acting on it could undo what the fleet did since. (A placement is checked
        # against the fleet of now when it is applied, so it does not expire.)
        raise HTTPException(409, f"decision {decision_id} was proposed at {row.created_at:%Y-%m-%d %H:%M} "
                                 f"UTC, more than {STREAM_APPROVAL_TTL} ago, and is stale; reject it: "
                                 f"the agents propose again if it is still needed")
    return row


def _actor(who: Principal) -> str:
    return f"token:{who.token_id} ({who.name})"


def _api_placement(row: Any) -> bool:
    """A placement the API parked (its VM not created yet), as opposed to a PLACE the actuators
    parked (the fleet was paused when it came): that VM is recorded, its PLACE is relayed."""
    return bool(row.action == "place" and "request" in row.decision)


@router.post("/approvals/{decision_id}/approve", response_model=PendingOut, responses={**RESOLVE})
def approve(session: DB, decision_id: uuid.UUID, body: ResolveIn,
            who: Annotated[Principal, Depends(operator)]) -> dict[str, Any]:
    """Let the decision act as proposed: a placement creates its VM now (and hands it to the
    actuators, whose outcome lands on the placement decision); a scaling or healing
    decision is handed to the actuators, which carry it out within about a second (its outcome
    arrives on the events stream under the approved copy's decision id)."""
    row = _open(session, decision_id, acting=True)
    if _api_placement(row):
        apply_to_host(session, decision_id, row.decision["request"], row.decision["target_host"], who)
        fleet.set_placement_status(session, decision_id, "placed", row.decision["target_host"])
    control.resolve_pending(session, row, control.APPROVED, _actor(who), body.comment)
    return views.pending(row)


@router.post("/approvals/{decision_id}/reject", response_model=PendingOut, responses={**RESOLVE})
def reject(session: DB, decision_id: uuid.UUID, body: ResolveIn,
           who: Annotated[Principal, Depends(operator)]) -> dict[str, Any]:
    row = _open(session, decision_id, acting=False)
    if row.action == "place":
        host = row.decision.get("target_host") or row.decision.get("host_id")
        fleet.set_placement_status(session, decision_id, "rejected", host)
        if not _api_placement(row):  # its VM was recorded and will not be created: it holds nothing
            fleet.set_vm_state(session, row.target_id, "failed")
    control.resolve_pending(session, row, control.REJECTED, _actor(who), body.comment)
    return views.pending(row)


@router.post("/approvals/{decision_id}/override", response_model=PendingOut, responses={**RESOLVE})
def override(session: DB, decision_id: uuid.UUID, body: OverrideIn,
             who: Annotated[Principal, Depends(operator)]) -> dict[str, Any]:
    """Act, but on the operator's target host instead of the proposed one (checked for room)."""
    row = _open(session, decision_id, acting=True)
    if row.action != "place":
        raise HTTPException(409, f"only placements can be overridden with a host; this is {row.action}")
    if not _api_placement(row):
        where = row.decision.get("host_id")
        raise HTTPException(409, f"the VM of {decision_id} is already recorded on {where} and waits "
                                 "for its creation: approve or reject it")
    apply_to_host(session, decision_id, row.decision["request"], body.target_host, who)
    fleet.set_placement_status(session, decision_id, "placed", body.target_host)
    control.resolve_pending(session, row, control.OVERRIDDEN, _actor(who), body.comment,
                            {"target_host": body.target_host})
    return views.pending(row)
