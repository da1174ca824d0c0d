"""The HTTP API: v1 VMs (stable), v2 orchestration, GraphQL and the event stream, behind
bearer tokens with roles; every mutating request is audited. The OpenAPI document is at
/openapi.json (and /docs)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from novacron.api import admin, control, graphql, stream, v1_vms, v2_events, v2_placement, v2_policies
from novacron.api.config import get_api_settings
from novacron.api.middleware import Audit, BodyLimit
from novacron.api.schemas import ERROR_RESPONSES
from sqlalchemy.exc import DataError, IntegrityError, StatementError

from novacron import __version__

log = logging.getLogger(__name__)


def create_app() -> FastAPI:
    api = FastAPI(title="NovaCron", version=__version__,
                  description="Control plane for libvirt/KVM fleets. Authenticate with "
                              "`Authorization: Bearer ncr_...` (`novacron token create`).")
    for module in (v1_vms, v2_placement, v2_policies, v2_events, control, admin):
        api.include_router(module.router, responses=ERROR_RESPONSES)
    api.include_router(__import__("novacron.api.v2_fleet").api.v2_fleet.router, responses=ERROR_RESPONSES)
    api.include_router(graphql.router, tags=["graphql"])
    api.include_router(stream.router)

    @api.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @api.exception_handler(IntegrityError)
    async def conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        return JSONResponse({"detail": "conflicts with existing data (duplicate or referenced)"}, 409)

    @api.exception_handler(DataError)
    async def bad_data(_: Request, exc: DataError) -> JSONResponse:
        return JSONResponse({"detail": "a value cannot be stored (out of range or bad encoding)"}, 422)

    @api.exception_handler(StatementError)
    async def bad_parameter(_: Request, exc: StatementError) -> JSONResponse:
        if isinstance(exc.orig, ValueError):  # e.g. NUL in a string: the driver refuses it
            return JSONResponse({"detail": f"a value cannot be stored: {exc.orig}"}, 422)
        raise exc

    # Outermost first: the size limit answers before the audit and the routes see the body.
    api.add_middleware(Audit)
    api.add_middleware(BodyLimit, max_bytes=get_api_settings().max_body_bytes)
    return api


app = create_app()
