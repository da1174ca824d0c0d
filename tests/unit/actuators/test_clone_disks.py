"""A clone's disks are copy-on-write overlays of its source's image, made through libvirt's
storage API on the target host (the real test driver), and go with the clone; the source's own
writable layer is never shared, and a disk that cannot be overlaid is refused by name."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from novacron.actuators import simfleet
from novacron.actuators.clone import clone, remove_clone
from novacron.actuators.connection import ActuatorError, Fleet
from novacron.actuators.deadline import Deadline
from novacron.actuators.placement_state import domain_type
from novacron.actuators.xml import DiskSpec, DomainSpec, domain_xml, parse_domain
from novacron.autoscaler.live_group import GROUP_LABEL

SRC, DST = "host-000", "host-001"
POOL = "/srv/images"


@pytest.fixture
def fleet(fleet_dir: Path) -> Iterator[Fleet]:
    f = simfleet.build(fleet_dir, hosts=2, vms_per_host=1)
    yield f
    f.close()


def volume(pool: libvirt.virStoragePool, name: str, fmt: str, backing: str | None = None) -> str:
    back = f"<backingStore><path>{backing}</path><format type='raw'/></backingStore>" if backing else ""
    xml = (f"<volume><name>{name}</name><capacity unit='bytes'>10737418240</capacity>"
           f"<target><format type='{fmt}'/></target>{back}</volume>")
    return str(pool.createXML(xml, 0).path())


@pytest.fixture
def images(fleet: Fleet) -> dict[str, str]:
    """A shared pool, seen from the target host: the group's image, the source's overlay of it,
    a standalone disk."""
    conn = fleet.host(DST).get()
    pool = conn.storagePoolCreateXML(
        f"<pool type='dir'><name>images</name><target><path>{POOL}</path></target></pool>", 0)
    image = volume(pool, "web.img", "raw")
    return {"image": image, "layer": volume(pool, "web-1-vda.qcow2", "qcow2", backing=image),
            "standalone": volume(pool, "db.img", "raw")}


def source(fleet: Fleet, *disks: DiskSpec) -> str:
    spec = DomainSpec(name="web-1", vcpus=2, max_vcpus=4, memory_mib=1024, max_memory_mib=2048,
                      labels={GROUP_LABEL: "web"}, disks=disks)
    conn = fleet.host(SRC).get()
    conn.defineXML(domain_xml(spec, domain_type(conn))).create()
    return spec.name


def backing_of(fleet: Fleet, path: str) -> str | None:
    vol = fleet.host(DST).get().storageVolLookupByPath(path)
    return ET.fromstring(vol.XMLDesc(0)).findtext("backingStore/path")


def test_a_clone_writes_to_an_overlay_of_the_image_not_to_its_sources_disk(
        fleet: Fleet, images: dict[str, str]) -> None:
    iso = DiskSpec(source="/srv/iso/tools.iso", target="sda", bus="sata", format="raw",
                   device="cdrom", readonly=True)
    vm = source(fleet, DiskSpec(source=images["layer"], target="vda"), iso)
    clone(fleet, vm, SRC, DST, "web-1-c1", Deadline(10))
    dom = fleet.lookup(DST, "web-1-c1")
    assert dom is not None
    disks = {d.target: d for d in parse_domain(dom.XMLDesc(0)).disks}
    assert disks["vda"].source == f"{POOL}/web-1-c1-vda.qcow2" and disks["vda"].format == "qcow2"
    assert disks["vda"].source != images["layer"]
    assert backing_of(fleet, disks["vda"].source) == images["image"]  # the image, not the layer
    assert disks["sda"] == iso  # read-only media are shared
    # Executed again (a redelivered decision): the same clone, the same overlay.
    clone(fleet, vm, SRC, DST, "web-1-c1", Deadline(10))
    pool = fleet.host(DST).get().storagePoolLookupByName("images")
    assert sorted(pool.listVolumes()) == ["db.img", "web-1-c1-vda.qcow2", "web-1-vda.qcow2", "web.img"]


def test_removing_a_clone_deletes_its_overlays_and_nothing_else(
        fleet: Fleet, images: dict[str, str]) -> None:
    vm = source(fleet, DiskSpec(source=images["layer"], target="vda"))
    clone(fleet, vm, SRC, DST, "web-1-c1", Deadline(10))
    out = remove_clone(fleet, "web-1-c1", Deadline(10), group="web", graceful_s=0.1)
    assert "deleted its overlays" in out
    pool = fleet.host(DST).get().storagePoolLookupByName("images")
    assert sorted(pool.listVolumes()) == ["db.img", "web-1-vda.qcow2", "web.img"]


@pytest.mark.parametrize(("disk", "says"), [
    ("standalone", "standalone writable image"),
    ("elsewhere", "no storage pool of the target host"),
])
def test_a_disk_that_cannot_be_overlaid_is_refused_by_name(
        fleet: Fleet, images: dict[str, str], disk: str, says: str) -> None:
    path = images.get(disk, "/var/lib/elsewhere/web-1.qcow2")
    vm = source(fleet, DiskSpec(source=path, target="vda"))
    with pytest.raises(ActuatorError, match=says) as err:
        clone(fleet, vm, SRC, DST, "web-1-c1", Deadline(10))
    assert path in str(err.value)
    assert fleet.lookup(DST, "web-1-c1") is None  # nothing half-made
