"""ASGI middleware: a request size limit and the audit log of every mutating request."""

from __future__ import annotations

import json
import logging
from typing import Any

from novacron.api import audit_log
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _TooLarge(Exception):
    pass


async def _reply(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a declared or streamed body over ``max_bytes``, before a route reads it all."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body over {self.max_bytes} bytes"
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _reply(send, 400, "invalid Content-Length")
                    return
                if declared > self.max_bytes:
                    await _reply(send, 413, too_large)
                    return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return msg

        async def tracking(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited, tracking)
        except _TooLarge:
            if not started:
                await _reply(send, 413, too_large)


class Audit:
    """After every non-GET request: who (token id and role), what (method, path, route),
    when, and the status it ended with. Refused attempts are recorded too. Never the body,
    the query string or the Authorization header: no secret reaches the log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        status = 500

        async def tracking(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = int(msg["status"])
            await send(msg)

        try:
            await self.app(scope, receive, tracking)
        finally:
            try:
                await audit_log.record(**self._entry(scope, status))
            except Exception:  # the request already ran: say so loudly, never fail silently
                log.exception("audit write failed for %s %s", scope["method"], scope["path"])

    @staticmethod
    def _entry(scope: Scope, status: int) -> dict[str, Any]:
        state: dict[str, Any] = scope.get("state") or {}
        principal = state.get("principal")
        if principal is not None:
            actor, role = f"token:{principal.token_id} ({principal.name})", principal.role
        elif state.get("claimed_token"):
            actor, role = f"unverified:{state['claimed_token']}", None
        else:
            actor, role = "anonymous", None
        route = scope.get("route")
        detail: dict[str, Any] = {"route": getattr(route, "path", None),
                                  "params": {k: _clean(str(v))[:200] for k, v in
                                             (scope.get("path_params") or {}).items()}}
        detail.update(state.get("audit_detail") or {})
        client = scope.get("client")
        return {"actor": actor, "role": role, "method": scope["method"], "path": _clean(scope["path"]),
                "status_code": status, "client": f"{client[0]}:{client[1]}" if client else None,
                "detail": detail}


def _clean(text: str) -> str:
    """PostgreSQL text cannot hold NUL; a hostile path must still be audited."""
    return text.replace("\x00", "\\x00")
