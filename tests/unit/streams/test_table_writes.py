"""Batched agents' table writes leave the stream's current event as they found it: Faust's
take_events pairs the message it is taking into the next batch with the stream's current
event, so one of the last batch's left there was delivered twice and that message dropped
(bench.faults found vectors with no outcome). A real Faust stream, a table that records the
event each write was made under."""

from __future__ import annotations

import functools
from typing import Any

import faust
import pytest
from faust.events import Event
from faust.streams import current_event
from faust.types.tuples import Message
from novacron.streams.table_writes import write_states


@functools.cache
def _app() -> faust.App:
    """An app of the test's own (a channel needs no broker), made when a test runs, not at
    collection: the worker's app must only be made in the worker's thread (tests/test_layout.py)."""
    return faust.App("nc-table-writes-test", broker="memory://")


def _event(offset: int) -> Event:
    message = Message("novacron.features", offset % 4, offset, 0.0, 0, {}, b"vm",
                      b"{}", None)
    return Event(_app(), b"vm", b"{}", {}, message)


class RecordingTable(dict[str, Any]):
    def __init__(self, stream: Any, fail_on: str | None = None) -> None:
        super().__init__()
        self.stream, self.fail_on = stream, fail_on
        self.under: dict[str, Any] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        if key == self.fail_on:
            raise RuntimeError("changelog unavailable")
        self.under[key] = (self.stream.current_event, current_event())
        super().__setitem__(key, value)


def test_each_write_is_made_under_its_event_and_the_taken_one_is_put_back() -> None:
    stream = _app().channel().stream()
    batch = {"a": _event(1), "b|memory": _event(2)}
    taking = _event(3)  # arrived while the batch was decided: take_events holds it
    stream._set_current_event(taking)
    table = RecordingTable(stream)
    write_states(stream, table, {"a": {"eval": 60.0}, "b|memory": {"eval": 120.0}}, batch)
    assert table == {"a": {"eval": 60.0}, "b|memory": {"eval": 120.0}}
    assert table.under == {k: (e, e) for k, e in batch.items()}
    assert stream.current_event is taking
    assert current_event() is taking


def test_a_failed_write_still_puts_the_taken_event_back() -> None:
    stream = _app().channel().stream()
    taking = _event(9)
    stream._set_current_event(taking)
    table = RecordingTable(stream, fail_on="b")
    with pytest.raises(RuntimeError):
        write_states(stream, table, {"a": {}, "b": {}}, {"a": _event(7), "b": _event(8)})
    assert stream.current_event is taking


def test_no_event_being_taken_stays_none() -> None:
    stream = _app().channel().stream()
    stream._set_current_event(None)
    write_states(stream, RecordingTable(stream), {"a": {}}, {"a": _event(5)})
    assert stream.current_event is None
    assert current_event() is None
