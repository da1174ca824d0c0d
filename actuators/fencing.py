"""A fencing driver through libvirt: destroy the old copy and prove it is off.

A fence succeeds only with positive proof: the domain (or, for a host, every domain on it)
reads as not active after the destroy, or is not defined there at all. A host libvirt cannot
reach gives no proof, so the answer is "not fenced" and no failover follows; power fencing
(IPMI, Redfish, or the local hosts' namespaces) is the other driver behind the same contract.
"""

from __future__ import annotations

import contextlib
from typing import Protocol

import libvirt
from novacron.actuators.connection import ActuatorError, Fleet
from novacron.actuators.deadline import Deadline
from novacron.actuators.lifecycle import destroy
from novacron.healing.safety import FenceRequest, FenceResult

METHOD = "libvirt-destroy"


class LibvirtDestroyFencer:
    def __init__(self, fleet: Fleet, timeout_s: float = 10.0) -> None:
        self.fleet = fleet
        self.timeout_s = timeout_s

    def fence(self, request: FenceRequest) -> FenceResult:
        deadline = Deadline(self.timeout_s)
        try:
            if request.scope == "vm":
                detail = self._vm(request.host_id, request.target_id, deadline)
            else:
                detail = self._host(request.host_id, deadline)
        except (ActuatorError, libvirt.libvirtError) as exc:
            return FenceResult(request, False, METHOD, f"no proof: {exc}")
        return FenceResult(request, True, METHOD, detail)

    def _vm(self, host_id: str, vm_id: str, deadline: Deadline) -> str:
        dom = self.fleet.lookup(host_id, vm_id)
        if dom is None:
            return f"{vm_id} not defined on {host_id}"
        was_active = bool(dom.isActive())
        self._off(dom, deadline)
        return f"{vm_id} on {host_id}: " + ("destroyed, reads shut off" if was_active
                                             else "already shut off")

    def _host(self, host_id: str, deadline: Deadline) -> str:
        conn = self.fleet.host(host_id).get()
        active = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        for dom in active:
            self._off(dom, deadline)
        left = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        if left:
            raise ActuatorError(f"{len(left)} domain(s) still active on {host_id}")
        return f"{host_id}: {len(active)} domain(s) destroyed, none active"

    @staticmethod
    def _off(dom: libvirt.virDomain, deadline: Deadline) -> None:
        # No autostart: a fenced copy must not come back by itself when its host reboots.
        with contextlib.suppress(libvirt.libvirtError):
            dom.setAutostart(0)
        destroy(dom, deadline)
        if dom.isActive():
            raise ActuatorError(f"{dom.name()} still active after destroy")


class PowerSwitch(Protocol):
    """A host's power, as IPMI, Redfish or a PDU give it: off, and a reading that it is off."""

    def power_off(self, host_id: str) -> None: ...

    def is_off(self, host_id: str) -> tuple[bool, str]:
        """(proven off, the reading that proves it)."""
        ...


POWER_METHOD = "power-off"


class PowerFencer:
    """Fences by cutting the host's power and reading it back off: the proof holds however
    the host failed, reachable or not. A VM is fenced by destroying it through libvirt while
    its host answers (its neighbours keep running), else by powering its host off."""

    def __init__(self, switch: PowerSwitch, fleet: Fleet | None = None,
                 timeout_s: float = 10.0) -> None:
        self.switch = switch
        self.vm_fencer = LibvirtDestroyFencer(fleet, timeout_s) if fleet is not None else None

    def fence(self, request: FenceRequest) -> FenceResult:
        if request.scope == "vm" and self.vm_fencer is not None:
            result = self.vm_fencer.fence(request)
            if result.fenced:
                return result
        try:
            self.switch.power_off(request.host_id)
            off, reading = self.switch.is_off(request.host_id)
        except (ActuatorError, OSError) as exc:
            return FenceResult(request, False, POWER_METHOD, f"no proof: {exc}")
        if not off:
            return FenceResult(request, False, POWER_METHOD, f"no proof: {reading}")
        return FenceResult(request, True, POWER_METHOD, f"powered off; {reading}")
