"""Human-readable amounts for explanations."""

from __future__ import annotations

from .types import CPU, DISK, GPU, IOPS, MEM, NET


def amount(dim: int, value: float) -> str:
    if dim == CPU:
        return f"{value / 1000:g} vCPU"
    if dim == MEM:
        return f"{value / 1024:.1f} GiB memory" if value >= 1024 else f"{value:g} MiB memory"
    if dim == NET:
        return f"{value:g} Mbps network"
    if dim == DISK:
        return f"{value:g} GiB disk"
    if dim == IOPS:
        return f"{value:g} IOPS"
    if dim == GPU:
        return f"{value / 1000:g} GPU"
    return f"{value:g}"
