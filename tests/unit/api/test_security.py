"""Every mutating route refuses anonymous and under-privileged callers, and is audited. Routes
are enumerated from the app, so a new route is covered (and must declare a role) by itself."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from novacron.api.app import app
from novacron.api.auth import Require
from novacron.api.tokens import RANK, ROLES, hash_secret, legacy_scrypt_hash, verify_secret
from novacron.store import audit
from sqlalchemy.orm import Session, sessionmaker


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

PUBLIC = {"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
SAMPLE = {"decision_id": str(uuid.uuid4()), "token_id": "0123456789abcdef", "name": "no-such-policy",
          "vm_id": "no-such-vm"}


def _required_role(route: APIRoute) -> str | None:
    stack = [route.dependant]
    roles = []
    while stack:
        d = stack.pop()
        if isinstance(d.call, Require):
            roles.append(d.call.role)
        stack.extend(d.dependencies)
    return max(roles, key=RANK.__getitem__) if roles else None


def _routes() -> list[tuple[str, str, str | None]]:
    """(method, full path, minimum role) of every HTTP route, through included routers."""
    out = []
    for ctx in iter_route_contexts(app.routes):
        if isinstance(ctx.route, APIRoute) and ctx.path not in PUBLIC:
            for m in sorted(set(ctx.methods or ()) - {"HEAD"}):
                out.append((m, ctx.path, _required_role(ctx.route)))
    return out


MUTATING = [(m, p, role) for m, p, role in _routes() if m != "GET"]


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE.get(m.group(1), "x1"), path)


def test_every_route_declares_a_role() -> None:
    missing = [(m, p) for m, p, role in _routes() if role is None]
    assert not missing
    assert len(MUTATING) >= 15  # the enumeration really sees the routers


@pytest.mark.parametrize(("method", "path", "role"), MUTATING, ids=[f"{m} {p}" for m, p, _ in MUTATING])
def test_mutating_route_refuses_anonymous_and_lower_roles(
        client: TestClient, tokens: dict[str, str], method: str, path: str, role: str) -> None:
    url = _url(path)
    assert client.request(method, url, json={}).status_code == 401
    assert client.request(method, url, json={}, headers=auth("ncr_0123456789abcdef_" + "x" * 43)
                          ).status_code == 401
    for lower in ROLES[: RANK[role]]:
        resp = client.request(method, url, json={}, headers=auth(tokens[lower]))
        assert resp.status_code == 403, (lower, resp.text)


def test_reads_need_a_token_too(client: TestClient, tokens: dict[str, str]) -> None:
    assert client.get("/v1/vms").status_code == 401
    assert client.get("/v1/vms", headers=auth(tokens["viewer"])).status_code == 200
    assert client.post("/graphql", json={"query": "{ vms { vmId } }"}).status_code == 401


def test_refused_and_allowed_requests_are_audited_without_secrets(
        client: TestClient, tokens: dict[str, str], sessions: sessionmaker[Session]) -> None:
    name = f"audit-{uuid.uuid4().hex[:6]}"
    assert client.put("/v2/pause", json={"paused": False}, headers=auth(tokens["viewer"])).status_code == 403
    resp = client.post("/v2/tokens", json={"name": name, "role": "viewer"}, headers=auth(tokens["admin"]))
    assert resp.status_code == 201
    secret = resp.json()["token"]
    with sessions() as s:
        rows = audit.audit_entries(s, limit=50)
    refused = [r for r in rows if r.path == "/v2/pause" and r.status_code == 403]
    created = [r for r in rows if r.path == "/v2/tokens" and r.status_code == 201]
    assert refused and refused[0].role == "viewer" and refused[0].actor.startswith("token:")
    assert created and created[0].role == "admin" and created[0].method == "POST"
    assert all(secret not in str(r.detail) and secret not in r.path for r in rows)


def test_tokens_are_stored_as_hashes_and_old_scrypt_rows_still_verify() -> None:
    h = hash_secret("s3cret")
    assert h.startswith("sha256$") and "s3cret" not in h
    assert verify_secret("s3cret", h) and not verify_secret("s3cret!", h)
    old = legacy_scrypt_hash("s3cret")
    assert verify_secret("s3cret", old) and not verify_secret("s3cret!", old)
    assert not verify_secret("s3cret", "md5$whatever") and not verify_secret("s3cret", "scrypt$1$2")
