"""Where a VM is defined and running across the fleet: the state every move is checked by."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from typing import Any

import libvirt
from novacron.actuators.connection import ActuatorError, Fleet
from novacron.actuators.inspect import state_name
from novacron.actuators.xml import DomainSpec, domain_labels, parse_domain
from novacron.healing.labels import HealingTraits, InventoryVm, parse_traits

log = logging.getLogger(__name__)

UNREACHABLE = "unreachable"


def copies(fleet: Fleet, vm_id: str) -> dict[str, str]:
    """host id -> state of the VM's copy there ('running', 'shutoff'...; 'unreachable' when
    the host cannot be asked). Hosts without a copy are left out."""
    out: dict[str, str] = {}
    for host_id in fleet.hosts:
        try:
            dom = fleet.lookup(host_id, vm_id)
        except ActuatorError:
            out[host_id] = UNREACHABLE
            continue
        if dom is not None:
            out[host_id] = state_name(dom.state()[0])
    return out


def where(fleet: Fleet, vm_id: str) -> dict[str, Any]:
    found = copies(fleet, vm_id)
    running = sorted(h for h, s in found.items() if s == "running")
    return {"name": vm_id, "copies": found, "running_on": running,
            "host_id": running[0] if len(running) == 1 else None}


def spec_of(fleet: Fleet, vm_id: str, *hosts: str | None) -> DomainSpec:
    """The VM's spec read from the first of ``hosts`` that has it, else the fleet's last known
    copy (the source host may be down)."""
    for host_id in hosts:
        if host_id is None:
            continue
        try:
            dom = fleet.lookup(host_id, vm_id)
        except ActuatorError:
            continue
        if dom is not None:
            spec = parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            fleet.specs[vm_id] = spec
            return spec
    if vm_id in fleet.specs:
        return fleet.specs[vm_id]
    raise ActuatorError(f"no spec known for {vm_id}: not readable on {list(hosts)}, not cached")


def remember_specs(fleet: Fleet) -> int:
    """Keep the spec of every running domain of the reachable hosts in ``fleet.specs``: what a
    failover defines elsewhere once its host is gone and cannot be read. A worker learns the
    specs of VMs made before it started (or by others) here, and resizes stay current.
    Returns how many specs were read."""
    read = 0
    for host in fleet.hosts.values():
        try:
            doms = host.get().listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        except (ActuatorError, libvirt.libvirtError):
            continue
        for dom in doms:
            try:
                spec = parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            except (libvirt.libvirtError, ValueError, ET.ParseError) as exc:
                log.debug("spec of a domain on %s not kept: %s", host.host_id, exc)
                continue
            fleet.specs[spec.name] = spec
            read += 1
    return read


def domain_type(conn: libvirt.virConnect) -> str:
    """The <domain type=...> a host's driver accepts: kvm where the host offers it, qemu
    (software emulation) where it does not, e.g. a qemu:///session without /dev/kvm."""
    if conn.getType().upper() == "TEST":
        return "test"
    caps = ET.fromstring(conn.getCapabilities())  # noqa: S314 - libvirt's own XML
    offered = {d.get("type") for d in caps.iterfind("guest/arch/domain")}
    return "kvm" if "kvm" in offered or not offered else "qemu"


def inventory(fleet: Fleet, warned: set[str] | None = None,
              ) -> list[tuple[str, dict[str, str], int, list[InventoryVm]]]:
    """Per reachable host: (host id, labels, CPUs, [InventoryVm(vm id, running, vCPUs,
    healing traits)]), the traits read from the domain's labels (novacron.healing.labels).

    A bad label is logged; with ``warned`` (a caller's set, kept across calls) only the first
    time, so a caller that re-reads the inventory every few seconds does not repeat itself."""
    out = []
    for host_id, host in fleet.hosts.items():
        try:
            conn = host.get()
            cpus = int(conn.getInfo()[2])
            vms = [InventoryVm(d.name(), d.state()[0] == libvirt.VIR_DOMAIN_RUNNING,
                               int(d.info()[3]), _traits(d, warned))
                   for d in conn.listAllDomains()]
        except (ActuatorError, libvirt.libvirtError):
            continue
        out.append((host_id, dict(host.labels), cpus, sorted(vms, key=lambda v: v.vm_id)))
    return out


def _traits(dom: libvirt.virDomain, warned: set[str] | None) -> HealingTraits:
    name = dom.name()
    try:
        labels = domain_labels(dom.XMLDesc(0))
    except ET.ParseError as e:  # never expected from libvirt; the VM is still watched
        log.warning("healing labels of %s unreadable (%s); healing defaults apply", name, e)
        return HealingTraits()
    parsed = parse_traits(name, labels)
    for problem in parsed.problems:
        if warned is not None:
            if problem in warned:
                continue
            warned.add(problem)  # the problem names the VM, the label and the value
        log.warning("ignored healing label: %s", problem)
    return parsed.traits


def reachable(fleet: Fleet) -> list[str]:
    """Hosts the controller can talk to right now (its heartbeat of each host)."""
    alive = []
    for host_id, host in fleet.hosts.items():
        try:
            if host.get().isAlive():
                alive.append(host_id)
        except (ActuatorError, libvirt.libvirtError):
            continue
    return alive
