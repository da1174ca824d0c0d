"""Two reads of one host's counters -> the metric samples the stream expects (pure).

libvirt gives cumulative counters (cpu.time, bytes read, bytes received), so a rate needs
the same domain in two reads of the same run: a domain seen for the first time, restarted in
between (a new libvirt domain id) or whose counter went backwards gives no rate this time,
never a negative or invented one. Gauges (memory) need only the current read. Every sample
carries the read's wall time as its event time.

Host-level samples go in the host's batch with ``vm_id = "host:<host id>"`` and
``source = "collector-host"`` (:func:`is_host_sample`, :func:`is_host_subject`): the stream
has no separate subject for hosts, and the prefix keeps a host's windows apart from a guest's
even when a guest is named like its host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from novacron.events import MetricName, MetricSample

if TYPE_CHECKING:  # plain data; importing the module at run time would load libvirt here
    from novacron.actuators.domain_stats import DomainStats, HostSnapshot, NodeStats

VM_SOURCE = "collector"
# Memory read from the QEMU process's resident set (the guest reports no balloon figures):
# an upper bound that includes QEMU's own memory, so consumers can tell it apart.
VM_RSS_SOURCE = "collector-rss"
HOST_SOURCE = "collector-host"
HOST_PREFIX = "host:"
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")  # events.Identifier
# Node CPU modes that are not busy time.
_IDLE_MODES = ("idle", "iowait")


def host_vm_id(host_id: str) -> str:
    return f"{HOST_PREFIX}{host_id}"


def is_host_sample(sample: MetricSample) -> bool:
    """A host's own utilisation, not a VM's: consumers that act on VMs skip these."""
    return sample.source == HOST_SOURCE


def is_host_subject(vm_id: str) -> bool:
    """The id a host's samples (and so their features and forecasts) carry as ``vm_id``;
    what a consumer that sees no ``source`` (a FeatureVector) tests to skip them."""
    return vm_id.startswith(HOST_PREFIX)


@dataclass
class HostRates:
    samples: list[MetricSample] = field(default_factory=list)
    vm_samples: int = 0
    host_samples: int = 0
    running: int = 0  # running domains in the current read
    reporting: int = 0  # of those, with a cpu sample this time
    # Domains whose name cannot be a vm_id on the wire (events.Identifier): never published.
    unnamed: list[str] = field(default_factory=list)


def _rate(prev: int | None, cur: int | None, dt: float) -> float | None:
    if prev is None or cur is None or cur < prev:  # a reset counter gives no rate
        return None
    return (cur - prev) / dt


def cpu_percent(prev: DomainStats, cur: DomainStats, dt: float) -> float | None:
    """Δcpu.time over the interval and the domain's vCPUs, 0..100 %. cpu.time (the whole QEMU
    process) rather than vcpu.N.time, which stays 0 under software emulation."""
    if not cur.vcpus or cur.vcpus <= 0:
        return None
    ns = _rate(prev.cpu_time_ns, cur.cpu_time_ns, dt)
    if ns is None:
        return None
    # The emulator's own threads can lift cpu.time slightly above the vCPUs' wall time.
    return min(100.0, ns / 1e9 / cur.vcpus * 100.0)


def memory_percent(d: DomainStats) -> tuple[float, str] | None:
    """(used % of the guest's memory, source). The guest's own figures when its balloon
    driver reports them (available minus usable, else minus unused), else the QEMU
    process's resident set against the balloon's current size, capped at 100."""
    if d.available_kib and d.available_kib > 0:
        free = d.usable_kib if d.usable_kib is not None else d.unused_kib
        if free is not None:
            used = max(0, d.available_kib - free)
            return min(100.0, used / d.available_kib * 100.0), VM_SOURCE
    if d.rss_kib is not None and d.balloon_current_kib:
        return min(100.0, d.rss_kib / d.balloon_current_kib * 100.0), VM_RSS_SOURCE
    return None


def _sum(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _add(out: HostRates, cur: HostSnapshot, vm_id: str, metric: MetricName, value: float,
         allocated: float | None, source: str = VM_SOURCE) -> None:
    out.samples.append(MetricSample(
        occurred_at=cur.at, vm_id=vm_id, host_id=cur.host_id, metric=metric,
        value=round(value, 4), allocated=allocated, source=source))
    out.vm_samples += 1


def vm_samples(prev: HostSnapshot | None, cur: HostSnapshot, out: HostRates) -> None:
    dt = cur.mono_s - prev.mono_s if prev is not None else 0.0
    for name, d in cur.domains.items():
        if d.state != "running":
            continue
        out.running += 1
        if not _IDENTIFIER.match(name):
            out.unnamed.append(name)
            continue
        mem = memory_percent(d)
        if mem is not None and d.balloon_current_kib:
            _add(out, cur, name, MetricName.MEMORY, mem[0], d.balloon_current_kib / 1024, mem[1])
        p = prev.domains.get(name) if prev is not None else None
        if p is None or p.run_id != d.run_id or dt <= 0:
            continue  # new, restarted, or no time between the reads: no rates yet
        cpu = cpu_percent(p, d, dt)
        if cpu is not None:
            _add(out, cur, name, MetricName.CPU, cpu, float(d.vcpus or 0))
            out.reporting += 1
        disk = _rate(_sum(p.block_rd_bytes, p.block_wr_bytes), _sum(d.block_rd_bytes, d.block_wr_bytes), dt)
        if disk is not None:
            _add(out, cur, name, MetricName.DISK_IO, disk, None)
        rx = _rate(p.net_rx_bytes, d.net_rx_bytes, dt)  # libvirt counts from the guest's side
        if rx is not None:
            _add(out, cur, name, MetricName.NET_IN, rx, None)
        tx = _rate(p.net_tx_bytes, d.net_tx_bytes, dt)
        if tx is not None:
            _add(out, cur, name, MetricName.NET_OUT, tx, None)


def node_cpu_percent(prev: NodeStats, cur: NodeStats) -> float | None:
    """Busy share of all CPU time between the reads: 1 - Δ(idle + iowait) / Δtotal."""
    if not prev.cpu_ns or not cur.cpu_ns or set(prev.cpu_ns) != set(cur.cpu_ns):
        return None
    total = sum(cur.cpu_ns.values()) - sum(prev.cpu_ns.values())
    idle = sum(cur.cpu_ns.get(m, 0) - prev.cpu_ns.get(m, 0) for m in _IDLE_MODES)
    if total <= 0 or idle < 0 or idle > total:  # a reset, or a driver's frozen figures
        return None
    return (total - idle) / total * 100.0


def node_memory_percent(node: NodeStats) -> float | None:
    """Used % of the host's memory: total - available (node_exporter's MemAvailable) when
    given, else total - free - buffers - cached (libvirt's getMemoryStats)."""
    m = node.memory_kib
    total = m.get("total")
    if not total or total <= 0:
        return None
    if "available" in m:
        used = total - m["available"]
    elif "free" in m:
        used = total - m["free"] - m.get("buffers", 0) - m.get("cached", 0)
    else:
        return None
    return max(0.0, min(100.0, used / total * 100.0))


def node_samples(prev: HostSnapshot | None, cur: HostSnapshot, out: HostRates) -> None:
    vm_id = host_vm_id(cur.host_id)

    def add(metric: MetricName, value: float, allocated: float | None) -> None:
        out.samples.append(MetricSample(
            occurred_at=cur.at, vm_id=vm_id, host_id=cur.host_id, metric=metric,
            value=round(value, 4), allocated=allocated, source=HOST_SOURCE))
        out.host_samples += 1

    if prev is not None:
        cpu = node_cpu_percent(prev.node, cur.node)
        if cpu is not None:
            add(MetricName.CPU, cpu, float(cur.node.cpus) if cur.node.cpus else None)
    mem = node_memory_percent(cur.node)
    if mem is not None:
        total_kib = cur.node.memory_kib["total"]
        add(MetricName.MEMORY, mem, total_kib / 1024)


def host_rates(prev: HostSnapshot | None, cur: HostSnapshot, *, vms: bool = True,
               host: bool = True) -> HostRates:
    """The samples of ``cur`` (rates against ``prev``, the same host's previous read)."""
    if prev is not None and prev.host_id != cur.host_id:
        raise ValueError(f"reads of two hosts ({prev.host_id}, {cur.host_id}) cannot give rates")
    out = HostRates()
    if vms:
        vm_samples(prev, cur, out)
    if host:
        node_samples(prev, cur, out)
    return out
