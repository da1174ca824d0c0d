"""v1: the VM API users script against. Stable: fields are only ever added."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from novacron.api import views
from novacron.api.auth import AUTH_RESPONSES, operator, viewer
from novacron.api.deps import DB, placement
from novacron.api.placement_flow import actor, place
from novacron.api.schemas import ID_PATTERN, VMCreate, VMOut
from novacron.api.tokens import Principal
from novacron.store import control, fleet, fleet_json
from sqlalchemy.orm import Session

from novacron import vm_power

router = APIRouter(prefix="/v1/vms", tags=["v1 VMs"], responses={**AUTH_RESPONSES})
VmId = Annotated[str, Path(pattern=ID_PATTERN)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such VM"}}
PAUSED: dict[int | str, dict[str, Any]] = {409: {"description": "Conflict: paused, exists, or no room"}}


def _get(session: Session, vm_id: str) -> dict[str, Any]:
    row = fleet.vm(session, vm_id)
    if row is None:
        raise HTTPException(404, f"no VM {vm_id}")
    return views.vm(row)


def _not_paused(session: Session) -> None:
    p = control.pause_state(session)
    if p["paused"]:
        raise HTTPException(409, f"the fleet is paused by {p['updated_by']} ({p['reason']}); "
                                 "resume it with PUT /v2/pause")


@router.get("", response_model=list[VMOut], dependencies=[Depends(viewer)])
async def list_vms(limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                   host_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                   state: Annotated[str | None, Query(pattern=r"^[a-z-]{1,40}$")] = None) -> Response:
    # PostgreSQL writes the JSON (in VMOut's shape); no session, no thread, no re-encoding.
    return Response(await fleet_json.vms(limit, offset, host_id, state), media_type="application/json")


@router.post("", response_model=VMOut, status_code=201, responses={**PAUSED})
async def create_vm(body: VMCreate, who: Annotated[Principal, Depends(operator)]) -> dict[str, Any]:
    """Place the VM (the v2 engine picks the host on every dimension given) and record it; the
    actuators then define it there and start it (unless ``start`` is false). 409 when nothing
    fits. ``state`` is the intent until they report: ``failed`` if libvirt refused it."""

    def run(session: Session) -> dict[str, Any]:
        _not_paused(session)
        out = place(session, body.placement(), who, tags=body.tags, start=body.start,
                    require_applied=True)
        assert out.row is not None and out.applied
        return _get(session, out.row.vm_id)

    return await placement(run)


@router.get("/{vm_id}", response_model=VMOut, responses={**NOT_FOUND}, dependencies=[Depends(viewer)])
def get_vm(session: DB, vm_id: VmId) -> dict[str, Any]:
    return _get(session, vm_id)


@router.delete("/{vm_id}", status_code=204, responses={**NOT_FOUND, **PAUSED})
def delete_vm(session: DB, vm_id: VmId, who: Annotated[Principal, Depends(operator)]) -> Response:
    """Forget the VM; the actuators power its domain off and undefine it (its disk files stay)."""
    _not_paused(session)
    try:
        vm_power.delete(session, vm_id, actor(who))
    except vm_power.VmNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    return Response(status_code=204)


def _set_state(session: DB, vm_id: str, state: str, who: Principal) -> dict[str, Any]:
    _not_paused(session)
    try:
        row = vm_power.set_power(session, vm_id, state, actor(who))
    except vm_power.VmNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except vm_power.VmConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    return views.vm(row)


@router.post("/{vm_id}/start", response_model=VMOut, responses={**NOT_FOUND, **PAUSED})
def start_vm(session: DB, vm_id: VmId, who: Annotated[Principal, Depends(operator)]) -> dict[str, Any]:
    """Record the intent and have the actuators start the domain (an operator's start lifts an
    operator's stop); ``state`` is the intent until they report."""
    return _set_state(session, vm_id, "running", who)


@router.post("/{vm_id}/stop", response_model=VMOut, responses={**NOT_FOUND, **PAUSED})
def stop_vm(session: DB, vm_id: VmId, who: Annotated[Principal, Depends(operator)]) -> dict[str, Any]:
    """Record the intent and have the actuators shut the domain down (gracefully, then hard
    after 30 s); the healer does not start it again."""
    return _set_state(session, vm_id, "stopped", who)
