"""Host and domain XML built with ElementTree from validated fields — never string formatting."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field


class DomainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")
    vcpus: int = Field(ge=1, le=256)
    max_vcpus: int = Field(ge=1, le=256)
    memory_mib: int = Field(ge=16, le=4 * 1024 * 1024)
    max_memory_mib: int = Field(ge=16, le=4 * 1024 * 1024)
    labels: dict[str, str] = Field(default_factory=dict)


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
    ET.SubElement(dom, "vcpu", placement="static", current=str(spec.vcpus)).text = str(spec.max_vcpus)
    os_el = ET.SubElement(dom, "os")
    ET.SubElement(os_el, "type", arch="x86_64").text = "hvm"
    if spec.labels:
        meta = ET.SubElement(dom, "metadata")
        labels = ET.SubElement(meta, f"{{{_NOVACRON_NS}}}labels")
        for k, v in sorted(spec.labels.items()):
            ET.SubElement(labels, f"{{{_NOVACRON_NS}}}label", key=k, value=v)
    return dom


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
    labels = {
        el.get("key", ""): el.get("value", "")
        for el in root.iter(f"{{{_NOVACRON_NS}}}label")
        if el.get("key")
    }
    return DomainSpec(
        name=name, vcpus=int(vcpu.get("current", max_vcpus)), max_vcpus=max_vcpus,
        memory_mib=_mib(current) if current is not None and current.text else max_mem_mib,
        max_memory_mib=max_mem_mib, labels=labels,
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
