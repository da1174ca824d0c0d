"""Horizontal scaling on libvirt: a clone is a new domain with the same spec under a new
name, on copy-on-write overlays of its source's image (actuators.disks); removing one shuts it
down, undefines it and deletes those overlays; and the fleet as the group autoscaler sees it
(hosts, domains and their labels)."""

from __future__ import annotations

import logging
import uuid
import xml.etree.ElementTree as ET

import libvirt
from novacron.actuators import lifecycle
from novacron.actuators.connection import ActuatorError, Fleet
from novacron.actuators.deadline import Deadline
from novacron.actuators.disks import clone_disks, delete_overlays
from novacron.actuators.placement_state import copies, domain_type, spec_of
from novacron.actuators.xml import domain_labels, domain_xml, parse_domain
from novacron.autoscaler.live_group import (
    CLONE_OF_LABEL,
    CLONED_AT_LABEL,
    GROUP_LABEL,
    FleetHost,
    FleetView,
    FleetVm,
)

log = logging.getLogger(__name__)


def clone_name(vm_id: str, decision_id: uuid.UUID) -> str:
    """Derived from the decision, so executing the decision again finds the same clone."""
    return f"{vm_id[:180]}-c{decision_id.hex[:8]}"


def clone(fleet: Fleet, vm_id: str, source: str | None, target: str, name: str,
          deadline: Deadline, cloned_at: float | None = None) -> str:
    """Define ``name`` on ``target`` with ``vm_id``'s spec and start it (idempotent).
    ``cloned_at`` (the decision's event time) orders clones when a group scales in."""
    if name == vm_id:
        raise ActuatorError(f"a clone needs a new name, not {vm_id}")
    spec = spec_of(fleet, vm_id, source)
    done = []
    dom = fleet.lookup(target, name)
    if dom is None:
        labels = {**spec.labels, "host": target, CLONE_OF_LABEL: vm_id}
        if cloned_at is not None:
            labels[CLONED_AT_LABEL] = repr(float(cloned_at))
        conn = fleet.host(target).get()
        disks = clone_disks(conn, name, spec.disks)
        new = spec.model_copy(update={"name": name, "labels": labels, "disks": disks})
        dom = conn.defineXML(domain_xml(new, domain_type(conn)))
        fleet.specs[name] = new
        done.append(f"defined {name} on {target}")
    if not lifecycle.is_running(dom):
        lifecycle.start(dom, deadline)
        done.append(f"started {name}")
    return "clone: " + (", ".join(done) or f"{name} already running on {target}")


def remove_clone(fleet: Fleet, name: str, deadline: Deadline, group: str | None = None,
                 graceful_s: float = 30.0) -> str:
    """Shut ``name`` down (gracefully, then hard) and undefine it wherever it is defined;
    idempotent (a clone already gone is fine). Refuses a domain that is not a clone (or not
    of ``group``): scale-in never deletes a VM NovaCron did not create. The overlays made for
    it are deleted with it; any other disk is left."""
    done = []
    for host_id, state in copies(fleet, name).items():
        if state == "unreachable":
            raise ActuatorError(f"{name}: host {host_id} is unreachable; retry when it is back")
        dom = fleet.lookup(host_id, name)
        if dom is None:
            continue
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        labels = domain_labels(xml)
        if CLONE_OF_LABEL not in labels or (group is not None and labels.get(GROUP_LABEL) != group):
            raise ActuatorError(f"refusing to remove {name} on {host_id}: it is not a clone of "
                                f"group {group!r} (labels {labels}); remove it by hand if meant")
        lifecycle.shutdown(dom, deadline, by_operator=False, graceful_s=graceful_s)
        try:
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                              | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
        except libvirt.libvirtError:
            if fleet.lookup(host_id, name) is not None:  # not gone meanwhile
                raise
        done.append(f"shut down and undefined {name} on {host_id}")
        gone = delete_overlays(fleet.host(host_id).get(), name, parse_domain(xml).disks)
        if gone:
            done.append(f"deleted its overlays {', '.join(gone)}")
    fleet.specs.pop(name, None)
    return ", ".join(done) or f"{name} already gone"


def labels_of(fleet: Fleet, vm_id: str) -> dict[str, str] | None:
    """``vm_id``'s NovaCron labels wherever it is defined; None when no reachable host has it."""
    try:
        _, dom = fleet.find_domain(vm_id)
        return domain_labels(dom.XMLDesc(0))
    except (ActuatorError, libvirt.libvirtError, ET.ParseError):
        return None


def group_inventory(fleet: Fleet) -> FleetView:
    """Every reachable host (CPUs, MiB, labels) and every domain defined on it (size, labels,
    running or not), for the group autoscaler. An unreachable host is left out: nothing is
    placed on it and its replicas count as missing until it is back."""
    hosts: list[FleetHost] = []
    vms: list[FleetVm] = []
    for host_id, hc in fleet.hosts.items():
        try:
            conn = hc.get()
            info = conn.getInfo()
            found = []
            for dom in conn.listAllDomains():
                state, _max_kib, mem_kib, vcpus, _ = dom.info()
                try:
                    labels = domain_labels(dom.XMLDesc(0))
                except ET.ParseError as exc:  # never expected from libvirt
                    log.warning("labels of %s unreadable (%s); it is in no group", dom.name(), exc)
                    labels = {}
                found.append(FleetVm(dom.name(), host_id, int(vcpus), int(mem_kib) // 1024,
                                     labels, state == libvirt.VIR_DOMAIN_RUNNING, dom.UUIDString()))
        except (ActuatorError, libvirt.libvirtError) as exc:
            log.warning("group inventory: host %s skipped (%s)", host_id, exc)
            continue
        hosts.append(FleetHost(host_id, int(info[2]), int(info[1]), dict(hc.labels)))
        vms.extend(found)
    return FleetView(tuple(hosts), tuple(vms))
