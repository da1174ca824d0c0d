"""Host and domain XML built with ElementTree from validated fields — never string formatting."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_NAME = r"^[A-Za-z0-9_.\-]+$"


class DiskSpec(BaseModel):
    """A file-backed disk. Other kinds (block, network) are refused when read back, so a move
    or a clone never silently drops a device it cannot carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field(min_length=2, max_length=1024, pattern=r"^/[A-Za-z0-9_.+\-/]+$")
    target: str = Field(pattern=r"^(vd|sd|hd)[a-z]{1,2}$")
    bus: Literal["virtio", "sata", "scsi", "ide"] = "virtio"
    format: Literal["raw", "qcow2"] = "qcow2"
    device: Literal["disk", "cdrom"] = "disk"
    readonly: bool = False

    @model_validator(mode="after")
    def _no_traversal(self) -> DiskSpec:
        if "/../" in f"{self.source}/" or "/./" in f"{self.source}/":
            raise ValueError(f"disk source {self.source!r}: relative components are not allowed")
        return self


class NicSpec(BaseModel):
    """A network interface: on a libvirt network, a host bridge, or QEMU's user networking."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["network", "bridge", "user"] = "network"
    source: str | None = Field(default=None, min_length=1, max_length=64, pattern=_NAME)
    mac: str | None = Field(default=None, pattern=r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
    model: Literal["virtio", "e1000", "rtl8139"] = "virtio"

    @model_validator(mode="after")
    def _source_matches_kind(self) -> NicSpec:
        if (self.kind == "user") != (self.source is None):
            raise ValueError(f"a {self.kind} interface "
                             + ("takes no source" if self.kind == "user" else "needs a source"))
        return self


class DomainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=200, pattern=_NAME)
    vcpus: int = Field(ge=1, le=256)
    max_vcpus: int = Field(ge=1, le=256)
    memory_mib: int = Field(ge=16, le=4 * 1024 * 1024)
    max_memory_mib: int = Field(ge=16, le=4 * 1024 * 1024)
    labels: dict[str, str] = Field(default_factory=dict)
    disks: tuple[DiskSpec, ...] = ()
    nics: tuple[NicSpec, ...] = ()
    # Host CPUs its vCPUs (and QEMU's emulator threads) may run on, and host NUMA nodes its
    # memory must come from (strictly): the cells a placement chose. Empty: float freely.
    cpuset: tuple[int, ...] = Field(default=(), max_length=4096)
    numa_nodes: tuple[int, ...] = Field(default=(), max_length=1024)

    @model_validator(mode="after")
    def _unique_devices(self) -> DomainSpec:
        targets = [d.target for d in self.disks]
        if len(set(targets)) != len(targets):
            raise ValueError(f"domain {self.name}: two disks on one target ({sorted(targets)})")
        macs = [n.mac for n in self.nics if n.mac is not None]
        if len(set(macs)) != len(macs):
            raise ValueError(f"domain {self.name}: two interfaces with one MAC address")
        if any(c < 0 for c in (*self.cpuset, *self.numa_nodes)):
            raise ValueError(f"domain {self.name}: CPU and NUMA node numbers cannot be negative")
        return self


@dataclass(frozen=True, slots=True)
class NumaCell:
    cpus: int
    memory_mib: int


@dataclass(frozen=True, slots=True)
class HostSpec:
    name: str
    cpus: int
    memory_mib: int
    numa: tuple[NumaCell, ...]
    labels: dict[str, str] = field(default_factory=dict)
    domains: tuple[DomainSpec, ...] = ()


_NOVACRON_NS = "https://novacron.dev/xmlns/labels/1"


def domain_element(spec: DomainSpec, domain_type: str = "test") -> ET.Element:
    if spec.vcpus > spec.max_vcpus:
        raise ValueError(f"domain {spec.name}: vcpus {spec.vcpus} exceeds max_vcpus {spec.max_vcpus}")
    if spec.memory_mib > spec.max_memory_mib:
        raise ValueError(f"domain {spec.name}: memory exceeds max_memory_mib")
    dom = ET.Element("domain", type=domain_type)
    ET.SubElement(dom, "name").text = spec.name
    ET.SubElement(dom, "memory", unit="KiB").text = str(spec.max_memory_mib * 1024)
    ET.SubElement(dom, "currentMemory", unit="KiB").text = str(spec.memory_mib * 1024)
    vcpu = ET.SubElement(dom, "vcpu", placement="static", current=str(spec.vcpus))
    vcpu.text = str(spec.max_vcpus)
    if spec.cpuset:
        # On <vcpu>, not per-vCPU <vcpupin>: it also binds vCPUs hot-added later.
        vcpu.set("cpuset", ranges(spec.cpuset))
        ET.SubElement(ET.SubElement(dom, "cputune"), "emulatorpin", cpuset=ranges(spec.cpuset))
    if spec.numa_nodes:
        ET.SubElement(ET.SubElement(dom, "numatune"), "memory", mode="strict",
                      nodeset=ranges(spec.numa_nodes))
    os_el = ET.SubElement(dom, "os")
    ET.SubElement(os_el, "type", arch="x86_64").text = "hvm"
    if spec.disks or spec.nics:
        devices = ET.SubElement(dom, "devices")
        for disk in spec.disks:
            devices.append(_disk_element(disk))
        for nic in spec.nics:
            devices.append(_nic_element(nic))
    if spec.labels:
        meta = ET.SubElement(dom, "metadata")
        labels = ET.SubElement(meta, f"{{{_NOVACRON_NS}}}labels")
        for k, v in sorted(spec.labels.items()):
            ET.SubElement(labels, f"{{{_NOVACRON_NS}}}label", key=k, value=v)
    return dom


def ranges(numbers: tuple[int, ...] | list[int]) -> str:
    """libvirt's CPU/node list syntax: ``0-3,8,10-11``."""
    out: list[str] = []
    ordered = sorted(set(numbers))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def _disk_element(disk: DiskSpec) -> ET.Element:
    el = ET.Element("disk", type="file", device=disk.device)
    ET.SubElement(el, "driver", name="qemu", type=disk.format)
    ET.SubElement(el, "source", file=disk.source)
    ET.SubElement(el, "target", dev=disk.target, bus=disk.bus)
    if disk.readonly:
        ET.SubElement(el, "readonly")
    return el


