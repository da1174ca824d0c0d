"""Whether a partition still holds a message the consumer has read: the proof that a topic
whose end offset looks behind the consumer was not recreated.

Tansu's ListOffsets can answer an end below the true one (seen here: an idle partition's end
one or eleven short of the offset after its last message, as if counted from the base of the
last produced batch), so "the consumer holds an offset past the end" alone also fires on a
healthy broker, and acting on it re-read whole topics from their start. A recreated topic no
longer has the message at the consumer's last offset; a healthy one does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

PROBE_TIMEOUT_S = 2.0


async def missing(bootstrap: str, last_read: Iterable[tuple[TopicPartition, int]]) -> set[TopicPartition]:
    """Of the (partition, offset of a message already read) pairs, the partitions where that
    message is gone. A probe that cannot tell (broker down, timeout) counts as present: the
    next check decides, and a wrong "gone" re-reads a whole topic."""
    wanted = [(tp, off) for tp, off in last_read if off >= 0]
    if not wanted:
        return set()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="none")
    gone: set[TopicPartition] = set()
    try:
        await asyncio.wait_for(consumer.start(), PROBE_TIMEOUT_S)
        consumer.assign([tp for tp, _ in wanted])
        for tp, off in wanted:
            consumer.seek(tp, off)
            try:
                got = await asyncio.wait_for(consumer.getmany(tp, timeout_ms=int(PROBE_TIMEOUT_S * 500),
                                                              max_records=1), PROBE_TIMEOUT_S)
            except KafkaError:  # OffsetOutOfRange: the offset is not on the broker any more
                gone.add(tp)
                continue
            records = got.get(tp, [])
            if not records or records[0].offset != off:
                gone.add(tp)
    except (KafkaError, TimeoutError, OSError):
        return set()
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
    return gone
