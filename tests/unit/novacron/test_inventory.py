"""The host inventory: every bad input names file, line and field; URIs get unique ids; what
is dumped reads back equal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from novacron.cli import app
from novacron.inventory import (
    Capacity,
    HostEntry,
    HostIdentity,
    Inventory,
    InventoryError,
    NumaCell,
    Overcommit,
    dump_inventory,
    inventory_from_uris,
    load_inventory,
    parse_inventory,
)

GOOD = """\
defaults:
  overcommit: {cpu: 4.0, memory: 1.0}
  labels: {tier: gold}
hosts:
  - id: kvm-01
    uri: qemu+ssh://root@kvm-01/system
    rack: r1
    zone: z1
    labels: {ssd: "true"}
    price_per_hour: 0.42
    overcommit: {memory: 1.5}
    numa: [{cpus: 16, memory_mib: 65536}, {cpus: 16, memory_mib: 65536}]
    capacity: {vcpus: 32, memory_mib: 131072, net_mbps: 10000, disk_gib: 2000, iops: 100000}
  - id: kvm-02
    uri: qemu+tls://kvm-02.example.com/system
"""


def test_a_good_inventory_merges_its_defaults() -> None:
    inv = parse_inventory(GOOD, "inv.yaml")
    a, b = inv.hosts
    assert a == HostEntry(
        id="kvm-01", uri="qemu+ssh://root@kvm-01/system", rack="r1", zone="z1",
        labels={"tier": "gold", "ssd": "true"}, price_per_hour=0.42,
        overcommit=Overcommit(cpu=4.0, memory=1.5),
        numa=(NumaCell(16, 65536), NumaCell(16, 65536)),
        capacity=Capacity(vcpus=32, memory_mib=131072, net_mbps=10000, disk_gib=2000, iops=100000))
    assert (b.rack, b.zone, b.numa, b.price_per_hour) == ("rack-0", "zone-0", None, None)
    assert b.overcommit == Overcommit(4.0, 1.0) and b.labels == {"tier": "gold"}
    assert b.host_labels() == {"tier": "gold", "rack": "rack-0", "zone": "zone-0"}


def _host(extra: str, host_id: str = "kvm-02", uri: str = "qemu+ssh://kvm-02/system") -> str:
    """A valid first host, then a second one with ``extra`` lines (line 6 onwards)."""
    body = f"    id: {host_id}\n    uri: {uri}\n" if host_id else f"    uri: {uri}\n"
    return ("hosts:\n"
            "  - id: kvm-01\n"
            "    uri: qemu+ssh://kvm-01/system\n"
            "  -\n" + body + extra)


BAD = [
    # (text, the one problem expected as file:line: field: message)
    (_host("    overcommit: {cpu: 0}\n"),
     "inv.yaml:7: hosts[1].overcommit.cpu: ratio 0 not in (0, 64]"),
    (_host("    overcommit:\n      memory: 65\n"),
     "inv.yaml:8: hosts[1].overcommit.memory: ratio 65 not in (0, 64]"),
    (_host("    overcommit: {cpu: fast}\n"),
     "inv.yaml:7: hosts[1].overcommit.cpu: write a number, not str 'fast'"),
    (_host("    overcommit: {disk: 2}\n"),
     "inv.yaml:7: hosts[1].overcommit.disk: unknown field 'disk'; allowed here: cpu, memory"),
    (_host("    price_per_hour: -0.1\n"),
     "inv.yaml:7: hosts[1].price_per_hour: -0.1 must be >= 0"),
    (_host("    price_per_hour: true\n"),
     "inv.yaml:7: hosts[1].price_per_hour: write a number, not the boolean true"),
    (_host("    numa: [{cpus: 0, memory_mib: 1024}]\n"),
     "inv.yaml:7: hosts[1].numa[0].cpus: 0 must be > 0"),
    (_host("    numa:\n      - {cpus: 4, memory_mib: 1024}\n      - {cpus: 4, memory_mib: -1}\n"),
     "inv.yaml:9: hosts[1].numa[1].memory_mib: -1 must be > 0"),
    (_host("    numa:\n      - {cpus: 4}\n"),
     "inv.yaml:8: hosts[1].numa[0]: required field 'memory_mib' is missing; add it"),
    (_host("    numa: []\n"),
     "inv.yaml:7: hosts[1].numa: write a non-empty list of cells, e.g. [{cpus: 16, memory_mib: "
     "65536}], not a list (an empty list)"),
    (_host("    capacity: {vcpus: 8}\n    numa: [{cpus: 16, memory_mib: 1024}]\n"),
     "inv.yaml:8: hosts[1].numa: the cells hold 16 cpus, more than capacity.vcpus 8"),
    (_host("    capacity: {vcpus: 2.5}\n"),
     "inv.yaml:7: hosts[1].capacity.vcpus: write a whole number, not float 2.5"),
    (_host("    capacity: {iops: -5}\n"),
     "inv.yaml:7: hosts[1].capacity.iops: -5 must be >= 0"),
    (_host("    overcomit: {cpu: 2}\n"),
     "inv.yaml:7: hosts[1].overcomit: unknown field 'overcomit'; did you mean 'overcommit'? allowed "
     "here: id, uri, rack, zone, labels, price_per_hour, overcommit, numa, capacity"),
    (_host("", host_id="kvm-01"),
     "inv.yaml:5: hosts[1].id: duplicate host id 'kvm-01' (first at hosts[0], line 2); ids must be "
     "unique"),
    (_host("", host_id=""),
     "inv.yaml:5: hosts[1]: required field 'id' is missing; add it"),
    (_host("", host_id="kvm 02"),
     "inv.yaml:5: hosts[1].id: host id 'kvm 02' must be 1-150 characters of letters, digits, '_', "
     "'.' and '-'"),
    (_host("", host_id="007"),
     "inv.yaml:5: hosts[1].id: write the host id as a string (quote it), not int 7"),
    (_host("", uri="vmware://x/y"),
     "inv.yaml:6: hosts[1].uri: unknown libvirt driver 'vmware' in 'vmware://x/y'; use one of bhyve, "
     "ch, esx, gsx, hyperv, libxl, lxc, openvz, qemu, test, vbox, vmwarefusion, vmwareplayer, "
     "vmwarews, vpx, vz, xen"),
    (_host("", uri="qemu+telnet://x/system"),
     "inv.yaml:6: hosts[1].uri: unknown libvirt transport 'telnet' in 'qemu+telnet://x/system'; use "
     "one of ext, libssh, libssh2, ssh, tcp, tls, unix"),
    (_host("", uri="kvm-02"),
     "inv.yaml:6: hosts[1].uri: 'kvm-02' is not a libvirt URI; write driver[+transport]://[host]/path, "
     "e.g. qemu+ssh://root@kvm-01/system"),
    (_host("", uri="qemu+ssh://kvm-01/system"),
     "inv.yaml:6: hosts[1].uri: qemu+ssh://kvm-01/system is also hosts[0]'s URI; one libvirt daemon "
     "is one host"),
    (_host("    labels: {ssd: true}\n"),
     "inv.yaml:7: hosts[1].labels.ssd: label values are strings: quote it (ssd: \"true\"), not the "
     "boolean true"),
    (_host("    labels: {rack: r9}\n"),
     "inv.yaml:7: hosts[1].labels.rack: set the host's rack with the 'rack' field, not as a label"),
    (_host("    rack: r1\n    rack: r2\n"),
     "inv.yaml:8: hosts[1].rack: written twice in this mapping (first at line 7); keep one, YAML "
     "would silently drop the other"),
    ("defaults:\n  overcommit: {cpu: 100}\nhosts:\n  - id: a\n    uri: test:///default\n",
     "inv.yaml:2: defaults.overcommit.cpu: ratio 100 not in (0, 64]"),
    ("defaults:\n  id: x\nhosts:\n  - id: a\n    uri: test:///default\n",
     "inv.yaml:2: defaults.id: unknown field 'id'; allowed here: rack, zone, labels, price_per_hour, "
     "overcommit, numa, capacity"),
    ("hosts: []\n", "inv.yaml:1: hosts: write a non-empty list of hosts (- id: ..., uri: ...)"),
    ("host:\n  - id: a\n", "inv.yaml:1: host: unknown field 'host'; did you mean 'hosts'? allowed "
     "here: defaults, hosts\ninv.yaml:1: required field 'hosts' is missing; list the hosts under it"),
    ("", "inv.yaml:1: the inventory is empty; write a 'hosts' list"),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[e.split(": ", 2)[1] + "|" + e[-30:]
                                                         for _, e in BAD])
def test_every_bad_input_names_file_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(InventoryError) as caught:
        parse_inventory(text, "inv.yaml")
    assert str(caught.value) == expected
    file, line, _ = expected.split(":", 2)
    assert (caught.value.file, caught.value.line) == (file, int(line))


def test_a_yaml_syntax_error_names_its_line() -> None:
    # libyaml and the pure-Python parser word it differently; the line and the advice agree.
    with pytest.raises(InventoryError) as caught:
        parse_inventory("hosts:\n  - id: a\n   uri: x\n", "inv.yaml")
    assert str(caught.value).startswith("inv.yaml:3: YAML syntax error: ")
    assert str(caught.value).endswith("; fix the indentation or quoting at this line")


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    text = _host("    overcommit: {cpu: 0}\n    price_per_hour: -1\n", host_id="kvm-01")
    with pytest.raises(InventoryError) as caught:
        parse_inventory(text, "inv.yaml")
    assert [(p.line, p.field) for p in caught.value.problems] == [
        (5, "hosts[1].id"), (7, "hosts[1].overcommit.cpu"), (8, "hosts[1].price_per_hour")]


def test_a_missing_file_is_an_inventory_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"nope.yaml:1: cannot read the inventory"):
        load_inventory(tmp_path / "nope.yaml")


def test_dump_reads_back_equal(tmp_path: Path) -> None:
    inv = parse_inventory(GOOD, "inv.yaml")
    path = tmp_path / "again.yaml"
    path.write_text(dump_inventory(inv))
    assert load_inventory(path) == inv
    bare = Inventory((HostEntry("h", "test:///default"),))
    assert parse_inventory(dump_inventory(bare)) == bare


# -- NOVACRON_HOST_URIS ----------------------------------------------------------------------


def test_uris_with_the_same_last_path_segment_get_their_hosts_as_ids() -> None:
    inv = inventory_from_uris(["qemu+ssh://a/system", "qemu+ssh://root@b:2222/system",
                               "qemu+tls://c.example.com/system"])
    assert inv.ids == ["a", "b", "c.example.com"]
    assert inv.hosts[1].uri == "qemu+ssh://root@b:2222/system"


def test_colliding_ids_move_to_their_next_candidate_whatever_the_order() -> None:
    uris = ["qemu+ssh://a/system", "qemu+ssh://a/session", "qemu+ssh://b/system",
            "qemu+unix:///system?socket=/srv/hosts/kvm-07/run/libvirt-sock",
            "qemu+unix:///system?socket=/srv/hosts/kvm-08/run/libvirt-sock",
            "test:///default", "test:///default"]
    ids = inventory_from_uris(uris).ids
    assert ids == ["a-system", "a-session", "b", "kvm-07", "kvm-08", "default", "default-2"]
    assert len(set(ids)) == len(ids)
    backwards = inventory_from_uris(uris[::-1])
    assert dict(zip(backwards.ids, uris[::-1], strict=True))["a-system"] == "qemu+ssh://a/system"


def test_a_local_uri_takes_libvirts_hostname_then_its_uuid() -> None:
    said = {"qemu:///system": HostIdentity("node-7.example.com", "6f1c0c36-4d6e-4f8e-9c55-2d0b1a3e9f00"),
            "qemu+unix:///system?socket=/srv/h2/libvirt-sock":
                HostIdentity("node-7.example.com", "0e5f7f2a-7a3c-4b8e-8d1f-3c2b1a0f9e11")}
    assert inventory_from_uris(["qemu:///system"], identify=said.get).ids == ["node-7.example.com"]
    # Two daemons on one machine share the hostname: the socket's name and the UUID tell them apart.
    assert inventory_from_uris(list(said), identify=said.get).ids == [
        "6f1c0c36-4d6e-4f8e-9c55-2d0b1a3e9f00", "h2"]
    # Unreachable (no identity): the path, as before.
    assert inventory_from_uris(["qemu:///system"], identify=lambda _u: None).ids == ["system"]


def test_bad_or_repeated_uris_are_refused_by_position() -> None:
    with pytest.raises(InventoryError) as caught:
        inventory_from_uris(["qemu+ssh://a/system", "ftp://x/y", "qemu+ssh://a/system"])
    assert [str(p).split(": ", 2)[:2] for p in caught.value.problems] == [
        ["NOVACRON_HOST_URIS:2", "host_uris[1]"], ["NOVACRON_HOST_URIS:3", "host_uris[2]"]]
    assert "listed twice (also host_uris[0])" in str(caught.value)


# -- the command line ------------------------------------------------------------------------


def test_inventory_validate_prints_hosts_or_the_error_with_exit_2(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(_host("    overcommit: {cpu: 0}\n"))
    runner = CliRunner()
    ok = runner.invoke(app, ["inventory", "validate", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "2 hosts, valid" in ok.output and "kvm-01  qemu+ssh://root@kvm-01/system" in ok.output
    assert "overcommit=cpu:4,memory:1.5" in ok.output
    failed = runner.invoke(app, ["inventory", "validate", str(bad)])
    assert failed.exit_code == 2
    assert f"{bad}:7: hosts[1].overcommit.cpu: ratio 0 not in (0, 64]" in failed.output


def test_worker_without_hosts_says_how_to_give_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from novacron.settings import get_settings

    monkeypatch.delenv("NOVACRON_INVENTORY", raising=False)
    monkeypatch.setenv("NOVACRON_HOST_URIS", "[]")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["worker"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "pass --inventory FILE, or set NOVACRON_INVENTORY" in result.output
