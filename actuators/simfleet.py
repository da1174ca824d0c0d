"""The simulated fleet of the embedded default: libvirt test-driver hosts.

Each ``test:///<file>`` connection is one simulated host with its own state (capacity, NUMA
cells, domains). The layout is deterministic from its size, so the replayer and the worker
agree on VM names without talking to each other.
"""

from __future__ import annotations

from pathlib import Path

from novacron.actuators.connection import Fleet, HostConnection
from novacron.actuators.xml import DomainSpec, HostSpec, NumaCell, host_xml

RACKS_PER_ZONE = 2


def layout(hosts: int, vms_per_host: int) -> list[HostSpec]:
    if hosts < 1 or vms_per_host < 0:
        raise ValueError("a fleet needs at least one host and a non-negative number of VMs per host")
    specs = []
    for h in range(hosts):
        rack = h % (RACKS_PER_ZONE * 2)
        labels = {"rack": f"rack-{rack}", "zone": f"zone-{rack // RACKS_PER_ZONE}"}
        name = f"host-{h:03d}"
        domains = tuple(
            DomainSpec(
                name=f"vm-{h:03d}-{v:02d}", vcpus=2, max_vcpus=8, memory_mib=2048,
                max_memory_mib=8192, labels={"app": f"app-{v % 3}", "host": name},
            )
            for v in range(vms_per_host)
        )
        specs.append(HostSpec(name=name, cpus=32, memory_mib=131072,
                              numa=(NumaCell(16, 65536), NumaCell(16, 65536)),
                              labels=labels, domains=domains))
    return specs


def vm_ids(hosts: int, vms_per_host: int) -> list[tuple[str, str]]:
    """(vm_id, host_id) for every VM of the layout."""
    return [(d.name, h.name) for h in layout(hosts, vms_per_host) for d in h.domains]


def build(directory: Path, hosts: int, vms_per_host: int) -> Fleet:
    """Write one host XML per simulated host and open a connection to each."""
    directory.mkdir(parents=True, exist_ok=True)
    conns = []
    specs = layout(hosts, vms_per_host)
    for spec in specs:
        path = directory / f"{spec.name}.xml"
        path.write_text(host_xml(spec))
        conns.append(HostConnection(spec.name, f"test://{path.resolve()}", dict(spec.labels)))
    return Fleet(conns, {d.name: d for h in specs for d in h.domains})
