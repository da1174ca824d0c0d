"""Read-only views of domains, used to verify every effect after acting."""

from __future__ import annotations

from typing import Any

import libvirt

_STATES = {
    libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTOFF: "shutoff", libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting-down", libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended",
}


def state_name(state: int) -> str:
    return _STATES.get(state, f"state-{state}")


def domain_state(dom: libvirt.virDomain) -> dict[str, Any]:
    state, max_mem_kib, mem_kib, vcpus, _cpu_time = dom.info()
    return {
        "name": dom.name(),
        "state": state_name(state),
        "vcpus": int(vcpus),
        "max_vcpus": int(dom.vcpusFlags(libvirt.VIR_DOMAIN_VCPU_MAXIMUM | libvirt.VIR_DOMAIN_AFFECT_CONFIG)),
        "memory_mib": int(mem_kib) // 1024,
        "max_memory_mib": int(max_mem_kib) // 1024,
    }
