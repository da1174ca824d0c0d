"""PLACE: create a placed VM on the host its placement chose. The domain is defined from the
decision's spec (vCPUs and memory, disks and NICs as given, labels; its vCPUs pinned to the
chosen NUMA cells' CPUs and its memory bound to those cells), started unless the decision says
not to, and judged by where it runs afterwards: on that host and nowhere else.

A domain that does not start is undefined again, so a failed creation leaves nothing behind,
and the reason libvirt gave is the outcome's. The domain carries its placement's decision id
as a label: a redelivered or reconciled PLACE recognises its own domain (already defined and
running is success), and a foreign domain of the same name is never taken over or removed.

Also here: the operator's delete (DESTROY with ``params.undefine``), which powers the domain
off and undefines it.
"""

from __future__ import annotations

import contextlib
import math
import xml.etree.ElementTree as ET
from typing import Any

import libvirt
from novacron.actuators import lifecycle
from novacron.actuators.connection import ActuatorError, Fleet
from novacron.actuators.deadline import Deadline
from novacron.actuators.placement_state import UNREACHABLE, copies, domain_type, where
from novacron.actuators.xml import DiskSpec, DomainSpec, NicSpec, domain_labels, domain_xml, ranges

from novacron.events import Decision

# The label that ties a domain to the placement decision that made it.
PLACEMENT_LABEL = "novacron.io/placement"
_UNDEFINE = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA


def _host(decision: Decision) -> str:
    if not decision.host_id:
        raise ActuatorError(f"{decision.action.value} of {decision.target_id}: the decision names no host")
    return decision.host_id


def _starts(decision: Decision) -> bool:
    return bool(decision.params.get("start", True))


def cell_cpus(conn: libvirt.virConnect, cells: list[int]) -> list[int]:
    """The host CPUs of NUMA ``cells``, from the host's capabilities; a host whose
    capabilities list no cells (libvirt's test driver) has its CPUs split evenly over the
    nodes it reports, in order."""
    caps = ET.fromstring(conn.getCapabilities())  # noqa: S314 - libvirt's own XML
    listed: dict[int, list[int]] = {}
    for cell in caps.iterfind("host/topology/cells/cell"):
        listed[int(cell.get("id", "-1"))] = [int(c.get("id", "-1")) for c in cell.iterfind("cpus/cpu")]
    if not listed:
        info = conn.getInfo()
        cpus, nodes = int(info[2]), max(1, int(info[4]))
        per = cpus // nodes
        listed = {n: list(range(n * per, (n + 1) * per)) for n in range(nodes)}
    missing = [c for c in cells if c not in listed]
    if missing:
        raise ActuatorError(f"the placement chose NUMA cells {missing}, but the host has cells "
                            f"{sorted(listed)}: check the inventory's numa for this host")
    return sorted({cpu for c in cells for cpu in listed[c]})


def domain_spec(decision: Decision, cpuset: list[int]) -> DomainSpec:
    """The domain a PLACE defines (validated: a bad disk or NIC is refused before libvirt)."""
    p = decision.params
    vcpus = max(1, math.ceil(float(p["vcpus"]) - 1e-9))  # a fraction is the engine's share
    memory = math.ceil(float(p["memory_mib"]) - 1e-9)
    labels = {**{str(k): str(v) for k, v in (p.get("labels") or {}).items()},
              "host": _host(decision), PLACEMENT_LABEL: str(decision.decision_id)}
    cells = [int(c) for c in p.get("numa_cells") or []]
    return DomainSpec(
        name=decision.target_id, vcpus=vcpus, max_vcpus=vcpus, memory_mib=memory,
        max_memory_mib=memory, labels=labels,
        disks=tuple(DiskSpec.model_validate(d) for d in p.get("disks") or []),
        nics=tuple(NicSpec.model_validate(n) for n in p.get("nics") or []),
        cpuset=tuple(cpuset), numa_nodes=tuple(cells))


def observe(fleet: Fleet, decision: Decision) -> dict[str, Any]:
    return where(fleet, decision.target_id)


def verify(after: dict[str, Any], decision: Decision) -> bool:
    """Defined on the chosen host only; running there (and only there) unless told not to start."""
    host = _host(decision)
    if set(after["copies"]) != {host}:
        return False
    return bool(after["running_on"] == ([host] if _starts(decision) else []))


def apply(fleet: Fleet, decision: Decision, deadline: Deadline) -> str:
    vm, host = decision.target_id, _host(decision)
    elsewhere = sorted(h for h, s in copies(fleet, vm).items() if h != host and s != UNREACHABLE)
    if elsewhere:
        raise ActuatorError(f"{vm} is already defined on {', '.join(elsewhere)}; not creating a "
                            f"second copy on {host}")
    conn = fleet.host(host).get()
    dom = fleet.lookup(host, vm)
    done: list[str] = []
    if dom is None:
        cells = [int(c) for c in decision.params.get("numa_cells") or []]
        spec = domain_spec(decision, cell_cpus(conn, cells) if cells else [])
        try:
            dom = conn.defineXML(domain_xml(spec, domain_type(conn)))
        except libvirt.libvirtError as exc:
            raise ActuatorError(f"{vm} could not be defined on {host}: {exc}") from exc
        fleet.specs[vm] = spec
        pinned = f" (NUMA cells {ranges(cells)}, CPUs {ranges(spec.cpuset)})" if cells else ""
        done.append(f"defined {vm} on {host}{pinned}")
    else:
        mine = domain_labels(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).get(PLACEMENT_LABEL)
        if mine != str(decision.decision_id):
            raise ActuatorError(f"a domain named {vm} already exists on {host} and was not made by "
                                f"this placement ({PLACEMENT_LABEL}={mine!r}); not touching it")
    if _starts(decision) and not lifecycle.is_running(dom):
        try:
            lifecycle.start(dom, deadline)
        except (libvirt.libvirtError, ActuatorError) as exc:
            # No half-created VM: what this placement defined goes again, and the host keeps
            # nothing of it.
            _undefine(dom)
            fleet.specs.pop(vm, None)
            raise ActuatorError(f"{vm} did not start on {host}: {exc}; its definition was removed "
                                f"from {host}") from exc
        done.append(f"started {vm}")
    return "; ".join(done) or f"{vm} already defined{' and running' if _starts(decision) else ''} on {host}"


def _undefine(dom: libvirt.virDomain) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        if dom.isActive():
            dom.destroy()
    dom.undefineFlags(_UNDEFINE)


# ------------------------------------------------------------------ the operator's delete


def _undefines(decision: Decision) -> bool:
    return bool(decision.params.get("undefine"))


def apply_delete(fleet: Fleet, decision: Decision, deadline: Deadline) -> str:
    """Power the VM off on its host and undefine it; already gone is fine."""
    vm, host = decision.target_id, _host(decision)
    dom = fleet.lookup(host, vm)
    if dom is None:
        return f"{vm} is not defined on {host}: nothing to delete"
    lifecycle.destroy(dom, deadline)
    try:
        dom.undefineFlags(_UNDEFINE)
    except libvirt.libvirtError:
        if fleet.lookup(host, vm) is not None:  # not gone meanwhile
            raise
    fleet.specs.pop(vm, None)
    return f"destroyed and undefined {vm} on {host}"


def verify_deleted(after: dict[str, Any], decision: Decision) -> bool:
    return _host(decision) not in after["copies"]
