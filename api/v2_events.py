"""v2 events: scaling decisions, forecasts that triggered them, healing events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from novacron.api import views
from novacron.api.auth import AUTH_RESPONSES, viewer
from novacron.api.deps import DB
from novacron.api.schemas import ID_PATTERN
from novacron.store import fleet

router = APIRouter(prefix="/v2", tags=["v2 events"], responses={**AUTH_RESPONSES},
                   dependencies=[Depends(viewer)])
Limit = Annotated[int, Query(ge=1, le=1000)]
VmFilter = Annotated[str | None, Query(max_length=200, pattern=ID_PATTERN)]


@router.get("/scaling-events")
def scaling_events(session: DB, vm_id: VmFilter = None,
                   action: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
                   limit: Limit = 100) -> list[dict[str, Any]]:
    """Scaling decisions with their trigger, explanation and alternatives, newest first."""
    return [views.scaling(e) for e in fleet.scaling_events(session, vm_id, action, limit)]


@router.get("/forecasts")
def forecasts(session: DB, vm_id: VmFilter = None, limit: Limit = 100) -> list[dict[str, Any]]:
    """The forecasts (value, interval, horizon) that scaling decisions acted on, newest first."""
    out = []
    for e in fleet.scaling_events(session, vm_id, None, limit):
        fc = e.trigger.get("forecast") if isinstance(e.trigger, dict) else None
        if fc is not None:
            out.append({"vm_id": e.vm_id, "decision_id": str(e.decision_id), "forecast": fc,
                        "occurred_at": e.occurred_at.isoformat()})
    return out


@router.get("/healing-events")
def healing_events(session: DB, subject_id: VmFilter = None, limit: Limit = 100) -> list[dict[str, Any]]:
    return [views.healing(e) for e in fleet.healing_events(session, subject_id, limit)]
