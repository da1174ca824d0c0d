"""Shared arithmetic for the allocation scorers."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..framework import CycleContext, Hosts
from ..types import CPU, MEM


def util_after(ctx: CycleContext, hosts: Hosts) -> NDArray[np.float64]:
    """(hosts, 2): CPU and memory utilisation of each host if the VM went there."""
    s, d = ctx.state, ctx.demand
    dims = [CPU, MEM]
    cap = s.cap[hosts][:, dims].astype(np.float64)
    used = (s.used[hosts][:, dims] + d[dims]).astype(np.float64)
    return np.clip(np.divide(used, cap, out=np.ones_like(used), where=cap > 0), 0.0, 1.0)
