"""Admin: tokens (shown once, stored hashed) and the audit log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from novacron.api.auth import AUTH_RESPONSES, admin
from novacron.api.deps import DB
from novacron.api.schemas import Identifier, Strict
from novacron.api.tokens import hash_secret, new_token
from novacron.store import audit, tokens
from pydantic import Field
from sqlalchemy.orm import Session

router = APIRouter(prefix="/v2", tags=["admin"], responses={**AUTH_RESPONSES})


class TokenIn(Strict):
    name: Identifier
    role: Literal["viewer", "operator", "admin"] = Field(default="viewer")


def create_token(session: Session, name: str, role: str, created_by: str) -> tuple[str, str]:
    """(token_id, full token). The caller shows the token once; only its hash is stored."""
    token_id, secret, full = new_token()
    tokens.add_token(session, token_id, name, role, hash_secret(secret), created_by)
    return token_id, full


@router.post("/tokens", status_code=201)
def post_token(session: DB, body: TokenIn, who: Annotated[Any, Depends(admin)]) -> dict[str, Any]:
    token_id, full = create_token(session, body.name, body.role, f"token:{who.token_id}")
    return {"token_id": token_id, "name": body.name, "role": body.role, "token": full}


@router.get("/tokens", dependencies=[Depends(admin)])
def list_tokens(session: DB) -> list[dict[str, Any]]:
    return [{"token_id": t.token_id, "name": t.name, "role": t.role, "created_at": t.created_at.isoformat(),
             "created_by": t.created_by, "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None}
            for t in tokens.tokens(session)]


@router.delete("/tokens/{token_id}", status_code=204, dependencies=[Depends(admin)],
               responses={404: {"description": "No such active token"}})
def revoke(session: DB, token_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]) -> Response:
    if not tokens.revoke_token(session, token_id):
        raise HTTPException(404, f"no active token {token_id}")
    return Response(status_code=204)


@router.get("/audit", dependencies=[Depends(admin)])
def audit_log(session: DB, actor: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    return [{"id": a.id, "occurred_at": a.occurred_at.isoformat(), "actor": a.actor, "role": a.role,
             "method": a.method, "path": a.path, "status_code": a.status_code, "client": a.client,
             "detail": a.detail} for a in audit.audit_entries(session, actor=actor, limit=limit)]
