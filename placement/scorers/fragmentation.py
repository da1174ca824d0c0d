"""Fragmentation-aware: keep the largest schedulable shapes free. A host scores high when the
VM does not reduce how many of the configured shapes (vCPUs, MiB and optionally GPUs, listed
largest first) it can still take; losing a slot of a larger shape costs more. So big VMs and
whole-GPU jobs keep finding room."""

from __future__ import annotations

import numpy as np

from ..framework import CycleContext, Hosts, PluginSettings, Scores
from ..types import CPU, GPU, MEM

_DIMS = [CPU, MEM, GPU]


class Fragmentation:
    name = "fragmentation"

    def __init__(self, settings: PluginSettings) -> None:
        rows = [
            (s[0] * 1000, s[1], s[2] * 1000 if len(s) > 2 else 0)
            for s in settings.fragmentation_shapes
        ]
        self.shapes = np.array(rows, dtype=np.int64).reshape(-1, 3)
        n = self.shapes.shape[0]
        w = np.arange(n, 0, -1, dtype=np.float64)  # largest (first) shape weighs most
        self.weights = w / w.sum() if n else w

    def score(self, ctx: CycleContext, hosts: Hosts) -> Scores | None:
        if self.shapes.size == 0:
            return None
        s, d = ctx.state, ctx.demand
        free = np.maximum(s.free_t[_DIMS][:, hosts].T, 0)  # (hosts, 3)
        after = np.maximum(free - d[_DIMS], 0)
        sh = self.shapes[None, :, :]
        big = np.iinfo(np.int64).max
        # A shape that does not ask for a dimension is not limited by it.
        before_n = np.where(sh > 0, free[:, None, :] // np.maximum(sh, 1), big).min(axis=2)
        after_n = np.where(sh > 0, after[:, None, :] // np.maximum(sh, 1), big).min(axis=2)
        lost = np.minimum(before_n - after_n, 1)  # did this host lose a slot of that shape?
        return 1.0 - lost @ self.weights  # type: ignore[no-any-return]
