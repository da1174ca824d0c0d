"""Decode a message, or send it to the dead-letter topic with the reason and move on."""

from __future__ import annotations

import logging
from typing import TypeVar

from novacron.streams.app import deadletter_topic

from novacron.events import DeadLetter, Event, InvalidEvent, decode, utcnow

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)


async def send_dead_letter(source_topic: str, key: bytes | None, raw: bytes | None,
                           reason: str, worker: str) -> None:
    letter = DeadLetter(
        occurred_at=utcnow(), source_topic=source_topic,
        source_key=key.decode("utf-8", "replace")[:200] if key else None,
        reason=reason[:2000], payload=(raw or b"").decode("utf-8", "replace"), worker=worker,
    )
    log.warning("dead letter from %s: %s", source_topic, reason)
    await deadletter_topic.send(key=letter.key.encode(), value=letter.to_bytes())


async def decode_or_dead_letter(model: type[E], source_topic: str, key: bytes | None,
                                raw: bytes | None, worker: str) -> E | None:
    try:
        return decode(model, raw)
    except InvalidEvent as exc:
        await send_dead_letter(source_topic, key, raw, exc.reason, worker)
        return None
