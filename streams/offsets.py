"""Offsets a consumer holds that its broker no longer has: the sign of a lost topic.

A broker that loses a topic (a restart of Tansu's memory engine, or a topic deleted and
created again) brings it back empty, and a consumer's offset then lies past its end, where
nothing will ever arrive. Pure; the worker (streams.broker_watch) and the replayer's action
follower act on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class PastEnd:
    """A partition the consumer holds an offset in that the broker no longer has."""

    held: int  # the next offset the consumer would read (or has committed)
    end: int  # the broker's end offset (one past its last message)


def past_end(held: Mapping[K, int | None], ends: Mapping[K, int]) -> dict[K, PastEnd]:
    """Partitions whose held offset lies beyond the broker's end: the topic was recreated.

    A held offset is the next one to read, so it never exceeds the end of a partition that
    only grew; partitions without an offset or an end are not judged."""
    return {tp: PastEnd(off, ends[tp]) for tp, off in held.items()
            if off is not None and tp in ends and off > ends[tp]}
