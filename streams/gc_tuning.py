"""Garbage-collector settings for a stream worker process.

A take of 2,000 metric messages allocates ~200k short-lived objects (decoded samples, their
lists). With CPython's default thresholds (700, 10, 10) that sets off a full collection of the
whole heap (Faust, aiokafka, the tables' windows) every few takes, and each one walks every
live object: measured on the feature agent's pure path (decode, windows, features; 200k
samples), the collector took about half the CPU (3.2 s against 1.7 s with it off). Raising
the thresholds and freezing the start-up heap (Instagram's recipe, ``gc.freeze``) brings it to
within ~7 % of no collector at all, while reference cycles are still collected: a young
collection every 20,000 allocations, a full one every 100 M or when the heap grew by 25 %
since the last (CPython's own rule for the oldest generation).
"""

from __future__ import annotations

import gc

THRESHOLDS = (20_000, 50, 100)


def apply(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Freeze what exists now (imports, the app, its topics) and raise the thresholds.

    Idempotent. Process-wide, which is what a worker process wants; frozen objects are never
    scanned again, so call it once start-up allocations are done.
    """
    gc.collect()  # what start-up left as garbage goes now, not into the frozen set
    gc.freeze()
    gc.set_threshold(*thresholds)
