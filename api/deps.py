"""Shared dependencies: a database session per request."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, InvalidStateError
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends
from novacron.store import fleet
from novacron.store.db import placement_sessions, session_factory
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from novacron.settings import get_settings

# At most this many requests hold a database session at once (per process); the rest wait
# here, on the event loop. Waiting in a worker thread instead would take the threads that the
# session holders need to finish: a deadlock under load. The pool keeps a few connections
# spare for token checks and the audit log.
MAX_SESSIONS = 12
_slots: asyncio.Semaphore | None = None


def _semaphore() -> asyncio.Semaphore:
    global _slots
    if _slots is None:
        _slots = asyncio.Semaphore(MAX_SESSIONS)
    return _slots


def _finish(session: Session, ok: bool) -> None:
    """Commit (or roll back) and close in one trip to the thread pool, not two."""
    try:
        if ok:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def db() -> AsyncIterator[Session]:
    """A session whose transaction commits when the route returns normally."""
    async with _semaphore():
        session = session_factory(get_settings().database_url)()
        try:
            yield session
        except BaseException:
            await anyio.to_thread.run_sync(_finish, session, False)
            raise
        await anyio.to_thread.run_sync(_finish, session, True)


DB = Annotated[Session, Depends(db)]

T = TypeVar("T")

# Placements in this process run on one thread of their own, never waiting for the shared
# thread pool or for a database slot that reads hold. That thread takes every placement queued
# so far, and every one that arrives until the batch commits (while it waits for the lock
# another process holds, for instance), and runs them as one batch: one transaction, one
# placement lock, one fleet check, one commit (the lock is a PostgreSQL advisory lock held to
# the commit, and a commit waits for the disk: per placement they would cap the fleet at a
# few dozen placements a second). A refused
# placement (409, 422) is refused before it writes anything (api.placement_flow.place), so the
# others go on; anything else that fails after a write sends every placement of the batch back
# to run on its own, in its own transaction, so each gets its own answer.
MAX_BATCH = 32
_queue: queue.SimpleQueue[tuple[Callable[[Session], Any], Future[Any]]] = queue.SimpleQueue()
_placer: threading.Thread | None = None
_placer_lock = threading.Lock()


class _WroteThenFailed(Exception):
    pass


def _settle(fut: Future[Any], result: Any, error: BaseException | None) -> None:
    try:
        if error is None:
            fut.set_result(result)
        else:
            fut.set_exception(error)
    except InvalidStateError:  # the request was cancelled (client gone); its work stands
        pass


def _alone(fn: Callable[[Session], Any], fut: Future[Any]) -> None:
    for attempt in (1, 2):
        session: Session | None = None
        try:
            with placement_sessions(get_settings().database_url).begin() as session:
                result = fn(session)
        except DBAPIError as exc:
            if (attempt == 1 and exc.connection_invalidated and session is not None
                    and fleet.writes(session) == 0):
                continue  # the connection was dead before anything was written: one more try
            _settle(fut, None, exc)
        except BaseException as exc:  # handed to the request that asked, which re-raises it
            _settle(fut, None, exc)
        else:
            _settle(fut, result, None)
        return


def _more(taken: int) -> tuple[Callable[[Session], Any], Future[Any]] | None:
    if taken >= MAX_BATCH:
        return None
    try:
        return _queue.get_nowait()
    except queue.Empty:
        return None


def _batch(first: tuple[Callable[[Session], Any], Future[Any]]) -> None:
    """Run ``first`` and, in the same transaction, every placement that arrives before the
    batch commits: those that came while this one waited for the placement lock (held by
    another process) or was being placed join it instead of waiting for the next batch."""
    batch = [first]
    outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
    try:
        with placement_sessions(get_settings().database_url).begin() as session:
            item: tuple[Callable[[Session], Any], Future[Any]] | None = first
            while item is not None:
                fn, fut = item
                before = fleet.writes(session)
                try:
                    result = fn(session)
                except Exception as exc:
                    if fleet.writes(session) != before:
                        raise _WroteThenFailed from exc
                    outcomes.append((fut, None, exc))
                else:
                    outcomes.append((fut, result, None))
                item = _more(len(batch))
                if item is not None:
                    batch.append(item)
    except Exception:
        # The batch did not commit: run each placement on its own so each gets its own answer
        # (a placement alone also retries once on a connection found dead).
        for fn, fut in batch:
            _alone(fn, fut)
        return
    for fut, result, error in outcomes:
        _settle(fut, result, error)


def _place_forever() -> None:
    while True:
        _batch(_queue.get())


async def placement(fn: Callable[[Session], T]) -> T:
    """Run ``fn(session)`` on this process's placement thread and commit (roll back its own
    writes if it raises). ``fn`` may share its transaction with other placements."""
    global _placer
    with _placer_lock:
        if _placer is None or not _placer.is_alive():
            _placer = threading.Thread(target=_place_forever, name="placement", daemon=True)
            _placer.start()
    fut: Future[T] = Future()
    _queue.put((fn, fut))
    return await asyncio.wrap_future(fut)
