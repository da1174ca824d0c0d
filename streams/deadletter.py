"""Decode a message, or send it to the dead-letter topic with the reason and move on."""

from __future__ import annotations

import logging
from typing import TypeVar

from novacron.streams.app import deadletter_topic

from novacron.events import DeadLetter, Event, InvalidEvent, decode, utcnow

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)


# A dead letter must itself fit in a Kafka message (1 MiB by default, and JSON escaping can
# double a payload), so an oversized payload keeps its head and the reason says how much was cut.
MAX_PAYLOAD_CHARS = 256 * 1024


async def send_dead_letter(source_topic: str, key: bytes | None, raw: bytes | None,
                           reason: str, worker: str) -> None:
    payload = (raw or b"").decode("utf-8", "replace")
    if len(payload) > MAX_PAYLOAD_CHARS:
        reason = (f"{reason[:1800]} (payload truncated: the first {MAX_PAYLOAD_CHARS:,} of "
                  f"{len(payload):,} characters are kept)")
        payload = payload[:MAX_PAYLOAD_CHARS]
    letter = DeadLetter(
        occurred_at=utcnow(), source_topic=source_topic,
        source_key=key.decode("utf-8", "replace")[:200] if key else None,
        reason=reason[:2000], payload=payload, worker=worker,
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
