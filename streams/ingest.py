"""Pure core of the feature agent's intake: decoded messages of novacron.metrics.raw (single
samples or host batches) grouped per window key, and the live VMs the healer must hear of."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

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
            if not sample.backfill:
                live[sample.vm_id] = sample.host_id or decoded.host_id or live.get(sample.vm_id)
            key = f"{sample.vm_id}|{sample.metric.value}"
            entry = touched.get(key)
            if entry is None:
                touched[key] = ([sample], message)
            else:
                entry[0].append(sample)
                touched[key] = (entry[0], message)
    return intake
