"""One read of a host's counters for the metrics collector: every domain's statistics in a
single ``getAllDomainStats()`` round trip, plus the node's CPU and memory figures.

The result is plain data (:class:`HostSnapshot`); turning two snapshots into rates is pure
and lives in ``streams.collect_rates``. A libvirt call to a dead or hung host can block for
as long as the connection's keepalive takes to give up (or forever on a wedged daemon), so a
read runs in a daemon thread and the caller waits for it only until its deadline; a host whose
earlier read is still blocked is not asked again until that read returns.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import libvirt
from novacron.actuators.connection import ActuatorError, HostConnection
from novacron.actuators.deadline import ActuatorTimeout
from novacron.actuators.inspect import state_name

# Every group the collector turns into a metric; the driver silently leaves out what it
# does not support (no ENFORCE flag), which is how the test driver answers.
_STATS = (libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
          | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON
          | libvirt.VIR_DOMAIN_STATS_BLOCK | libvirt.VIR_DOMAIN_STATS_INTERFACE)


@dataclass(frozen=True, slots=True)
class DomainStats:
    """One domain's counters as libvirt gave them; None where the driver gives nothing."""

    name: str
    state: str  # running, paused, shutoff, ... (actuators.inspect.state_name)
    # libvirt's domain id: a new one at every start, so counters of two different runs of
    # the same guest are never subtracted (a restart resets cpu.time and the device counters).
    run_id: int = -1
    cpu_time_ns: int | None = None
    vcpus: int | None = None
    vcpus_max: int | None = None
    balloon_current_kib: int | None = None
    balloon_maximum_kib: int | None = None
    rss_kib: int | None = None
    # Reported by the guest's balloon driver only (virtio_balloon loaded and polled).
    available_kib: int | None = None
    unused_kib: int | None = None
    usable_kib: int | None = None
    # Sums over the domain's disks / NICs; None when it has none the driver reports.
    block_rd_bytes: int | None = None
    block_wr_bytes: int | None = None
    block_rd_reqs: int | None = None
    block_wr_reqs: int | None = None
    net_rx_bytes: int | None = None
    net_tx_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class NodeStats:
    """Host-level facts: getInfo's CPUs and memory, cumulative CPU times (ns by mode:
    user, kernel, idle, iowait...) and memory figures (KiB: total, free, buffers, cached).
    A mapping is empty when the driver does not support the call."""

    cpus: int | None = None
    memory_mib: int | None = None
    cpu_ns: dict[str, int] = field(default_factory=dict)
    memory_kib: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HostSnapshot:
    """What one read saw. ``mono_s`` and ``at`` are taken at the middle of the domain-stats
    call, the moment its counters describe; rates divide by ``mono_s`` differences, samples
    carry ``at`` as their event time."""

    host_id: str
    mono_s: float
    at: datetime
    domains: dict[str, DomainStats]
    node: NodeStats
    # What this host's driver does not give, in words fit for an operator's log.
    missing: tuple[str, ...] = ()
    read_s: float = 0.0


def _int(stats: dict[str, Any], key: str) -> int | None:
    value = stats.get(key)
    return int(value) if isinstance(value, int | float) else None


def _summed(stats: dict[str, Any], group: str, fields: tuple[str, ...]) -> list[int | None]:
    """Per field, the sum over a device group (block.N.rd.bytes, net.N.rx.bytes...)."""
    count = _int(stats, f"{group}.count") or 0
    sums: list[int | None] = []
    for f in fields:
        values = [_int(stats, f"{group}.{i}.{f}") for i in range(count)]
        present = [v for v in values if v is not None]
        sums.append(sum(present) if present else None)
    return sums


def parse_domain_stats(name: str, run_id: int, stats: dict[str, Any]) -> DomainStats:
    """One domain's entry of getAllDomainStats() (a flat dict) as :class:`DomainStats`."""
    rd_b, wr_b, rd_r, wr_r = _summed(stats, "block", ("rd.bytes", "wr.bytes", "rd.reqs", "wr.reqs"))
    rx, tx = _summed(stats, "net", ("rx.bytes", "tx.bytes"))
    state = _int(stats, "state.state")
    return DomainStats(
        name=name, state=state_name(state) if state is not None else "unknown", run_id=run_id,
        cpu_time_ns=_int(stats, "cpu.time"),
        vcpus=_int(stats, "vcpu.current"), vcpus_max=_int(stats, "vcpu.maximum"),
        balloon_current_kib=_int(stats, "balloon.current"),
        balloon_maximum_kib=_int(stats, "balloon.maximum"),
        rss_kib=_int(stats, "balloon.rss"), available_kib=_int(stats, "balloon.available"),
        unused_kib=_int(stats, "balloon.unused"), usable_kib=_int(stats, "balloon.usable"),
        block_rd_bytes=rd_b, block_wr_bytes=wr_b, block_rd_reqs=rd_r, block_wr_reqs=wr_r,
        net_rx_bytes=rx, net_tx_bytes=tx)


