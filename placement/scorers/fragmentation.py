"""Fragmentation-aware: keep the largest schedulable shapes free. A host scores high when the
VM does not reduce how many of the configured large shapes it can still take (weighted by
shape size), so big VMs keep finding room."""

from __future__ import annotations

import numpy as np

from ..framework import CycleContext, Hosts, PluginSettings, Scores
from ..types import CPU, MEM


class Fragmentation:
    name = "fragmentation"

    def __init__(self, settings: PluginSettings) -> None:
        self.shapes = np.array(
            [(c * 1000, m) for c, m in settings.fragmentation_shapes], dtype=np.int64
        ).reshape(-1, 2)
        w = self.shapes[:, 0] / max(int(self.shapes[:, 0].max(initial=1)), 1)
        self.weights = w / w.sum() if w.sum() > 0 else w

    def score(self, ctx: CycleContext, hosts: Hosts) -> Scores | None:
        if self.shapes.size == 0:
            return None
        s, d = ctx.state, ctx.demand
        free = s.free_t[CPU : MEM + 1, hosts].T
        after = free - d[[CPU, MEM]]
        sh = self.shapes[None, :, :]
        before_n = np.min(np.maximum(free[:, None, :], 0) // sh, axis=2)
        after_n = np.min(np.maximum(after[:, None, :], 0) // sh, axis=2)
        lost = np.minimum(before_n - after_n, 1)  # did this host lose a slot of that shape?
        return 1.0 - lost @ self.weights  # type: ignore[no-any-return]
