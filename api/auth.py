"""Bearer-token authentication and role checks. Every route declares its minimum role with
``Depends(Require(role))``; tests enumerate the routes and check each one's ``Require``."""

from __future__ import annotations

import hashlib
import time
from threading import Lock

import anyio
from fastapi import HTTPException, Request, WebSocket
from novacron.api.config import get_api_settings
from novacron.api.tokens import RANK, Principal, parse_token, verify_secret
from novacron.store import tokens as token_store
from novacron.store.db import session_factory

from novacron.settings import get_settings

# A verified token is remembered by the SHA-256 of the whole token (never the token itself)
# for a short while, so each request does not pay a database round trip (and tokens from the
# first release, stored as scrypt hashes, do not pay a slow KDF each time).
_cache: dict[str, tuple[Principal, float]] = {}
_cache_lock = Lock()
_CACHE_MAX = 10_000

UNAUTHORIZED = {"description": "No valid bearer token"}
FORBIDDEN = {"description": "The token's role is too low for this route"}


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _cached(raw: str) -> tuple[str, Principal | None]:
    key = hashlib.sha256(raw.encode()).hexdigest()
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[1] > time.monotonic():
        return key, hit[0]
    return key, None


def authenticate(raw: str | None) -> Principal | None:
    """The token's principal, or None. May query the database: call it off the event loop."""
    if not raw:
        return None
    parsed = parse_token(raw)
    if parsed is None:
        return None
    key, hit = _cached(raw)
    if hit is not None:
        return hit
    now = time.monotonic()
    token_id, secret = parsed
    with session_factory(get_settings().database_url)() as s:
        row = token_store.find_token(s, token_id)
    if row is None or row.revoked_at is not None or not verify_secret(secret, row.secret_hash):
        return None
    principal = Principal(row.token_id, row.name, row.role)
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[key] = (principal, now + get_api_settings().token_cache_s)
    return principal


def bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


class Require:
    """Dependency: a valid token whose role is at least ``role``; 401 or 403 otherwise."""

    def __init__(self, role: str) -> None:
        if role not in RANK:
            raise ValueError(f"unknown role {role!r}")
        self.role = role

    async def __call__(self, request: Request) -> Principal:
        # Async, so a token already verified costs no trip to the thread pool; only a cache
        # miss (a database read) leaves the event loop.
        raw = bearer(request.headers.get("authorization"))
        parsed = parse_token(raw) if raw else None
        principal: Principal | None = None
        if raw is not None and parsed is not None:
            request.state.claimed_token = parsed[0]  # the public id only, for the audit log
            principal = _cached(raw)[1] or await anyio.to_thread.run_sync(authenticate, raw)
        if principal is None:
            raise HTTPException(401, "a valid bearer token is required (Authorization: Bearer ncr_...)",
                                headers={"WWW-Authenticate": "Bearer"})
        request.state.principal = principal
        if not principal.allows(self.role):
            raise HTTPException(403, f"this route needs role {self.role}; the token has role "
                                     f"{principal.role}")
        return principal


def websocket_principal(ws: WebSocket) -> Principal | None:
    """Browsers cannot set headers on a WebSocket: accept ``?token=`` as well."""
    raw = bearer(ws.headers.get("authorization")) or ws.query_params.get("token")
    return authenticate(raw)


viewer = Require("viewer")
operator = Require("operator")
admin = Require("admin")
AUTH_RESPONSES: dict[int | str, dict[str, str]] = {401: UNAUTHORIZED, 403: FORBIDDEN}
