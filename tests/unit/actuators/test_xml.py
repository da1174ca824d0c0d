from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from novacron.actuators.xml import (
    DiskSpec,
    DomainSpec,
    HostSpec,
    NicSpec,
    NumaCell,
    domain_xml,
    host_xml,
    parse_domain,
)
from pydantic import ValidationError


def spec(**kw: object) -> DomainSpec:
    base: dict[str, object] = dict(name="vm-1", vcpus=2, max_vcpus=4, memory_mib=1024,
                                   max_memory_mib=2048)
    base.update(kw)
    return DomainSpec(**base)  # type: ignore[arg-type]


def test_domain_xml_carries_validated_fields() -> None:
    root = ET.fromstring(domain_xml(spec(labels={"app": "web"})))
    assert root.findtext("name") == "vm-1"
    assert root.find("vcpu").get("current") == "2" and root.findtext("vcpu") == "4"
    assert root.findtext("currentMemory") == str(1024 * 1024)


@pytest.mark.parametrize("name", ["a b", "x/../../etc", "<script>", ""])
def test_names_that_could_inject_xml_or_paths_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError):
        spec(name=name)


def test_label_values_are_escaped_not_interpreted() -> None:
    xml = domain_xml(spec(labels={"app": '"/><evil/>'}))
    root = ET.fromstring(xml)
    assert root.find(".//evil") is None


def test_current_above_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        domain_xml(spec(vcpus=8))


def test_numa_cells_must_add_up() -> None:
    with pytest.raises(ValueError, match="NUMA"):
        host_xml(HostSpec("h", 8, 1024, (NumaCell(2, 512),)))


def devices_spec(**kw: object) -> DomainSpec:
    return spec(disks=(DiskSpec(source="/var/lib/novacron/vm-1.qcow2", target="vda"),
                       DiskSpec(source="/srv/iso/tools.iso", target="sda", bus="sata",
                                format="raw", device="cdrom", readonly=True)),
                nics=(NicSpec(kind="network", source="default", mac="52:54:00:aa:bb:01"),
                      NicSpec(kind="bridge", source="br0", model="e1000"),
                      NicSpec(kind="user")), **kw)


def test_disks_and_nics_round_trip_through_xml() -> None:
    s = devices_spec()
    root = ET.fromstring(domain_xml(s, "kvm"))
    assert [d.find("target").get("dev") for d in root.iterfind("devices/disk")] == ["vda", "sda"]
    assert root.find("devices/disk/readonly") is not None
    assert root.find("devices/interface/source").get("network") == "default"
    assert parse_domain(domain_xml(s, "kvm")) == s


@pytest.mark.parametrize("bad", [
    dict(disks=(DiskSpec(source="/a.img", target="vda"), DiskSpec(source="/b.img", target="vda"))),
    dict(nics=(NicSpec(source="n1", mac="52:54:00:00:00:01"),
               NicSpec(source="n2", mac="52:54:00:00:00:01"))),
])
def test_duplicate_disk_targets_or_macs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="two"):
        spec(**bad)


@pytest.mark.parametrize("build", [
    lambda: DiskSpec(source="/var/lib/../../etc/shadow", target="vda"),
    lambda: DiskSpec(source="relative.img", target="vda"),
    lambda: DiskSpec(source="/a.img", target="vda'/><x"),
    lambda: NicSpec(kind="user", source="default"),
    lambda: NicSpec(kind="bridge"),
    lambda: NicSpec(source="default", mac="not-a-mac"),
])
def test_device_fields_are_validated(build: Callable[[], object]) -> None:
    with pytest.raises(ValidationError):
        build()


def test_a_device_that_cannot_be_carried_is_refused_not_dropped() -> None:
    xml = domain_xml(spec(), "kvm").replace(
        "</os>", "</os><devices><disk type='block' device='disk'><source dev='/dev/sdb'/>"
                 "<target dev='vdb' bus='virtio'/></disk></devices>")
    with pytest.raises(ValueError, match="'block' disk cannot be carried"):
        parse_domain(xml)
