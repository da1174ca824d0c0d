"""The audit log's writer: one thread per process that writes every entry queued so far in one
statement and one transaction. Each request still waits until its own entry is committed, but
concurrent requests share the commit (which waits for the disk) instead of paying one each,
and none of them takes a thread from the shared pool to do it."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future, InvalidStateError
from typing import Any

from novacron.store import audit
from novacron.store.db import session_factory

from novacron.events import utcnow
from novacron.settings import get_settings

log = logging.getLogger(__name__)
MAX_BATCH = 256
_queue: queue.SimpleQueue[tuple[dict[str, Any], Future[None]]] = queue.SimpleQueue()
_writer: threading.Thread | None = None
_writer_lock = threading.Lock()


def _settle(fut: Future[None], error: BaseException | None) -> None:
    try:
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(error)
    except InvalidStateError:  # the request was cancelled (client gone); its entry is written
        pass


def _write_forever() -> None:
    while True:
        batch = [_queue.get()]
        while len(batch) < MAX_BATCH:
            try:
                batch.append(_queue.get_nowait())
            except queue.Empty:
                break
        error: BaseException | None = None
        try:
            with session_factory(get_settings().database_url).begin() as s:
                audit.record_audits(s, [row for row, _ in batch])
        except Exception as exc:  # handed to every request of the batch, which logs it
            error = exc
        for _, fut in batch:
            _settle(fut, error)


async def record(**row: Any) -> None:
    """Queue one entry (``store.audit.record_audit``'s keywords) and wait until it is committed.
    The time is taken now, not when the writer gets to it."""
    global _writer
    row.setdefault("occurred_at", utcnow())
    with _writer_lock:
        if _writer is None or not _writer.is_alive():
            _writer = threading.Thread(target=_write_forever, name="audit-log", daemon=True)
            _writer.start()
    fut: Future[None] = Future()
    _queue.put((row, fut))
    await asyncio.wrap_future(fut)
