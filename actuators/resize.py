"""Live vertical resize: vCPUs and memory, within the domain's maximums."""

from __future__ import annotations

import libvirt
from novacron.actuators.connection import ActuatorError
from novacron.actuators.inspect import domain_state

_LIVE_AND_CONFIG = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG


def set_vcpus(dom: libvirt.virDomain, vcpus: int) -> None:
    state = domain_state(dom)
    if not 1 <= vcpus <= state["max_vcpus"]:
        raise ActuatorError(
            f"{state['name']}: cannot set {vcpus} vCPUs; allowed 1..{state['max_vcpus']} "
            "(raise the domain's maximum vCPUs, which needs a restart)"
        )
    if state["vcpus"] == vcpus:
        return
    flags = _LIVE_AND_CONFIG if dom.isActive() else libvirt.VIR_DOMAIN_AFFECT_CONFIG
    try:
        dom.setVcpusFlags(vcpus, flags)
    except libvirt.libvirtError:
        # Some drivers (the test driver among them) only change the live count.
        try:
            dom.setVcpusFlags(vcpus, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as exc:
            raise ActuatorError(f"{state['name']}: setting {vcpus} vCPUs failed: {exc}") from exc


def set_memory(dom: libvirt.virDomain, memory_mib: int) -> None:
    state = domain_state(dom)
    if not 16 <= memory_mib <= state["max_memory_mib"]:
        raise ActuatorError(
            f"{state['name']}: cannot set {memory_mib} MiB; allowed 16..{state['max_memory_mib']}"
        )
    try:
        dom.setMemoryFlags(memory_mib * 1024, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    except libvirt.libvirtError as exc:
        raise ActuatorError(f"{state['name']}: setting memory to {memory_mib} MiB failed: {exc}") from exc
