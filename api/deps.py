"""Shared dependencies: a database session per request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends
from novacron.store.db import session_factory
from sqlalchemy.orm import Session

from novacron.settings import get_settings

# At most this many requests hold a database session at once (per process); the rest wait
# here, on the event loop. Waiting in a worker thread instead would take the threads that the
# session holders need to finish: a deadlock under load. The pool keeps a few connections
# spare for token checks and the audit log.
MAX_SESSIONS = 10
_slots: asyncio.Semaphore | None = None


def _semaphore() -> asyncio.Semaphore:
    global _slots
    if _slots is None:
        _slots = asyncio.Semaphore(MAX_SESSIONS)
    return _slots


async def db() -> AsyncIterator[Session]:
    """A session whose transaction commits when the route returns normally."""
    async with _semaphore():
        session = session_factory(get_settings().database_url)()
        try:
            yield session
            await anyio.to_thread.run_sync(session.commit)
        except BaseException:
            await anyio.to_thread.run_sync(session.rollback)
            raise
        finally:
            await anyio.to_thread.run_sync(session.close)


DB = Annotated[Session, Depends(db)]


_placing: asyncio.Lock | None = None


async def placement_gate() -> AsyncIterator[None]:
    """One placement per process at a time, taken *before* a session: placements serialise on
    a database lock anyway, and queued ones must not hold the sessions reads need."""
    global _placing
    if _placing is None:
        _placing = asyncio.Lock()
    async with _placing:
        yield


PlacementGate = Annotated[None, Depends(placement_gate)]
