from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from novacron.actuators.xml import DomainSpec, HostSpec, NumaCell, domain_xml, host_xml
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
