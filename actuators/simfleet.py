"""The simulated fleet of the embedded default: libvirt test-driver hosts.

Each ``test:///<file>`` connection is one simulated host with its own state (capacity, NUMA
cells, domains). The layout is deterministic from its size, so the replayer and the worker
agree on VM names without talking to each other. The fleet is written as an inventory file
(``inventory.yaml``: rack, zone, NUMA cells, price) and opened through the same
``inventory_fleet.open_fleet`` as real hosts.
"""

from __future__ import annotations

from pathlib import Path

from novacron.actuators.connection import Fleet
from novacron.actuators.inventory_fleet import open_fleet
from novacron.actuators.xml import DomainSpec, HostSpec, NumaCell, host_xml

from novacron import inventory as inv

RACKS_PER_ZONE = 2
INVENTORY_FILE = "inventory.yaml"
SOURCE = "simulated"
# Hourly prices per zone, so the cost strategy has something to weigh.
ZONE_PRICES = (0.48, 0.40)


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


def inventory_of(directory: Path, specs: list[HostSpec]) -> inv.Inventory:
    """The inventory of a layout whose host files are (to be) in ``directory``."""
    entries = []
    for spec in specs:
        zone = spec.labels["zone"]
        entries.append(inv.HostEntry(
            id=spec.name, uri=f"test://{(directory / f'{spec.name}.xml').resolve()}",
            rack=spec.labels["rack"], zone=zone,
            price_per_hour=ZONE_PRICES[int(zone.rsplit("-", 1)[-1]) % len(ZONE_PRICES)],
            overcommit=inv.Overcommit(cpu=1.0, memory=1.0),
            # The test driver reports no NUMA cells for a host file: the inventory says them.
            numa=tuple(inv.NumaCell(c.cpus, c.memory_mib) for c in spec.numa),
        ))
    return inv.Inventory(tuple(entries), source=SOURCE)


def write(directory: Path, hosts: int, vms_per_host: int) -> Path:
    """Write one host XML per simulated host and the fleet's inventory; its path."""
    directory.mkdir(parents=True, exist_ok=True)
    specs = layout(hosts, vms_per_host)
    for spec in specs:
        (directory / f"{spec.name}.xml").write_text(host_xml(spec))
    path = directory / INVENTORY_FILE
    path.write_text(inv.dump_inventory(inventory_of(directory, specs)))
    return path


def build(directory: Path, hosts: int, vms_per_host: int) -> Fleet:
    """Write the simulated fleet (host files and inventory) and open it as any inventory."""
    inventory = inv.load_inventory(write(directory, hosts, vms_per_host))
    fleet = open_fleet(inventory)
    fleet.specs.update({d.name: d for h in layout(hosts, vms_per_host) for d in h.domains})
    return fleet
