"""PostgreSQL calls of the stream agents, retried through an outage instead of crashing the worker.

Every agent and timer that reads or writes PostgreSQL runs its (blocking) database function
through :func:`call`: in a worker thread, and on a connection-level error (the server stopped,
restarting, unreachable, a pooled connection it dropped) again after a capped exponential
back-off, for as long as the outage lasts. The caller simply waits, so a decision is held, not
dropped: the agent does not take its next event and Kafka's offset is not committed past it.
An outage is logged once when it starts and once when it ends, and counted (:func:`stats`).

Only errors that say the *connection* failed are retried. A constraint violation or bad SQL is
a bug or bad data that retrying cannot fix; it propagates as before.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import psycopg
from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# The first retry comes quickly (a single dropped pooled connection is replaced at once); then
# the wait doubles up to MAX_BACKOFF_S, which bounds how long after PostgreSQL is back the
# first write waits.
FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 4.0


def is_transient(exc: BaseException) -> bool:
    """A connection-level failure: retrying on a new connection may succeed."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return True
    if isinstance(exc, sa_exc.DBAPIError):  # wraps the driver's error
        return is_transient(exc.orig) if exc.orig is not None else False
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


@dataclass
class OutageStats:
    outages: int = 0  # outages that began (the first failed call of each)
    retries: int = 0  # failed attempts, over all outages
    down_since: float | None = None  # monotonic time of the current outage's first failure
    last_outage_s: float | None = None  # how long the last finished outage lasted
    last_recovered_at: float | None = None  # monotonic time of its first successful call


class _Tracker:
    """One outage at a time for the whole process: many agents notice the same one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stats = OutageStats()

    def failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            self.stats.retries += 1
            if self.stats.down_since is not None:
                return
            self.stats.down_since = time.monotonic()
            self.stats.outages += 1
        log.warning("PostgreSQL unreachable (%s: %s: %s); the agents wait and retry every "
                    "%.1f-%.0f s, holding their events until it answers",
                    what, type(exc).__name__, _first_line(exc), FIRST_BACKOFF_S, MAX_BACKOFF_S)

    def succeeded(self, what: str) -> None:
        if self.stats.down_since is None:  # the common case, without the lock
            return
        with self._lock:
            since = self.stats.down_since
            if since is None:
                return
            now = time.monotonic()
            self.stats.down_since = None
            self.stats.last_outage_s = now - since
            self.stats.last_recovered_at = now
        log.warning("PostgreSQL reachable again after %.1f s (%s succeeded); agents resume",
                    now - since, what)


_tracker = _Tracker()


def stats() -> OutageStats:
    """The process's outage record (a live object: read, do not modify)."""
    return _tracker.stats


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based)."""
    return float(min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (attempt - 1)))


async def call(what: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a worker thread, retried until it gets through a
    connection-level database error. ``what`` names the call in the outage's log line."""
    tries = 0
    while True:
        try:
            result = await asyncio.to_thread(fn, *args, **kwargs)
        except Exception as exc:
            if not is_transient(exc):
                raise
            tries += 1
            _tracker.failed(what, exc)
            await asyncio.sleep(backoff(tries))
            continue
        _tracker.succeeded(what)
        return result


async def attempt(what: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
    """One try of ``fn`` in a worker thread: None on a connection-level error (which counts
    toward, and is logged with, the outage), for reads that may go on with what they had."""
    try:
        result = await asyncio.to_thread(fn, *args, **kwargs)
    except Exception as exc:
        if not is_transient(exc):
            raise
        _tracker.failed(what, exc)
        return None
    _tracker.succeeded(what)
    return result
