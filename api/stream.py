"""A WebSocket stream of decisions and events, with filters. It polls PostgreSQL (every
decision is recorded there first), so any API replica serves it without a broker."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from novacron.api import views
from novacron.api.auth import websocket_principal
from novacron.api.config import get_api_settings
from novacron.store import fleet
from novacron.store.db import session_factory

from novacron.events import utcnow
from novacron.settings import get_settings

router = APIRouter(tags=["stream"])
KINDS = ("placement", "scaling", "healing")
# Rows commit a little after their timestamp: look back this far and drop ids already sent.
LOOKBACK = timedelta(seconds=5)


def _poll(since: datetime, kinds: set[str], vm_id: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with session_factory(get_settings().database_url)() as s:
        if "placement" in kinds:
            out += [{"type": "placement", "id": str(d.decision_id), "at": d.decided_at,
                     "data": {**views.placement(d), "decision_id": str(d.decision_id)}}
                    for d in fleet.placement_decisions(s, vm_id, None, 500, since)]
        if "scaling" in kinds:
            out += [{"type": "scaling", "id": str(e.decision_id), "at": e.occurred_at,
                     "data": views.scaling(e)}
                    for e in fleet.scaling_events(s, vm_id, None, 500, since)]
        if "healing" in kinds:
            out += [{"type": "healing", "id": f"h{e.id}", "at": e.occurred_at, "data": views.healing(e)}
                    for e in fleet.healing_events(s, vm_id, 500, since)]
    out.sort(key=lambda m: m["at"])
    return out


@router.websocket("/v2/stream")
async def stream(ws: WebSocket) -> None:
    """``/v2/stream?types=placement,scaling,healing&vm_id=...&token=...``: one JSON message per
    new decision or event, oldest first, from the moment of connecting."""
    principal = await anyio.to_thread.run_sync(websocket_principal, ws)
    if principal is None:
        await ws.close(code=4401, reason="a valid token is required")
        return
    kinds = set((ws.query_params.get("types") or ",".join(KINDS)).split(","))
    vm_id = ws.query_params.get("vm_id")
    if not kinds <= set(KINDS) or (vm_id is not None and not 0 < len(vm_id) <= 200):
        await ws.close(code=4422, reason=f"types must be among {', '.join(KINDS)}; vm_id 1-200 chars")
        return
    await ws.accept()
    cursor = utcnow()
    sent: dict[str, datetime] = {}
    poll_s = get_api_settings().stream_poll_s
    try:
        while True:
            rows = await anyio.to_thread.run_sync(_poll, cursor - LOOKBACK, kinds, vm_id)
            for m in rows:
                if m["id"] in sent or m["at"] < cursor - LOOKBACK:
                    continue
                sent[m["id"]] = m["at"]
                await ws.send_json({"type": m["type"], "at": m["at"].isoformat(), "data": m["data"]})
            if rows:
                cursor = max(cursor, max(m["at"] for m in rows))
            horizon = cursor - LOOKBACK
            sent = {k: t for k, t in sent.items() if t >= horizon}
            await asyncio.sleep(poll_s)
    except (WebSocketDisconnect, RuntimeError):
        return
