"""Metric arrivals handed from the feature agent to the healer in the same worker.

The feature agent already decodes every sample of novacron.metrics.raw; the healer needs
only which VMs reported and when. Handing that over here spares a second Faust stream over
the busiest topic (each message decoded, queued and acked twice). Thread-safe: the healer
drains it from its timer.
"""

from __future__ import annotations

import queue
from datetime import datetime

# (arrival time, [(vm id, host id)]) per feature batch; live samples only (no backfill).
_arrivals: queue.SimpleQueue[tuple[datetime, list[tuple[str, str | None]]]] = queue.SimpleQueue()


def note(at: datetime, vms: list[tuple[str, str | None]]) -> None:
    if vms:
        _arrivals.put((at, vms))


def drain() -> list[tuple[datetime, list[tuple[str, str | None]]]]:
    out = []
    while True:
        try:
            out.append(_arrivals.get_nowait())
        except queue.Empty:
            return out
