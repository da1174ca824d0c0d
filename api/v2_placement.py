"""v2 placement: requests, and decisions with their explanation and alternatives."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from novacron.api import views
from novacron.api.auth import AUTH_RESPONSES, operator, viewer
from novacron.api.deps import DB, placement
from novacron.api.placement_flow import place
from novacron.api.schemas import ID_PATTERN, DecisionOut, PlacementIn
from novacron.api.tokens import Principal
from novacron.store import fleet, fleet_json
from sqlalchemy.orm import Session

router = APIRouter(prefix="/v2/placements", tags=["v2 placement"], responses={**AUTH_RESPONSES})


@router.post("", response_model=DecisionOut,
             responses={409: {"description": "A VM with this id exists"}})
async def request_placement(body: PlacementIn,
                            who: Annotated[Principal, Depends(operator)]) -> dict[str, Any]:
    """Decide where the VM goes, with the score breakdown and the alternatives that lost.
    ``placed`` creates the VM; ``awaiting-approval`` parks it for an operator (paused fleet or
    autonomy ``approve``); ``pending`` explains why nothing fits. ``dry_run`` records nothing."""

    def run(session: Session) -> dict[str, Any]:
        out = place(session, body, who)
        if out.preview is not None:
            return out.preview
        assert out.row is not None
        return views.placement(out.row, out.applied)

    return await placement(run)


@router.get("", response_model=list[DecisionOut], dependencies=[Depends(viewer)])
async def list_decisions(vm_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                         status: Annotated[str | None, Query(pattern=r"^[a-z-]{1,40}$")] = None,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    # PostgreSQL writes the JSON (in DecisionOut's shape); no session, no thread, no re-encoding.
    return Response(await fleet_json.placement_decisions(vm_id, status, limit),
                    media_type="application/json")


@router.get("/{decision_id}", response_model=DecisionOut, dependencies=[Depends(viewer)],
            responses={404: {"description": "No such decision"}})
def get_decision(session: DB, decision_id: uuid.UUID) -> dict[str, Any]:
    d = fleet.placement_decision(session, decision_id)
    if d is None:
        raise HTTPException(404, f"no placement decision {decision_id}")
    return views.placement(d)
