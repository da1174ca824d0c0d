"""Read-only queries on the event loop: a small pool of psycopg async connections per event loop.

The API's hottest reads (the VM and decision lists) used to take two trips to the thread pool
(query, then commit and close), an ORM session and ORM objects, and JSON built in Python. On
this path a read is one statement on an autocommit connection (a read needs no transaction
to commit) whose rows PostgreSQL has already turned into JSON text (novacron.store.fleet_json).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy.engine import make_url

# Connections per process (per event loop): a read holds one for a single round trip, so a few
# serve hundreds of requests a second; the rest wait on the loop, not in a thread.
POOL_SIZE = 6


def conninfo(url: str) -> str:
    """The libpq form of a SQLAlchemy URL (``postgresql+psycopg://...``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Pool:
    """At most ``size`` autocommit connections, opened on first use and kept open. A connection
    that fails is closed and replaced; a read that fails on a reused connection (e.g. the
    server restarted since) is retried once on a fresh one."""

    def __init__(self, url: str, size: int = POOL_SIZE) -> None:
        self._conninfo = conninfo(url)
        self._slots = asyncio.Semaphore(size)
        self._idle: list[psycopg.AsyncConnection[Any]] = []

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)

    @asynccontextmanager
    async def _connection(self, fresh: bool) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        conn = self._idle.pop() if self._idle and not fresh else await self._connect()
        try:
            yield conn
        except BaseException:
            await conn.close()
            raise
        if conn.closed or conn.info.transaction_status != pq.TransactionStatus.IDLE:
            await conn.close()
        else:
            self._idle.append(conn)

    async def column(self, query: str, params: Sequence[Any]) -> list[Any]:
        """The first column of every row of ``query``."""
        async with self._slots:
            reused = bool(self._idle)
            try:
                async with self._connection(fresh=False) as conn:
                    cur = await conn.execute(query.encode(), params)
                    return [r[0] for r in await cur.fetchall()]
            except psycopg.OperationalError:
                if not reused:
                    raise
            async with self._connection(fresh=True) as conn:
                cur = await conn.execute(query.encode(), params)
                return [r[0] for r in await cur.fetchall()]


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Pool]] = (
    weakref.WeakKeyDictionary())


def pool(url: str) -> Pool:
    """This event loop's pool for ``url`` (connections belong to the loop that opened them)."""
    by_url = _pools.setdefault(asyncio.get_running_loop(), {})
    if url not in by_url:
        by_url[url] = Pool(url)
    return by_url[url]
