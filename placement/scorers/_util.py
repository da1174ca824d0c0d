"""Shared arithmetic for the allocation scorers."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..framework import CycleContext, Hosts
from ..types import CPU, MEM


def util_after(ctx: CycleContext, hosts: Hosts) -> NDArray[np.float64]:
    """(2, hosts): CPU and memory utilisation of each host if the VM went there, in [0, 1].

    Computed once per cycle and shared by the allocation scorers."""
    got = ctx.cache.get("util_after")
    if got is not None and got[0] is hosts:
        return got[1]  # type: ignore[no-any-return]
    s = ctx.state
    # Full width on contiguous float rows, then one np.take: measured ~10x faster than
    # gathering first or mixing int64 with float64.
    d = ctx.demand[CPU : MEM + 1, None].astype(np.float64)
    util = np.minimum(s.util_t + d * s.inv_cap_t, 1.0)
    if hosts.size != s.n_hosts:
        util = np.take(util, hosts, axis=1)
    ctx.cache["util_after"] = (hosts, util)
    return util
