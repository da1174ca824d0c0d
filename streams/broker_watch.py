"""Keep the worker consuming when the broker loses its topics under it.

A restarted in-memory broker (or a topic deleted and created again) brings a topic back
empty, while the worker still holds offsets from before: the next one to read, the last one
committed, a table's last restored changelog offset. Left alone, Faust drops every new
message below the offset it last read and refuses commits below the last one committed (the
stream stalls), and the next table recovery stops the worker with a ConsistencyError. The
recovery check is off (streams.app), and this timer does the rest: every ``CHECK_EVERY_S``
it compares those offsets with the broker's end offsets; a partition whose offset lies past
the end in two checks in a row was recreated, so the registry's topics are declared again
(with their partition counts), a stream partition is read again from its start (all of it
is new) and a table's changelog offset is moved back to the end. The tables themselves stay
in the worker's memory, and each entry reaches the new changelog the next time it changes.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import TopicPartition
from novacron.streams import offset_probe
from novacron.streams.app import app, settings
from novacron.streams.offsets import PastEnd, past_end

from novacron.kafka_admin import ensure_topics

log = logging.getLogger(__name__)
CHECK_EVERY_S = 5.0


def _stream_offsets(consumer: Any, tps: set[Any]) -> dict[Any, int | None]:
    """Per stream partition the higher of the last offset read (or sought) and the committed
    one: neither exceeds the end of a partition that only grew.

    Faust keeps both in private maps; it has no public way to ask, nor to reset them."""
    out: dict[Any, int | None] = {}
    for tp in tps:
        known = [o for o in (consumer._read_offset.get(tp), consumer._committed_offset.get(tp))
                 if o is not None]
        out[tp] = max(known) if known else None
    return out


def _forget(consumer: Any, tp: Any) -> None:
    """Faust's bookkeeping of a partition, cleared as Faust clears it for a revoked one."""
    for book in (consumer._read_offset, consumer._committed_offset, consumer._acked,
                 consumer._acked_index, consumer._gap):
        book.pop(tp, None)


# Partitions found past the end by the previous check: a partition is repaired only when two
# checks in a row find it so, which no race between reading and asking the broker can fake.
_suspects: set[Any] = set()


async def check_once() -> dict[Any, PastEnd]:
    """One comparison and, if the broker lost topics, the repair; returns what was recreated."""
    tables: Any = app.tables  # the TableManager, whose recovery its declared type omits
    recovery = tables.recovery
    if app.rebalancing or not recovery.completed.is_set():
        return {}  # a recovery in progress settles offsets itself
    consumer = app.consumer
    changelogs = tables.changelog_topics
    streams = {tp for tp in consumer.assignment() if tp.topic not in changelogs}
    actives = set(recovery.active_tps)
    if not streams and not actives:
        return {}
    # Offsets first, then the ends: the worker reads on meanwhile, so the reverse order
    # would find offsets past ends taken a moment earlier.
    held = _stream_offsets(consumer, streams)
    restored = {tp: (off + 1 if off is not None and off >= 0 else None)
                for tp, off in recovery.active_offsets.items() if tp in actives}
    ends = await consumer.highwaters(*(streams | actives))
    lost_streams, lost_tables = past_end(held, ends), past_end(restored, ends)
    found = set(lost_streams) | set(lost_tables)
    confirmed = found & _suspects
    _suspects.clear()
    _suspects.update(found - confirmed)
    lost_streams = {tp: v for tp, v in lost_streams.items() if tp in confirmed}
    lost_tables = {tp: v for tp, v in lost_tables.items() if tp in confirmed}
    if not lost_streams and not lost_tables:
        return {}
    # The proof: the last message the worker read (or restored) is gone from the broker.
    # Tansu's end offsets can fall short of the last batch, so "past the end" alone also
    # happens on a healthy broker.
    held_last = {tp: v.held - 1 for tp, v in {**lost_streams, **lost_tables}.items()}
    gone = {(t.topic, t.partition) for t in await offset_probe.missing(
        settings.kafka_bootstrap,
        [(TopicPartition(tp.topic, tp.partition), off) for tp, off in held_last.items()])}
    lost_streams = {tp: v for tp, v in lost_streams.items() if (tp.topic, tp.partition) in gone}
    lost_tables = {tp: v for tp, v in lost_tables.items() if (tp.topic, tp.partition) in gone}
    if not lost_streams and not lost_tables:
        return {}
    await ensure_topics(settings)
    for table in tables.values():
        await table.changelog_topic.maybe_declare()
    earliest = await consumer.earliest_offsets(*lost_streams) if lost_streams else {}
    for tp, lost in sorted(lost_streams.items()):
        log.warning(
            "%s partition %d came back from the broker with end offset %d, behind the worker's "
            "%d: the broker lost the topic (a restart of its memory engine). Reading it again "
            "from its start; the messages it held before (not yet processed ones included) "
            "are lost", tp.topic, tp.partition, lost.end, lost.held)
        _forget(consumer, tp)
        await consumer.seek(tp, earliest.get(tp) or 0)
    for tp, lost in sorted(lost_tables.items()):
        log.warning(
            "changelog %s partition %d came back from the broker with end offset %d, behind "
            "the %d already restored: the broker lost it. The table stays in this worker's "
            "memory and each entry is written to the changelog again when it next changes; a "
            "worker started before then restores only the entries written since",
            tp.topic, tp.partition, lost.end, lost.held)
        recovery.active_offsets[tp] = lost.end - 1
    return {**lost_streams, **lost_tables}


@app.timer(CHECK_EVERY_S)  # type: ignore[misc]
async def watch_broker() -> None:
    try:
        await check_once()
    except Exception as exc:  # a broker still down: the next round tries again
        log.info("broker offset check skipped: %r", exc)
