"""A lost topic shows as a held offset past the broker's end (streams.offsets)."""

from __future__ import annotations

from novacron.streams.offsets import PastEnd, past_end


def test_an_offset_past_the_end_is_a_recreated_partition() -> None:
    held = {"raw-0": 1200, "raw-1": 7, "raw-2": 7, "raw-3": None}
    ends = {"raw-0": 3, "raw-1": 7, "raw-2": 9, "raw-3": 0}
    assert past_end(held, ends) == {"raw-0": PastEnd(held=1200, end=3)}


def test_a_partition_without_an_end_is_not_judged() -> None:
    assert past_end({"raw-0": 5}, {}) == {}
