"""An inventory opened as a fleet, and what libvirt adds to it.

``open_fleet`` gives one lazy connection per inventory host (nothing is dialled yet, so one
host down does not stop the others from being served). ``host_facts`` then asks every host,
in parallel, for what the inventory left out: vCPUs and memory (``getInfo``), NUMA cells
(the capabilities XML) and the host UUID. A host that cannot be read gets facts that say why
and are marked unreachable; the rest are unaffected.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import libvirt
from novacron.actuators.connection import ActuatorError, Fleet, HostConnection

from novacron.inventory import (
    HostFacts,
    HostIdentity,
    Inventory,
    NumaCell,
    Probe,
    host_facts_of,
)

log = logging.getLogger(__name__)

# A host that has not answered by then is reported unreachable; the probe's thread finishes
# on its own (libvirt's calls cannot be cancelled), the connection stays for a later retry.
PROBE_TIMEOUT_S = 20.0


def open_fleet(inventory: Inventory) -> Fleet:
    """A connection per host: host id = the entry's id; labels = its labels, rack and zone."""
    return Fleet([HostConnection(h.id, h.uri, h.host_labels()) for h in inventory.hosts])


def numa_cells(capabilities_xml: str) -> tuple[NumaCell, ...]:
    """The NUMA cells of a host's capabilities XML (empty when it reports none)."""
    root = ET.fromstring(capabilities_xml)  # noqa: S314 - the host daemon's own XML
    cells = []
    for cell in root.iterfind("host/topology/cells/cell"):
        mem = cell.find("memory")
        cpus = cell.find("cpus")
        size = int(mem.text or "0") * _BYTES.get(mem.get("unit", "KiB").lower(), 1024) \
            if mem is not None else 0
        n = int(cpus.get("num", "0")) if cpus is not None else 0
        if n == 0 and cpus is not None:
            n = len(cpus.findall("cpu"))
        if n > 0 and size >= 1 << 20:
            cells.append(NumaCell(n, size >> 20))
    return tuple(cells)


_BYTES = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30,
          "gib": 1 << 30}


def host_uuid(capabilities_xml: str) -> str | None:
    root = ET.fromstring(capabilities_xml)  # noqa: S314 - the host daemon's own XML
    text = (root.findtext("host/uuid") or "").strip()
    return text or None


def _sysinfo_uuid(conn: libvirt.virConnect) -> str | None:
    """The SMBIOS system UUID, for daemons whose capabilities carry none."""
    try:
        root = ET.fromstring(conn.getSysinfo())  # noqa: S314 - the host daemon's own XML
    except (libvirt.libvirtError, ET.ParseError):
        return None
    for entry in root.iterfind("system/entry"):
        if entry.get("name") == "uuid" and entry.text:
            return entry.text.strip()
    return None


def probe(host: HostConnection) -> Probe:
    """Read a host's size, NUMA cells and identity; raises :class:`ActuatorError`."""
    conn = host.get()
    try:
        info = conn.getInfo()  # [model, memory MiB, cpus, mhz, nodes, sockets, cores, threads]
        caps = conn.getCapabilities()
        try:
            hostname: str | None = conn.getHostname()
        except libvirt.libvirtError:
            hostname = None
    except libvirt.libvirtError as exc:
        raise ActuatorError(f"host {host.host_id} at {host.uri}: reading its facts: {exc}") from exc
    try:
        cells, uuid = numa_cells(caps), host_uuid(caps)
    except (ET.ParseError, ValueError) as exc:
        raise ActuatorError(f"host {host.host_id}: its capabilities XML is unreadable: {exc}") from exc
    return Probe(vcpus=int(info[2]), memory_mib=int(info[1]), numa=cells,
                 uuid=uuid or _sysinfo_uuid(conn), hostname=hostname)


def host_facts(fleet: Fleet, inventory: Inventory,
               timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, HostFacts]:
    """Facts for every inventory host, in inventory order; unreachable ones say why."""
    out: dict[str, HostFacts] = {}
    if not inventory.hosts:
        return out
    pool = ThreadPoolExecutor(max_workers=min(16, len(inventory.hosts)),
                              thread_name_prefix="novacron-probe")
    try:
        futures = {h.id: pool.submit(probe, fleet.host(h.id)) for h in inventory.hosts}
        for entry in inventory.hosts:
            try:
                found: Probe | None = futures[entry.id].result(timeout=timeout_s)
                error = None
            except ActuatorError as exc:
                found, error = None, str(exc)
            except FutureTimeout:
                found, error = None, f"host {entry.id} at {entry.uri} did not answer within {timeout_s:g} s"
            if error is not None:
                log.warning("host %s is unreachable and marked so; the others are served: %s",
                            entry.id, error)
            out[entry.id] = host_facts_of(entry, found, error, inventory.source)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return out


def identify(uri: str) -> HostIdentity | None:
    """libvirt's hostname and host UUID for a URI, for naming hosts given only as URIs;
    None when the host cannot be reached (its id then comes from the URI alone)."""
    host = HostConnection("?", uri)
    try:
        conn = host.get()
        try:
            hostname: str | None = conn.getHostname()
        except libvirt.libvirtError:
            hostname = None
        try:
            uuid = host_uuid(conn.getCapabilities()) or _sysinfo_uuid(conn)
        except (libvirt.libvirtError, ET.ParseError):
            uuid = None
        return HostIdentity(hostname, uuid)
    except ActuatorError as exc:
        log.warning("cannot ask %s for its hostname (its id comes from the URI): %s", uri, exc)
        return None
    finally:
        host.close()


def reachable(facts: Mapping[str, HostFacts]) -> list[str]:
    return [h for h, f in facts.items() if f.reachable]
