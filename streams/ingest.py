"""Pure core of the feature agent's intake: decoded messages of novacron.metrics.raw (single
samples or host batches) screened (VMs the fleet does not know, event times outside the skew
window: dead-lettered), grouped per window key, and the live VMs the healer must hear of."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from novacron.streams.collect_rates import is_host_subject

from novacron.events import DecodedMetrics, MetricSample

M = TypeVar("M")  # the message a sample came in (its changelog partition follows it)


@dataclass
class Intake(Generic[M]):
    # "vm_id|metric" -> (its samples in arrival order, the last message that carried one)
    touched: dict[str, tuple[list[MetricSample], M]] = field(default_factory=dict)
    # VMs that reported live (not backfill) -> their host, for the healer's liveness
    live: dict[str, str | None] = field(default_factory=dict)


def gather(messages: Iterable[tuple[M, DecodedMetrics]]) -> Intake[M]:
    """Every sample of every message, batch or single: a batch's host stands in for samples
    that do not name theirs, so the healer can place each VM of the batch."""
    intake: Intake[M] = Intake()
    touched, live = intake.touched, intake.live
    for message, decoded in messages:
        for sample in decoded.samples:
            # A host's own samples (collector --host-samples) are no VM the healer watches.
            if not sample.backfill and not is_host_subject(sample.vm_id):
                live[sample.vm_id] = sample.host_id or decoded.host_id or live.get(sample.vm_id)
            key = f"{sample.vm_id}|{sample.metric.value}"
            entry = touched.get(key)
            if entry is None:
                touched[key] = ([sample], message)
            else:
                entry[0].append(sample)
                touched[key] = (entry[0], message)
    return intake


# --- Hygiene: what never reaches the windows or the healer ---------------------------------


@dataclass(frozen=True)
class Hygiene:
    """Bounds on a sample's event time. The past bound is relative to the stream's own clock
    (the newest event time accepted from the sample's host), because replays and backfills
    carry old timestamps; the future bound is relative to the wall clock, since no collector
    can measure the future. ``earliest`` catches unset clocks (1970) on a host's first sample."""

    max_past_s: float = 7 * 86_400.0
    max_future_s: float = 300.0
    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Rejected(Generic[M]):
    message: M
    reason: str
    payload: str  # the sample as JSON: the dead letter's payload


def screen(messages: Iterable[tuple[M, DecodedMetrics]], hygiene: Hygiene,
           clock: dict[str, float], now: datetime, known: Callable[[str, str | None], bool],
           host_of: Callable[[str], str | None]) -> tuple[list[tuple[M, DecodedMetrics]],
                                                          list[Rejected[M]]]:
    """Split every message's samples into those to process and those to dead-letter.

    ``known(vm_id, host_id)`` says whether the fleet knows the VM, or cannot tell (the host
    the sample names, or any host when it names none, was unreachable); ``host_of(vm_id)`` is
    its host in the fleet, used to place a sample that names none. ``clock`` (host -> newest
    accepted event time, unix s) is updated in place, in message order, so a replay's history
    is judged against its own stream.
    """
    kept: list[tuple[M, DecodedMetrics]] = []
    rejected: list[Rejected[M]] = []
    future_s = now.timestamp() + hygiene.max_future_s
    earliest_s = hygiene.earliest.timestamp()
    for message, decoded in messages:
        good: list[MetricSample] = []
        for sample in decoded.samples:
            reason = _unfit(sample, decoded.host_id, hygiene, clock, future_s, earliest_s, known,
                            host_of)
            if reason is None:
                good.append(sample)
            else:
                rejected.append(Rejected(message, reason, sample.model_dump_json()))
        if len(good) == len(decoded.samples):
            kept.append((message, decoded))
        elif good:
            kept.append((message, DecodedMetrics(good, decoded.bad, decoded.host_id)))
    return kept, rejected


def _unfit(sample: MetricSample, batch_host: str | None, hygiene: Hygiene, clock: dict[str, float],
           future_s: float, earliest_s: float, known: Callable[[str, str | None], bool],
           host_of: Callable[[str], str | None]) -> str | None:
    if not known(sample.vm_id, sample.host_id or batch_host):
        return (f"unknown vm: {sample.vm_id} is defined on no fleet host (the inventory was read "
                "again after the sample arrived); metrics of VMs outside the fleet are not processed")
    at = sample.occurred_at.timestamp()
    when = sample.occurred_at.isoformat  # formatted only for a reason
    if at > future_s:
        return (f"event time {when()} is more than {hygiene.max_future_s:.0f} s ahead of the wall "
                "clock; check the collector's clock")
    if at < earliest_s:
        return (f"event time {when()} is before {hygiene.earliest.date().isoformat()}, the earliest "
                "accepted; the collector's clock looks unset")
    host = sample.host_id or batch_host or host_of(sample.vm_id) or f"vm:{sample.vm_id}"
    newest = clock.get(host)
    if newest is not None and at < newest - hygiene.max_past_s:
        return (f"event time {when()} is more than {hygiene.max_past_s / 86_400:g} days before the "
                f"newest accepted from {host} ({datetime.fromtimestamp(newest, UTC).isoformat()})")
    if newest is None or at > newest:
        clock[host] = at
    return None
