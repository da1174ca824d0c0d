"""The HTTP API. The foundation serves health and the decision log; the v1 VM API, v2
orchestration endpoints, GraphQL and WebSocket come with the policy and API work."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query
from novacron.store import models
from novacron.store.db import session_factory
from sqlalchemy import select
from sqlalchemy.orm import Session

from novacron import __version__
from novacron.settings import get_settings

app = FastAPI(title="NovaCron", version=__version__)


def db() -> Any:
    with session_factory(get_settings().database_url)() as s:
        yield s


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@app.get("/v2/scaling-events")
def scaling_events(
    session: Annotated[Session, Depends(db)],
    vm_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Scaling decisions with their trigger, explanation and alternatives, newest first."""
    q = select(models.ScalingEvent).order_by(models.ScalingEvent.occurred_at.desc()).limit(limit)
    if vm_id is not None:
        q = q.where(models.ScalingEvent.vm_id == vm_id)
    return [
        {"decision_id": str(e.decision_id), "vm_id": e.vm_id, "action": e.action,
         "params": e.params, "trigger": e.trigger, "explanation": e.explanation,
         "alternatives": e.alternatives, "policy": e.policy, "mode": e.mode,
         "decided_by": e.decided_by, "occurred_at": e.occurred_at.isoformat()}
        for e in session.scalars(q)
    ]
