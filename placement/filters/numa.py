"""A VM that requires NUMA locality must fit inside one cell's free CPUs and memory."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .. import fmt
from ..framework import CycleContext, FilterResult, Hosts, PluginSettings, codes_from
from ..types import CPU, MEM, NumaPolicy


def cell_fits(ctx: CycleContext) -> NDArray[np.bool_]:
    """(hosts, cells): the VM fits in that cell's free CPUs and memory now."""
    s, d = ctx.state, ctx.demand
    free = s.cell_cap - s.cell_used
    fits: NDArray[np.bool_] = s.cell_valid & (free[:, :, 0] >= d[CPU]) & (free[:, :, 1] >= d[MEM])
    return fits


class NumaFit:
    name = "numa"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def filter(self, ctx: CycleContext) -> FilterResult | None:
        if ctx.vm.numa != NumaPolicy.REQUIRE:
            return None
        s, d = ctx.state, ctx.demand
        fits = cell_fits(ctx)
        ctx.cache["numa_cell_fits"] = fits
        big = s.cell_valid & (s.cell_cap[:, :, 0] >= d[CPU]) & (s.cell_cap[:, :, 1] >= d[MEM])
        fail = ~fits.any(axis=1)
        return FilterResult(
            codes_from(fail, ~big.any(axis=1)), "no NUMA cell has enough free CPUs and memory"
        )

    def hints(self, ctx: CycleContext, hosts: Hosts) -> list[str]:
        s, d = ctx.state, ctx.demand
        free = (s.cell_cap - s.cell_used)[hosts]
        gap = np.maximum(np.stack([d[CPU] - free[:, :, 0], d[MEM] - free[:, :, 1]], axis=-1), 0)
        big = (
            s.cell_valid[hosts]
            & (s.cell_cap[hosts, :, 0] >= d[CPU])
            & (s.cell_cap[hosts, :, 1] >= d[MEM])
        )
        rel = np.where(big, gap[:, :, 0] / max(d[CPU], 1) + gap[:, :, 1] / max(d[MEM], 1), np.inf)
        if not np.isfinite(rel).any():
            return ["no NUMA cell is large enough: allow numa=prefer or use a smaller VM"]
        i, c = np.unravel_index(int(np.argmin(rel)), rel.shape)
        h = int(hosts[i])
        parts = [fmt.amount(CPU, float(gap[i, c, 0])), fmt.amount(MEM, float(gap[i, c, 1]))]
        need = " and ".join(p for p, g in zip(parts, gap[i, c], strict=True) if g > 0)
        return [f"{need} more free in NUMA cell {c} of host {s.host_ids[h]}, or allow numa=prefer"]
