"""The intake's screen: phantoms, event times outside the skew window and oversized input are
kept from the windows and the healer, while replays of old traces and backfills pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from novacron.streams.ingest import Hygiene, screen

from novacron.events import (
    MAX_METRICS_MESSAGE_BYTES,
    InvalidEvent,
    MetricBatch,
    MetricName,
    MetricSample,
    decode_metrics,
)

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
TRACE = datetime(2021, 8, 11, tzinfo=UTC)  # a replayed trace: years behind the wall clock
FLEET = {"vm-1": "host-1", "vm-2": "host-1", "vm-3": "host-2"}


def s(vm: str, at: datetime, host: str | None = None, backfill: bool = False) -> MetricSample:
    return MetricSample(occurred_at=at, vm_id=vm, host_id=host, metric=MetricName.CPU, value=1.0,
                        backfill=backfill)


def run(*messages: list[MetricSample], clock: dict[str, float] | None = None,
        unreachable: frozenset[str] = frozenset()) -> tuple[list[str], list[str]]:
    """(kept vm@time, rejection reasons) of messages given as lists of samples (one batch each)."""
    decoded = [(i, decode_metrics(MetricBatch(occurred_at=m[0].occurred_at, host_id="host-1",
                                              samples=m).to_bytes())) for i, m in enumerate(messages)]

    def known(vm: str, host: str | None) -> bool:
        return vm in FLEET or (host in unreachable if host else bool(unreachable))

    kept, rejected = screen(decoded, Hygiene(), {} if clock is None else clock, NOW, known, FLEET.get)
    return ([f"{x.vm_id}@{x.occurred_at.date()}" for _, d in kept for x in d.samples],
            [r.reason for r in rejected])


def test_a_replayed_trace_with_its_backfill_passes() -> None:
    history = [s("vm-1", TRACE + timedelta(minutes=i), backfill=True) for i in range(240)]
    kept, rejected = run(history, [s("vm-1", TRACE + timedelta(minutes=240))])
    assert rejected == [] and len(kept) == 241


def test_a_vm_the_fleet_does_not_know_is_rejected_unless_its_host_is_unreachable() -> None:
    kept, rejected = run([s("vm-1", TRACE), s("ghost", TRACE, "host-1")])
    assert kept == ["vm-1@2021-08-11"] and rejected[0].startswith("unknown vm: ghost")
    kept, rejected = run([s("ghost", TRACE, "host-9")], unreachable=frozenset({"host-9"}))
    assert kept == ["ghost@2021-08-11"] and rejected == []


@pytest.mark.parametrize(("at", "why"), [
    (datetime(1970, 1, 1, tzinfo=UTC), "clock looks unset"),
    (datetime(2999, 1, 1, tzinfo=UTC), "ahead of the wall clock"),
    (NOW + timedelta(minutes=6), "ahead of the wall clock"),
])
def test_event_times_no_clock_could_give_are_rejected(at: datetime, why: str) -> None:
    kept, rejected = run([s("vm-1", TRACE), s("vm-1", at)])
    assert kept == ["vm-1@2021-08-11"] and len(rejected) == 1 and why in rejected[0]


def test_the_past_bound_follows_the_hosts_own_event_time() -> None:
    clock: dict[str, float] = {}
    kept, rejected = run([s("vm-1", TRACE)], [s("vm-2", TRACE - timedelta(days=6)),
                                              s("vm-2", TRACE - timedelta(days=8))], clock=clock)
    assert kept == ["vm-1@2021-08-11", "vm-2@2021-08-05"]
    assert rejected == [f"event time {(TRACE - timedelta(days=8)).isoformat()} is more than 7 days "
                        f"before the newest accepted from host-1 ({TRACE.isoformat()})"]
    # Another host has a clock of its own; a sample naming no host is placed by the fleet.
    kept, rejected = run([s("vm-3", TRACE - timedelta(days=30), "host-2")], clock=clock)
    assert rejected == [] and clock["host-2"] == (TRACE - timedelta(days=30)).timestamp()
    assert clock["host-1"] == TRACE.timestamp()


def test_oversized_fields_and_messages_are_invalid() -> None:
    doc = json.loads(s("vm-1", TRACE).to_bytes())
    with pytest.raises(InvalidEvent, match="source"):
        decode_metrics(json.dumps({**doc, "source": "x" * 900_000}))
    batch = json.loads(MetricBatch(occurred_at=TRACE, samples=[s("vm-1", TRACE)] * 2).to_bytes())
    batch["samples"][1]["source"] = "x" * 5_000
    decoded = decode_metrics(json.dumps(batch))
    assert len(decoded.samples) == 1 and "samples.1.source" in decoded.bad[0].reason
    with pytest.raises(InvalidEvent, match="over the 1,048,576-byte limit"):
        decode_metrics(b" " * (MAX_METRICS_MESSAGE_BYTES + 1))
