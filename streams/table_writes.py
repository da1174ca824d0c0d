"""Table writes made outside Faust's per-event iteration, the stream's current event kept.

An agent that takes events in batches writes its table state after the batch; a table write
goes to the changelog partition of the stream's current event, so each write must name its
event, and the current event must be put back after: Faust's take_events pairs the message
it is taking into the next batch with the stream's current event, and one left pointing at
the last batch was delivered twice while the new message was dropped unread (bench.faults).
"""

from __future__ import annotations

from typing import Any


def write_states(stream: Any, table: Any, states: dict[str, dict[str, Any]],
                 last_event: dict[str, Any]) -> None:
    """Each key's state into ``table``, the stream's current event then put back.

    A table write goes to the changelog partition of the current event; outside per-event
    iteration Faust needs to be told which event that is. Faust's take_events reads the
    stream's current event to pair the message it is taking into the next batch with its
    event: one of this batch's left there was delivered twice while that message was
    dropped unread (a vector with no outcome, bench.faults)."""
    taking = stream.current_event
    try:
        for key, state in states.items():
            stream._set_current_event(last_event[key])
            table[key] = state
    finally:
        stream._set_current_event(taking)
