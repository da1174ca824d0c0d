"""One read-only look at every host of a fleet: reachable or not, and every domain defined
there with its state, size, NovaCron labels and persistence.

Hosts are read in parallel, one thread each, and the look returns at its deadline whatever
is still outstanding: a host that has not answered by then counts as unreachable, so a dead
or hung daemon cannot hold up the reconciler. A host is read completely or not at all: a
partial listing would make the domains it missed look vanished."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET

import libvirt
from novacron.actuators.connection import ActuatorError, Fleet, HostConnection
from novacron.actuators.inspect import state_name
from novacron.actuators.xml import domain_labels

from novacron.events import utcnow
from novacron.observation import DomainObservation, FleetObservation, HostObservation

__all__ = ["DomainObservation", "FleetObservation", "HostObservation", "observe_fleet", "observe_host"]

# libvirt's names where NovaCron's differ (vms.state speaks of stopped VMs, not shut-off ones).
_RENAMED = {"shutoff": "stopped"}

# Hosts whose read outlived its deadline, by id(HostConnection): while one is still stuck in
# libvirt (until its keepalive gives up), later looks do not stack more threads on it.
_stuck: dict[int, threading.Thread] = {}
_stuck_lock = threading.Lock()


def observe_fleet(fleet: Fleet, deadline_s: float = 5.0) -> FleetObservation:
    """Read every host of ``fleet`` within ``deadline_s`` (all hosts in parallel)."""
    started = utcnow()
    out: dict[str, HostObservation] = {}
    running: list[tuple[str, HostConnection, threading.Thread, list[HostObservation]]] = []
    for host_id, host in fleet.hosts.items():
        with _stuck_lock:
            prev = _stuck.get(id(host))
            if prev is not None and not prev.is_alive():
                del _stuck[id(host)]
                prev = None
        if prev is not None:
            out[host_id] = _unreachable(host, "an earlier read of this host has still not returned")
            continue
        box: list[HostObservation] = []
        t = threading.Thread(target=_observe_into, args=(host, box), name=f"observe-{host_id}",
                             daemon=True)
        t.start()
        running.append((host_id, host, t, box))
    until = time.monotonic() + deadline_s
    for host_id, host, t, box in running:
        t.join(max(0.0, until - time.monotonic()))
        if box:
            out[host_id] = box[0]
        else:
            with _stuck_lock:
                _stuck[id(host)] = t
            out[host_id] = _unreachable(host, f"no answer within {deadline_s:g} s")
    return FleetObservation(started_at=started, hosts={h: out[h] for h in fleet.hosts})


def observe_host(host: HostConnection) -> HostObservation:
    """One host, read completely, or unreachable with the error that stopped the read."""
    t0 = time.perf_counter()
    try:
        conn = host.get()
        info = conn.getInfo()
        domains: dict[str, DomainObservation] = {}
        for dom in conn.listAllDomains(0):
            seen = _domain(dom)
            if seen is not None:
                domains[seen.name] = seen
    except (ActuatorError, libvirt.libvirtError) as exc:
        return _unreachable(host, str(exc), t0)
    return HostObservation(
        host_id=host.host_id, uri=host.uri, labels=dict(host.labels), reachable=True,
        vcpus=int(info[2]), memory_mib=int(info[1]), domains=domains,
        elapsed_ms=(time.perf_counter() - t0) * 1000)


def _observe_into(host: HostConnection, box: list[HostObservation]) -> None:
    box.append(observe_host(host))


def _domain(dom: libvirt.virDomain) -> DomainObservation | None:
    """None when the domain went away while the host was being read (it is not there)."""
    try:
        name = dom.name()
        state, _max_kib, mem_kib, vcpus, _cpu = dom.info()
        persistent = bool(dom.isPersistent())
        xml = dom.XMLDesc(0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise
    try:
        labels = domain_labels(xml)
    except ET.ParseError:  # never expected from libvirt; the domain is still there
        labels = {}
    observed = state_name(state)
    return DomainObservation(name=name, state=_RENAMED.get(observed, observed), vcpus=int(vcpus),
                             memory_mib=int(mem_kib) // 1024, labels=labels, persistent=persistent)


def _unreachable(host: HostConnection, error: str, t0: float | None = None) -> HostObservation:
    elapsed = 0.0 if t0 is None else (time.perf_counter() - t0) * 1000
    return HostObservation(host_id=host.host_id, uri=host.uri, labels=dict(host.labels),
                           reachable=False, error=error, elapsed_ms=elapsed)
