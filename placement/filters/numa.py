"""A VM that requires NUMA locality must fit inside one cell's free CPUs and memory."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .. import fmt
from ..framework import CycleContext, FilterResult, Hosts, PluginSettings, codes_from
from ..types import CPU, MEM, NumaPolicy


def cell_fits(ctx: CycleContext) -> NDArray[np.bool_]:
    """(cells, hosts): the VM fits in that cell's free CPUs and memory now."""
    got: NDArray[np.bool_] | None = ctx.cache.get("numa_cell_fits")
    if got is None:
        s, d = ctx.state, ctx.demand
        f = s.cell_free_t
        got = s.cell_valid_t & (f[0] >= d[CPU]) & (f[1] >= d[MEM])
        ctx.cache["numa_cell_fits"] = got
    return got


def any_cell(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """OR over the (few) cells; a loop over contiguous rows beats a short-axis reduction."""
    out: NDArray[np.bool_] = mask[0].copy()
    for c in range(1, mask.shape[0]):
        out |= mask[c]
    return out


class NumaFit:
    name = "numa"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def filter(self, ctx: CycleContext) -> FilterResult | None:
        if ctx.vm.numa != NumaPolicy.REQUIRE:
            return None
        s, d = ctx.state, ctx.demand
        cap = s.cell_cap_t
        big = s.cell_valid_t & (cap[0] >= d[CPU]) & (cap[1] >= d[MEM])
        fail = ~any_cell(cell_fits(ctx))
        return FilterResult(
            codes_from(fail, ~any_cell(big)), "no NUMA cell has enough free CPUs and memory"
        )

    def hints(self, ctx: CycleContext, hosts: Hosts) -> list[str]:
        s, d = ctx.state, ctx.demand
        free = s.cell_free_t[:, :, hosts]  # (2, cells, hosts)
        gap_cpu = np.maximum(d[CPU] - free[0], 0)
        gap_mem = np.maximum(d[MEM] - free[1], 0)
        cap = s.cell_cap_t[:, :, hosts]
        big = s.cell_valid_t[:, hosts] & (cap[0] >= d[CPU]) & (cap[1] >= d[MEM])
        rel = np.where(big, gap_cpu / max(d[CPU], 1) + gap_mem / max(d[MEM], 1), np.inf)
        if not np.isfinite(rel).any():
            return ["no NUMA cell is large enough: allow numa=prefer or use a smaller VM"]
        c, i = np.unravel_index(int(np.argmin(rel)), rel.shape)
        h = int(hosts[i])
        parts = [(CPU, float(gap_cpu[c, i])), (MEM, float(gap_mem[c, i]))]
        need = " and ".join(fmt.amount(r, g) for r, g in parts if g > 0)
        return [f"{need} more free in NUMA cell {c} of host {s.host_ids[h]}, or allow numa=prefer"]