def _nic_element(nic: NicSpec) -> ET.Element:
    el = ET.Element("interface", type=nic.kind)
    if nic.mac is not None:
        ET.SubElement(el, "mac", address=nic.mac)
    if nic.source is not None:
        ET.SubElement(el, "source", {nic.kind: nic.source})
    ET.SubElement(el, "model", type=nic.model)
    return el


def domain_xml(spec: DomainSpec, domain_type: str = "test") -> str:
    ET.register_namespace("novacron", _NOVACRON_NS)
    return ET.tostring(domain_element(spec, domain_type), encoding="unicode")


def host_xml(spec: HostSpec) -> str:
    """A libvirt test-driver node: capacity, NUMA cells and the domains defined on it."""
    if sum(c.cpus for c in spec.numa) != spec.cpus:
        raise ValueError(f"host {spec.name}: NUMA cells' cpus must add up to {spec.cpus}")
    ET.register_namespace("novacron", _NOVACRON_NS)
    node = ET.Element("node")
    cpu = ET.SubElement(node, "cpu")
    ET.SubElement(cpu, "mhz").text = "2400"
    ET.SubElement(cpu, "model").text = "x86_64"
    ET.SubElement(cpu, "active").text = str(spec.cpus)
    ET.SubElement(cpu, "total").text = str(spec.cpus)
    ET.SubElement(cpu, "nodes").text = str(len(spec.numa))
    ET.SubElement(cpu, "sockets").text = str(len(spec.numa))
    ET.SubElement(cpu, "cores").text = str(spec.cpus // max(1, len(spec.numa)))
    ET.SubElement(cpu, "threads").text = "1"
    ET.SubElement(node, "memory").text = str(spec.memory_mib * 1024)
    for d in spec.domains:
        node.append(domain_element(d))
    return ET.tostring(node, encoding="unicode")


def parse_domain(xml: str) -> DomainSpec:
    """The validated fields of a domain's XML (as libvirt returns it), to define it elsewhere."""
    root = ET.fromstring(xml)  # noqa: S314 - libvirt's own XML for a domain we manage
    name = root.findtext("name")
    vcpu = root.find("vcpu")
    memory = root.find("memory")
    current = root.find("currentMemory")
    if name is None or vcpu is None or vcpu.text is None or memory is None or memory.text is None:
        raise ValueError("domain XML lacks name, vcpu or memory")
    max_vcpus = int(vcpu.text)
    max_mem_mib = _mib(memory)
    labels = _labels(root)
    return DomainSpec(
        name=name, vcpus=int(vcpu.get("current", max_vcpus)), max_vcpus=max_vcpus,
        memory_mib=_mib(current) if current is not None and current.text else max_mem_mib,
        max_memory_mib=max_mem_mib, labels=labels,
        disks=tuple(_parse_disk(name, el) for el in root.iterfind("devices/disk")),
        nics=tuple(_parse_nic(name, el) for el in root.iterfind("devices/interface")),
    )


def domain_labels(xml: str) -> dict[str, str]:
    """Only the NovaCron labels of a domain's XML (no other field is validated, so a domain
    whose devices parse_domain does not model still yields its labels)."""
    return _labels(ET.fromstring(xml))  # noqa: S314 - libvirt's own XML


def _labels(root: ET.Element) -> dict[str, str]:
    return {
        el.get("key", ""): el.get("value", "")
        for el in root.iter(f"{{{_NOVACRON_NS}}}label")
        if el.get("key")
    }


def _parse_disk(vm: str, el: ET.Element) -> DiskSpec:
    source, target = el.find("source"), el.find("target")
    driver = el.find("driver")
    if el.get("type") != "file" or source is None or source.get("file") is None \
            or target is None:
        raise ValueError(f"domain {vm}: a {el.get('type')!r} disk cannot be carried to another "
                         "host (only file-backed disks are)")
    return DiskSpec(
        source=source.get("file", ""), target=target.get("dev", ""),
        bus=target.get("bus", "virtio"),  # type: ignore[arg-type]  # validated by pydantic
        format=(driver.get("type", "raw") if driver is not None else "raw"),  # type: ignore[arg-type]
        device=el.get("device", "disk"),  # type: ignore[arg-type]
        readonly=el.find("readonly") is not None)


def _parse_nic(vm: str, el: ET.Element) -> NicSpec:
    kind = el.get("type", "")
    if kind not in ("network", "bridge", "user"):
        raise ValueError(f"domain {vm}: a {kind!r} interface cannot be carried to another host")
    source = el.find("source")
    mac = el.find("mac")
    model = el.find("model")
    return NicSpec(
        kind=kind,  # type: ignore[arg-type]  # checked just above
        source=source.get(kind) if source is not None and kind != "user" else None,
        mac=mac.get("address") if mac is not None else None,
        model=model.get("type", "virtio") if model is not None else "virtio",  # type: ignore[arg-type]
    )


_UNIT_KIB = {"b": 1 / 1024, "bytes": 1 / 1024, "k": 1, "kib": 1, "kb": 1000 / 1024,
             "m": 1024, "mib": 1024, "mb": 1000**2 / 1024, "g": 1024**2, "gib": 1024**2}


def _mib(el: ET.Element) -> int:
    unit = el.get("unit", "KiB").lower()
    if unit not in _UNIT_KIB:
        raise ValueError(f"unknown memory unit {unit!r}")
    return int(int(el.text or "0") * _UNIT_KIB[unit]) // 1024


# The operator's shutdown is recorded on the domain itself, so every actuator (and a restarted
# one) honours it without a shared store: a healer never starts what an operator stopped.
OPERATOR_NS = "https://novacron.dev/xmlns/operator/1"
OPERATOR_PREFIX = "novacronop"


def operator_hold_xml(reason: str, at: str) -> str:
    """The metadata element (no namespace: libvirt adds it) marking an operator's shutdown."""
    return ET.tostring(ET.Element("hold", by="operator", reason=reason, at=at), encoding="unicode")