def _missing_domain_stats(domains: dict[str, DomainStats]) -> list[str]:
    running = [d for d in domains.values() if d.state == "running"]
    out = []
    if running and all(d.cpu_time_ns is None for d in running):
        out.append("cpu.time (no cpu samples)")
    if running and all(d.vcpus is None for d in running):
        out.append("vcpu.current (cpu samples without their allocation)")
    if running and all(d.balloon_current_kib is None for d in running):
        out.append("balloon.current (no memory samples)")
    return out


class _Read:
    """The body of one read, run in its own daemon thread; ``call`` names the libvirt call in
    progress, so a timeout can say where the host stopped answering."""

    def __init__(self, host: HostConnection) -> None:
        self.host = host
        self.call = "connecting"
        self.started = time.monotonic()
        self.result: HostSnapshot | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._read()
        except BaseException as exc:  # handed to the waiting caller, who raises it
            self.error = exc

    def _read(self) -> HostSnapshot:
        host = self.host
        conn = host.get()
        missing: list[str] = []
        self.call = "getAllDomainStats"
        t0, w0 = time.monotonic(), time.time()
        try:
            entries = conn.getAllDomainStats(_STATS)
        except libvirt.libvirtError as exc:
            raise ActuatorError(f"host {host.host_id}: getAllDomainStats failed: {exc}") from exc
        t1, w1 = time.monotonic(), time.time()
        domains = {}
        for dom, stats in entries:
            name = dom.name()  # name() and ID() read the handle: no round trip
            domains[name] = parse_domain_stats(name, dom.ID(), stats)
        missing += _missing_domain_stats(domains)
        self.call = "getInfo"
        cpus = memory_mib = None
        try:
            info = conn.getInfo()
            memory_mib, cpus = int(info[1]), int(info[2])
        except libvirt.libvirtError as exc:
            missing.append(self._unsupported("getInfo", exc))
        self.call = "getCPUStats"
        cpu_ns: dict[str, int] = {}
        try:
            cpu_ns = {k: int(v) for k, v in conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS).items()}
        except libvirt.libvirtError as exc:
            missing.append(self._unsupported("getCPUStats", exc))
        self.call = "getMemoryStats"
        memory_kib: dict[str, int] = {}
        try:
            memory_kib = {k: int(v) for k, v in
                          conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS).items()}
        except libvirt.libvirtError as exc:
            missing.append(self._unsupported("getMemoryStats", exc))
        self.call = "done"
        return HostSnapshot(
            host_id=host.host_id, mono_s=(t0 + t1) / 2,
            at=datetime.fromtimestamp((w0 + w1) / 2, UTC), domains=domains,
            node=NodeStats(cpus, memory_mib, cpu_ns, memory_kib), missing=tuple(missing),
            read_s=time.monotonic() - self.started)

    def _unsupported(self, call: str, exc: libvirt.libvirtError) -> str:
        """A node call the driver does not offer is a gap to report; any other failure
        (a dropped connection) fails the whole read."""
        if exc.get_error_code() in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
                                    libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED):
            return f"{call} (not supported by the driver)"
        raise ActuatorError(f"host {self.host.host_id}: {call} failed: {exc}") from exc


_blocked: dict[tuple[str, str], _Read] = {}  # (host id, uri) -> a read that outlived its deadline
_blocked_lock = threading.Lock()


def read_host(host: HostConnection, deadline_s: float) -> HostSnapshot:
    """Read every domain's statistics and the node's figures within ``deadline_s``.

    Raises :class:`ActuatorTimeout` when the host does not answer in time (the blocked call
    goes on in its daemon thread, and until it returns this host is not asked again) and
    :class:`ActuatorError` when it refuses or the connection fails.
    """
    key = (host.host_id, host.uri)
    with _blocked_lock:
        earlier = _blocked.get(key)
        if earlier is not None:
            if earlier.result is None and earlier.error is None:
                raise ActuatorTimeout(
                    f"host {host.host_id}: a read started {time.monotonic() - earlier.started:.0f}s "
                    f"ago is still blocked in {earlier.call}; not asking again until it returns")
            del _blocked[key]
    body = _Read(host)
    thread = threading.Thread(target=body.run, name=f"domain-stats-{host.host_id}", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline_s))
    if thread.is_alive():
        with _blocked_lock:
            _blocked[key] = body
        raise ActuatorTimeout(f"host {host.host_id} at {host.uri}: {body.call} did not answer "
                              f"within {deadline_s:.1f}s")
    if body.error is not None:
        if isinstance(body.error, ActuatorError):
            raise body.error
        raise ActuatorError(f"host {host.host_id}: reading statistics failed: {body.error}") from body.error
    assert body.result is not None  # the thread ended without an error
    return body.result
