"""NUMA locality: a VM that cares about NUMA scores 1 where it fits one cell and 1/k where it
needs k cells (fewest cells first), 0 where the cells cannot hold it at all."""

from __future__ import annotations

import numpy as np

from ..framework import CycleContext, Hosts, PluginSettings, Scores
from ..types import CPU, MEM, NumaPolicy


class NumaLocality:
    name = "numa_locality"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def score(self, ctx: CycleContext, hosts: Hosts) -> Scores | None:
        if ctx.vm.numa == NumaPolicy.NONE:
            return None
        if ctx.vm.numa == NumaPolicy.REQUIRE:
            # The NUMA filter already kept only hosts with a cell that holds the VM.
            return np.ones(hosts.size)
        s, d = ctx.state, ctx.demand
        free = np.where(s.cell_valid[hosts][:, :, None], s.cell_cap[hosts] - s.cell_used[hosts], 0)
        free = np.maximum(free, 0)
        cpu = -np.sort(-free[:, :, 0], axis=1).cumsum(axis=1)
        mem = -np.sort(-free[:, :, 1], axis=1).cumsum(axis=1)
        enough = (cpu >= d[CPU]) & (mem >= d[MEM])
        k = np.where(enough.any(axis=1), enough.argmax(axis=1) + 1, 0)
        one = ((free[:, :, 0] >= d[CPU]) & (free[:, :, 1] >= d[MEM])).any(axis=1)
        k = np.where(one, 1, k)
        return np.where(k > 0, 1.0 / np.maximum(k, 1), 0.0)  # type: ignore[no-any-return]
