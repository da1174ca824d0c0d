"""The worker's relay of the decision outbox: every second, decisions written to PostgreSQL with
their cause (a placement, an operator's start or stop) are published to ``novacron.decisions``
and, once the broker has them, marked. A relay that dies in between publishes them again; the
actuators' ledger acts once per decision id. Each worker relays the decisions on the hosts its
actuators manage, so a decision waits for the worker that can carry it out.

A database or broker error is logged and the tick ends; the next tick tries again. It never
stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Collection

from novacron.store import outbox
from novacron.streams import db_retry, runtime
from novacron.streams.app import app, decisions_topic
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import Decision

log = logging.getLogger(__name__)

RELAY_EVERY_S = 1.0
BATCH = 500


def take(sessions: sessionmaker[Session], hosts: Collection[str], limit: int = BATCH
         ) -> tuple[list[Decision], list[uuid.UUID]]:
    """(decisions to publish, ids to mark once published). A row that no longer validates (an
    older schema) is marked with a warning, so one bad row cannot block the outbox."""
    decisions: list[Decision] = []
    done: list[uuid.UUID] = []
    with sessions() as s:
        for row in outbox.undispatched(s, limit, hosts):
            try:
                decisions.append(Decision.model_validate(row.decision))
            except ValidationError as exc:
                log.warning("outbox decision %s cannot be read back (%s); not published",
                            row.decision_id, exc.errors()[0]["msg"])
            done.append(row.decision_id)
    return decisions, done


def mark(sessions: sessionmaker[Session], decision_ids: list[uuid.UUID]) -> None:
    with sessions.begin() as s:
        outbox.mark(s, decision_ids)


async def relay_once(sessions: sessionmaker[Session], hosts: Collection[str]) -> int:
    """Publish what waits and mark it; how many were published (0 after an error, logged)."""
    try:  # an outage returns None, logged once for all agents by db_retry: next tick
        read = await db_retry.attempt("reading the decision outbox", take, sessions, hosts)
    except Exception as exc:  # not an outage: a bug or bad data, logged at every tick
        log.warning("outbox relay: cannot read the outbox (%s); retrying in %.0f s", exc, RELAY_EVERY_S)
        return 0
    if read is None:
        return 0
    decisions, done = read
    try:
        # Each send resolves once the broker has acknowledged it; only then are rows marked.
        sent = [await decisions_topic.send(key=d.key.encode(), value=d.to_bytes()) for d in decisions]
        await asyncio.gather(*sent)
    except Exception as exc:
        log.warning("outbox relay: publishing failed (%s); retrying in %.0f s", exc, RELAY_EVERY_S)
        return 0
    for d in decisions:
        log.info("outbox: %s %s on %s published", d.action.value, d.target_id, d.host_id)
    if done:
        try:  # an outage is waited out (db_retry), so they are not published again
            await db_retry.call("marking outbox decisions published", mark, sessions, done)
        except Exception as exc:  # published, not marked: published again next tick, acted on once
            log.warning("outbox relay: cannot mark %d published decisions (%s); they will be "
                        "published again and acted on once", len(done), exc)
    return len(decisions)


@app.timer(interval=RELAY_EVERY_S)
async def outbox_relay() -> None:
    rt = runtime.current()
    await relay_once(rt.sessions, list(rt.fleet.hosts))
