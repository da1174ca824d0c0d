"""``Server-Timing`` on every answer, so a slow call can be placed from the client's side.

The endpoint names its own stages (``model``, ``encode``, ``cpu``); this middleware adds
``app``: from the request reaching the service's ASGI app to the head of its answer, which
covers reading and parsing the body too, and ``wait``: how long in that span the thread was
ready to run but had no core (Linux schedstat). On 2 shared cores that wait was as long as
the work itself. A client that subtracts ``app`` from its round trip sees what the HTTP
server, the kernel and its own process cost.
"""

from __future__ import annotations

import contextlib
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"server-timing"
_SCHEDSTAT = "/proc/thread-self/schedstat"


def runqueue_wait_ms() -> float:
    """Milliseconds the calling thread has spent runnable but not running (0 off Linux)."""
    try:
        with open(_SCHEDSTAT) as f:
            return int(f.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


def add_stage(value: bytes, name: str, ms: float) -> bytes:
    stage = f"{name};dur={ms:.2f}".encode()
    return value + b", " + stage if value else stage


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0, wait0 = time.perf_counter(), runqueue_wait_ms()

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - t0) * 1000
                # The event loop's thread: where a call runs unless it is too big to run inline.
                wait = runqueue_wait_ms() - wait0
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                own = b"".join(v for k, v in message.get("headers", []) if k.lower() == HEADER)
                value = add_stage(add_stage(own, "app", ms), "wait", wait)
                message = {**message, "headers": [*headers, (HEADER, value)]}
            await send(message)

        await self.app(scope, receive, stamped)


def parse(header: str) -> dict[str, float]:
    """``{"model": 6.1, "encode": 0.9, "app": 9.8}`` from a Server-Timing value (ms)."""
    out: dict[str, float] = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        for param in rest.split(";"):
            key, _, val = param.strip().partition("=")
            if key == "dur" and name:
                with contextlib.suppress(ValueError):  # a malformed entry is no reason to fail
                    out[name] = float(val)
    return out
