"""v2 fleet: the drift the reconciler found between PostgreSQL and libvirt, with reasons."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from novacron.api.auth import AUTH_RESPONSES, viewer
from novacron.api.deps import DB
from novacron.api.schemas import ID_PATTERN
from novacron.store import fleet_sync
from pydantic import BaseModel

from novacron.events import FleetChange

router = APIRouter(prefix="/v2/fleet", tags=["v2 fleet"], responses={**AUTH_RESPONSES},
                   dependencies=[Depends(viewer)])


class FleetEventOut(BaseModel):
    """One finding: ``kind`` is what changed, ``reason`` says why in words, ``detail`` the
    figures (e.g. desired and observed state, the hosts holding copies)."""

    id: int
    occurred_at: datetime
    kind: str
    host_id: str | None
    vm_id: str | None
    reason: str
    detail: dict[str, Any]


@router.get("/events", response_model=list[FleetEventOut])
def fleet_events(session: DB,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 vm_id: Annotated[str | None, Query(max_length=200, pattern=ID_PATTERN)] = None,
                 host_id: Annotated[str | None, Query(max_length=200, pattern=ID_PATTERN)] = None,
                 kind: Annotated[FleetChange | None, Query()] = None) -> list[dict[str, Any]]:
    """Fleet events (discovered, vanished, moved, duplicate, state-drift, host-unreachable...),
    newest first."""
    rows = fleet_sync.fleet_events(session, limit, vm_id, kind.value if kind else None, host_id)
    return [{"id": e.id, "occurred_at": e.occurred_at, "kind": e.kind, "host_id": e.host_id,
             "vm_id": e.vm_id, "reason": e.reason, "detail": e.detail or {}} for e in rows]
