"""Feature code shared by training, serving and the stream agents.

One implementation, so a model sees in production exactly what it saw in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class RollingStats:
    count: int
    last: float
    mean: float
    std: float
    p95: float
    ewma: float


def rolling_stats(values: Sequence[float], ewma_alpha: float = 0.3) -> RollingStats:
    """Summary statistics of one window of values (oldest first)."""
    if len(values) == 0:
        raise ValueError("rolling_stats needs at least one value")
    if not 0 < ewma_alpha <= 1:
        raise ValueError(f"ewma_alpha must be in (0, 1], got {ewma_alpha}")
    arr = np.asarray(values, dtype=float)
    ewma = float(arr[0])
    for v in arr[1:]:
        ewma = ewma_alpha * float(v) + (1 - ewma_alpha) * ewma
    return RollingStats(
        count=int(arr.size),
        last=float(arr[-1]),
        mean=float(arr.mean()),
        std=float(arr.std()),
        p95=float(np.percentile(arr, 95)),
        ewma=ewma,
    )
