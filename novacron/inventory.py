"""The host inventory: which libvirt hosts NovaCron manages, and what libvirt cannot say
about them (rack, zone, labels, price, overcommit, and NUMA or capacity to override it).

The YAML is parsed the way policy files are (``novacron.policy.loader``): PyYAML composes a
node tree, one walk records the line of every key path and builds plain data, and every
problem is reported as ``file:line: field.path: what to do``, all of them at once. The
``NOVACRON_HOST_URIS`` shorthand becomes the same ``Inventory``, so real and simulated fleets,
URIs or a file, take one code path from here on. Pure: no libvirt, no database.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

__all__ = [
    "Capacity",
    "HostEntry",
    "HostFacts",
    "HostIdentity",
    "Inventory",
    "InventoryError",
    "NumaCell",
    "Overcommit",
    "Probe",
    "Problem",
    "dump_inventory",
    "host_facts_of",
    "inventory_from_uris",
    "load_inventory",
    "parse_inventory",
]

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,150}$")
MAX_OVERCOMMIT = 64.0
DEFAULT_RACK = "rack-0"
DEFAULT_ZONE = "zone-0"
# libvirt's hypervisor drivers and remote transports (libvirt.org/uri.html).
DRIVERS = frozenset({"qemu", "test", "lxc", "xen", "libxl", "ch", "bhyve", "vz", "openvz",
                     "esx", "vpx", "gsx", "hyperv", "vbox", "vmwareplayer", "vmwarews",
                     "vmwarefusion"})
TRANSPORTS = frozenset({"ssh", "libssh", "libssh2", "tcp", "tls", "unix", "ext"})

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Loc = tuple[str | int, ...]


# -- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overcommit:
    cpu: float = 1.0
    memory: float = 1.0


@dataclass(frozen=True)
class NumaCell:
    cpus: int
    memory_mib: int


@dataclass(frozen=True)
class Capacity:
    """What the host offers; a field left out is read from libvirt (vCPUs, memory) or takes
    placement's default (network, disk, IOPS)."""

    vcpus: int | None = None
    memory_mib: int | None = None
    net_mbps: float | None = None
    disk_gib: float | None = None
    iops: float | None = None


@dataclass(frozen=True)
class HostEntry:
    id: str
    uri: str
    rack: str = DEFAULT_RACK
    zone: str = DEFAULT_ZONE
    labels: dict[str, str] = field(default_factory=dict)
    price_per_hour: float | None = None
    overcommit: Overcommit | None = None
    numa: tuple[NumaCell, ...] | None = None  # None: read from libvirt's capabilities
    capacity: Capacity = Capacity()

    def host_labels(self) -> dict[str, str]:
        """The labels placement and the actuators see: the entry's, with its rack and zone."""
        return {**self.labels, "rack": self.rack, "zone": self.zone}


@dataclass(frozen=True)
class Inventory:
    hosts: tuple[HostEntry, ...]
    # Where it came from (a file path, NOVACRON_HOST_URIS, the simulated fleet); recorded with
    # each host's facts, not part of what the inventory says.
    source: str = field(default="<string>", compare=False)

    @property
    def ids(self) -> list[str]:
        return [h.id for h in self.hosts]

    def host(self, host_id: str) -> HostEntry:
        for h in self.hosts:
            if h.id == host_id:
                return h
        raise KeyError(f"host {host_id!r} is not in the inventory {self.source}; hosts: {self.ids}")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str  # e.g. hosts[1].overcommit.cpu; "" for the whole file
    message: str

    def __str__(self) -> str:
        where = f" {self.field}:" if self.field else ""
        return f"{self.file}:{self.line}:{where} {self.message}"


class InventoryError(ValueError):
    """Every problem of an inventory, one per line; ``file``, ``line`` and ``field`` are the
    first one's."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("an InventoryError needs at least one problem")
        self.problems = list(problems)
        first = self.problems[0]
        self.file, self.line, self.field = first.file, first.line, first.field
        super().__init__("\n".join(str(p) for p in self.problems))


# -- reading YAML with lines ----------------------------------------------------------------


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class _Reader:
    """Node tree -> (plain data, line of every key path), then typed checks that report
    problems against those lines."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[Loc, int] = {}
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")

    def line_of(self, loc: Loc) -> int:
        parts = list(loc)
        while parts:
            found = self.lines.get(tuple(parts))
            if found is not None:
                return found
            parts.pop()
        return self.lines.get((), 1)

    def error(self, loc: Loc, message: str) -> None:
        self.problems.append(Problem(self.file, self.line_of(loc), _dotted(loc), message))

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node, loc)
                line = key_node.start_mark.line + 1
                if not isinstance(key, str):
                    self.problems.append(Problem(self.file, line, _dotted(loc),
                                                 f"key {key!r} must be a string; quote it"))
                    continue
                child = (*loc, key)
                if key in out:
                    self.problems.append(Problem(
                        self.file, line, _dotted(child),
                        f"written twice in this mapping (first at line {self.lines[child]}); "
                        "keep one, YAML would silently drop the other"))
                    continue
                self.lines[child] = line
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                self.lines[(*loc, i)] = item.start_mark.line + 1
                items.append(self.build(item, (*loc, i)))
            return items
        return self._constructor.construct_object(node, deep=True)

    # -- typed checks: each returns the value, or None after recording a problem --

    def mapping(self, value: Any, loc: Loc, allowed: Iterable[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(loc, f"write a mapping (key: value lines), not {_kind(value)}")
            return None
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'? " if close else ""
                self.error((*loc, key), f"unknown field '{key}'; {hint}allowed here: "
                           f"{', '.join(allowed)}")
        return value

    def name(self, value: Any, loc: Loc, what: str) -> str | None:
        if not isinstance(value, str):
            self.error(loc, f"write the {what} as a string (quote it), not {_kind(value)}")
            return None
        if not ID_PATTERN.match(value):
            self.error(loc, f"{what} {value!r} must be 1-150 characters of letters, digits, "
                       "'_', '.' and '-'")
            return None
        return value

    def number(self, value: Any, loc: Loc) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.error(loc, f"write a number, not {_kind(value)}")
            return None
        return float(value)

    def whole(self, value: Any, loc: Loc, minimum: int = 1) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(loc, f"write a whole number, not {_kind(value)}")
            return None
        if value < minimum:
            self.error(loc, f"{value} must be > {minimum - 1}")
            return None
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def uri_problem(uri: str) -> str | None:
    """What is wrong with a libvirt URI, or None. Only the form is checked: whether the host
    answers is the fleet's concern, at run time."""
    if not uri or any(c.isspace() for c in uri):
        return f"{uri!r} is not a libvirt URI (it is empty or has spaces)"
    scheme, sep, _rest = uri.partition("://")
    if not sep:
        return f"{uri!r} is not a libvirt URI; write driver[+transport]://[host]/path, e.g. " \
               "qemu+ssh://root@kvm-01/system"
    driver, _, transport = scheme.partition("+")
    if driver not in DRIVERS:
        return f"unknown libvirt driver {driver!r} in {uri!r}; use one of {', '.join(sorted(DRIVERS))}"
    if transport and transport not in TRANSPORTS:
        return (f"unknown libvirt transport {transport!r} in {uri!r}; use one of "
                f"{', '.join(sorted(TRANSPORTS))}")
    return None


# -- the inventory file ----------------------------------------------------------------------

_HOST_FIELDS = ("id", "uri", "rack", "zone", "labels", "price_per_hour", "overcommit", "numa",
                "capacity")
_CAPACITY_WHOLE = ("vcpus", "memory_mib")
_CAPACITY_NUMBER = ("net_mbps", "disk_gib", "iops")


def _host_fields(r: _Reader, raw: Any, loc: Loc, *, defaults: bool) -> dict[str, Any] | None:
    """The checked fields of one host entry (or of ``defaults``), as given: nothing merged."""
    allowed = _HOST_FIELDS[2:] if defaults else _HOST_FIELDS
    data = r.mapping(raw, loc, allowed)
    if data is None:
        return None
    out: dict[str, Any] = {}
    if not defaults:
        for key in ("id", "uri"):
            if key not in data:
                r.error(loc, f"required field '{key}' is missing; add it")
        if "id" in data:
            out["id"] = r.name(data["id"], (*loc, "id"), "host id")
        if "uri" in data:
            uri = data["uri"]
            if not isinstance(uri, str):
                r.error((*loc, "uri"), f"write the libvirt URI as a string, not {_kind(uri)}")
            elif (bad := uri_problem(uri)) is not None:
                r.error((*loc, "uri"), bad)
            else:
                out["uri"] = uri
    for key in ("rack", "zone"):
        if key in data:
            out[key] = r.name(data[key], (*loc, key), key)
    if "labels" in data:
        labels = data["labels"]
        if not isinstance(labels, dict):
            r.error((*loc, "labels"), f"write a mapping (key: value lines), not {_kind(labels)}")
            out["labels"] = None
        else:
            out["labels"] = {}
            for k, v in labels.items():
                if k in ("rack", "zone"):
                    r.error((*loc, "labels", k), f"set the host's {k} with the '{k}' field, not "
                            "as a label")
                elif not isinstance(v, str):
                    r.error((*loc, "labels", k), f"label values are strings: quote it "
                            f"({k}: \"{_yaml_scalar(v)}\"), not {_kind(v)}")
                else:
                    out["labels"][k] = v
    if "price_per_hour" in data:
        price = r.number(data["price_per_hour"], (*loc, "price_per_hour"))
        if price is not None and price < 0:
            r.error((*loc, "price_per_hour"), f"{_yaml_scalar(data['price_per_hour'])} must be >= 0")
            price = None
        out["price_per_hour"] = price
    if "overcommit" in data:
        oc = r.mapping(data["overcommit"], (*loc, "overcommit"), ("cpu", "memory"))
        if oc is not None:
            ratios: dict[str, float] = {}
            for k in ("cpu", "memory"):
                if k not in oc:
                    continue
                v = r.number(oc[k], (*loc, "overcommit", k))
                if v is not None and not 0 < v <= MAX_OVERCOMMIT:
                    r.error((*loc, "overcommit", k),
                            f"ratio {_yaml_scalar(oc[k])} not in (0, {MAX_OVERCOMMIT:g}]")
                elif v is not None:
                    ratios[k] = v
            out["overcommit"] = ratios
    if "numa" in data:
        out["numa"] = _numa(r, data["numa"], (*loc, "numa"))
    if "capacity" in data:
        cap = r.mapping(data["capacity"], (*loc, "capacity"), _CAPACITY_WHOLE + _CAPACITY_NUMBER)
        if cap is not None:
            checked: dict[str, float | int] = {}
            for k in _CAPACITY_WHOLE:
                if k in cap and (w := r.whole(cap[k], (*loc, "capacity", k))) is not None:
                    checked[k] = w
            for k in _CAPACITY_NUMBER:
                if k in cap and (n := r.number(cap[k], (*loc, "capacity", k))) is not None:
                    if n < 0:
                        r.error((*loc, "capacity", k), f"{_yaml_scalar(cap[k])} must be >= 0")
                    else:
                        checked[k] = n
            out["capacity"] = checked
    return out


def _numa(r: _Reader, raw: Any, loc: Loc) -> tuple[NumaCell, ...] | None:
    if not isinstance(raw, list) or not raw:
        r.error(loc, "write a non-empty list of cells, e.g. [{cpus: 16, memory_mib: 65536}], "
                f"not {_kind(raw)}" + (" (an empty list)" if raw == [] else ""))
        return None
    cells: list[NumaCell] = []
    for i, item in enumerate(raw):
        cell = r.mapping(item, (*loc, i), ("cpus", "memory_mib"))
        if cell is None:
            continue
        for k in ("cpus", "memory_mib"):
            if k not in cell:
                r.error((*loc, i), f"required field '{k}' is missing; add it")
        cpus = r.whole(cell["cpus"], (*loc, i, "cpus")) if "cpus" in cell else None
        mem = r.whole(cell["memory_mib"], (*loc, i, "memory_mib")) if "memory_mib" in cell else None
        if cpus is not None and mem is not None:
            cells.append(NumaCell(cpus, mem))
    return tuple(cells) if len(cells) == len(raw) else None


def _yaml_scalar(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def _merge(defaults: Mapping[str, Any], host: Mapping[str, Any]) -> dict[str, Any]:
    """A host's fields over the defaults; mappings (labels, overcommit, capacity) key by key."""
    out = dict(defaults)
    for k, v in host.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


def parse_inventory(text: str, file: str = "<string>") -> Inventory:
    """Parse and check an inventory; raises :class:`InventoryError` with every problem."""
    r = _Reader(file)
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InventoryError([Problem(file, mark.line + 1 if mark else 1, "",
                                      f"YAML syntax error: {exc.problem or exc}; fix the "
                                      "indentation or quoting at this line")]) from None
    except yaml.YAMLError as exc:
        raise InventoryError([Problem(file, 1, "", f"not readable as YAML: {exc}")]) from None
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        raise InventoryError([Problem(file, 1, "", "the inventory is empty; write a 'hosts' list")])
    if len(nodes) > 1:
        raise InventoryError([Problem(file, nodes[1].start_mark.line + 1, "",
                                      "write one YAML document (one 'hosts' list), not several")])
    r.lines[()] = nodes[0].start_mark.line + 1
    data = r.build(nodes[0], ())
    top = r.mapping(data, (), ("defaults", "hosts"))
    if top is None:
        raise InventoryError(r.problems)
    defaults: dict[str, Any] = {}
    if "defaults" in top:
        defaults = _host_fields(r, top["defaults"], ("defaults",), defaults=True) or {}
    raw_hosts = top.get("hosts")
    if "hosts" not in top:
        r.error((), "required field 'hosts' is missing; list the hosts under it")
    elif not isinstance(raw_hosts, list) or not raw_hosts:
        r.error(("hosts",), "write a non-empty list of hosts (- id: ..., uri: ...)")
    hosts: list[HostEntry] = []
    first_id: dict[str, int] = {}
    first_uri: dict[str, int] = {}
    for i, raw in enumerate(raw_hosts if isinstance(raw_hosts, list) else []):
        loc: Loc = ("hosts", i)
        given = _host_fields(r, raw, loc, defaults=False)
        if given is None:
            continue
        hid, uri = given.get("id"), given.get("uri")
        if hid is not None:
            if hid in first_id:
                r.error((*loc, "id"), f"duplicate host id {hid!r} (first at hosts[{first_id[hid]}], "
                        f"line {r.line_of(('hosts', first_id[hid]))}); ids must be unique")
            else:
                first_id[hid] = i
        # Two entries on one daemon would manage its VMs twice. test:///default is the
        # exception: every connection to it is a private, empty simulated host.
        if uri is not None and uri != "test:///default":
            if uri in first_uri:
                r.error((*loc, "uri"), f"{uri} is also hosts[{first_uri[uri]}]'s URI; one "
                        "libvirt daemon is one host")
            else:
                first_uri[uri] = i
        merged = _merge(defaults, given)
        if any(v is None for v in merged.values()) or hid is None or uri is None:
            continue  # a problem was recorded for it
        entry = _entry(merged)
        _check_numa_fits(r, entry, loc, "numa" in given)
        hosts.append(entry)
    if r.problems:
        raise InventoryError(sorted(r.problems, key=lambda p: p.line))
    return Inventory(tuple(hosts), source=file)


def _entry(d: Mapping[str, Any]) -> HostEntry:
    oc = d.get("overcommit")
    return HostEntry(
        id=d["id"], uri=d["uri"], rack=d.get("rack", DEFAULT_RACK), zone=d.get("zone", DEFAULT_ZONE),
        labels=dict(d.get("labels", {})), price_per_hour=d.get("price_per_hour"),
        overcommit=Overcommit(**oc) if oc is not None else None,
        numa=d.get("numa"), capacity=Capacity(**d.get("capacity", {})),
    )


def _check_numa_fits(r: _Reader, e: HostEntry, loc: Loc, own_numa: bool) -> None:
    if e.numa is None:
        return
    where = (*loc, "numa") if own_numa else loc
    cpus, mem = sum(c.cpus for c in e.numa), sum(c.memory_mib for c in e.numa)
    if e.capacity.vcpus is not None and cpus > e.capacity.vcpus:
        r.error(where, f"the cells hold {cpus} cpus, more than capacity.vcpus {e.capacity.vcpus}")
    if e.capacity.memory_mib is not None and mem > e.capacity.memory_mib:
        r.error(where, f"the cells hold {mem} MiB, more than capacity.memory_mib "
                f"{e.capacity.memory_mib}")


def load_inventory(path: str | Path) -> Inventory:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError([Problem(str(p), 1, "", f"cannot read the inventory: {exc}")]) from None
    return parse_inventory(text, str(p))


def dump_inventory(inventory: Inventory) -> str:
    """The inventory as YAML that :func:`parse_inventory` reads back equal."""
    hosts: list[dict[str, Any]] = []
    for h in inventory.hosts:
        d: dict[str, Any] = {"id": h.id, "uri": h.uri, "rack": h.rack, "zone": h.zone}
        if h.labels:
            d["labels"] = dict(h.labels)
        if h.price_per_hour is not None:
            d["price_per_hour"] = h.price_per_hour
        if h.overcommit is not None:
            d["overcommit"] = {"cpu": h.overcommit.cpu, "memory": h.overcommit.memory}
        if h.numa is not None:
            d["numa"] = [{"cpus": c.cpus, "memory_mib": c.memory_mib} for c in h.numa]
        cap = {k: v for k, v in vars(h.capacity).items() if v is not None}
        if cap:
            d["capacity"] = cap
        hosts.append(d)
    return yaml.safe_dump({"hosts": hosts}, sort_keys=False, default_flow_style=None, width=100)


# -- NOVACRON_HOST_URIS ----------------------------------------------------------------------


@dataclass(frozen=True)
class HostIdentity:
    """What a host's libvirt daemon says it is."""

    hostname: str | None = None
    uuid: str | None = None


# Path parts that name no host: skipped when an id is taken from a socket path.
_GENERIC = frozenset({"", "run", "var", "tmp", "libvirt", "libvirt-sock", "libvirt-sock-ro",
                      "libvirt-admin-sock", "sock", "socket", "system", "session", "home"})


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:150]


def _candidates(uri: str, identity: HostIdentity | None) -> list[str]:
    """Ids for ``uri``, most readable first; later ones are more specific."""
    parts = urlsplit(uri)
    path = unquote(parts.path)
    out: list[str] = []
    if parts.hostname:
        out.append(parts.hostname)
        if path.strip("/"):
            out.append(f"{parts.hostname}-{path.strip('/')}")
    else:
        socket = (parse_qs(parts.query).get("socket") or [""])[0]
        if identity is not None and identity.hostname:
            out.append(identity.hostname)
        if socket:
            named = [p for p in reversed(Path(socket).parts) if p.lower() not in _GENERIC and p != "/"]
            if named:
                out.append(named[0])
            out.append(socket)
        if identity is not None and identity.uuid:
            out.append(identity.uuid)
        if path.endswith(".xml"):  # a test-driver host file: its name is the host's
            out.append(Path(path).stem)
        out.append(path.strip("/").rsplit("/", 1)[-1] or parts.scheme)
    return [s for s in (_slug(c) for c in out) if s]


def inventory_from_uris(uris: Sequence[str],
                        identify: Callable[[str], HostIdentity | None] | None = None) -> Inventory:
    """An inventory of bare URIs (``NOVACRON_HOST_URIS``), with unique ids.

    An id is the URI's host part; without one (a local daemon, a socket, a test file), what
    ``identify`` says (libvirt's hostname, then its host UUID), else the socket's or file's
    name. URIs whose ids collide all move to their next, more specific id (the path, the
    socket path, the UUID), and at last a short hash of the URI: so an id depends on the set
    of URIs, never on their order.
    """
    problems = [Problem("NOVACRON_HOST_URIS", i + 1, f"host_uris[{i}]", bad)
                for i, uri in enumerate(uris) if (bad := uri_problem(uri)) is not None]
    seen: dict[str, int] = {}
    for i, uri in enumerate(uris):
        if uri in seen and uri != "test:///default":
            problems.append(Problem("NOVACRON_HOST_URIS", i + 1, f"host_uris[{i}]",
                                    f"{uri} is listed twice (also host_uris[{seen[uri]}])"))
        seen.setdefault(uri, i)
    if problems:
        raise InventoryError(problems)
    if not uris:
        raise InventoryError([Problem("NOVACRON_HOST_URIS", 1, "", "no host URIs given")])
    options: list[list[str]] = []
    for uri in uris:
        identity = identify(uri) if identify is not None else None
        digest = hashlib.sha256(uri.encode()).hexdigest()[:6]
        cands = _candidates(uri, identity) or ["host"]
        options.append([*cands, _slug(f"{cands[0][:143]}-{digest}")])
    level = [0] * len(uris)
    while True:
        ids = [options[i][level[i]] for i in range(len(uris))]
        uris_of: dict[str, set[str]] = {}
        for x, uri in zip(ids, uris, strict=True):
            uris_of.setdefault(x, set()).add(uri)
        clash = {i for i, x in enumerate(ids) if len(uris_of[x]) > 1}
        movable = [i for i in clash if level[i] + 1 < len(options[i])]
        if not movable:
            break
        for i in movable:
            level[i] += 1
    # Only identical test:///default URIs can still clash: number them in order.
    final: list[str] = []
    times: dict[str, int] = {}
    for x in ids:
        times[x] = times.get(x, 0) + 1
        final.append(x if times[x] == 1 else f"{x}-{times[x]}")
    return Inventory(tuple(HostEntry(id=hid, uri=uri) for hid, uri in zip(final, uris, strict=True)),
                     source="NOVACRON_HOST_URIS")


# -- facts: the inventory's word over libvirt's ---------------------------------------------


@dataclass(frozen=True)
class Probe:
    """What a host's libvirt daemon reported (``actuators.inventory_fleet`` reads it)."""

    vcpus: int
    memory_mib: int
    numa: tuple[NumaCell, ...] = ()
    uuid: str | None = None
    hostname: str | None = None


@dataclass(frozen=True)
class HostFacts:
    """A host as NovaCron manages it: the inventory's facts, libvirt's for the rest."""

    host_id: str
    uri: str
    reachable: bool
    labels: dict[str, str]
    error: str | None = None
    vcpus: int | None = None  # None: unknown (unreachable and not in the inventory)
    memory_mib: int | None = None
    numa: tuple[NumaCell, ...] = ()
    numa_source: str = "none"  # inventory | libvirt | none (one cell: the whole host)
    uuid: str | None = None
    hostname: str | None = None
    net_mbps: float | None = None
    disk_gib: float | None = None
    iops: float | None = None
    price_per_hour: float | None = None
    overcommit: Overcommit | None = None
    inventory: str = ""

    def as_json(self) -> dict[str, Any]:
        """The ``hosts.facts`` document (keys absent when unknown)."""
        out: dict[str, Any] = {"inventory": self.inventory}
        if self.numa:  # else absent, so a merge keeps the cells last read from libvirt
            out["numa"] = [{"cpus": c.cpus, "memory_mib": c.memory_mib} for c in self.numa]
            out["numa_source"] = self.numa_source
        if self.overcommit is not None:
            out["overcommit"] = {"cpu": self.overcommit.cpu, "memory": self.overcommit.memory}
        for k in ("price_per_hour", "net_mbps", "disk_gib", "iops", "uuid", "hostname", "error"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        return out


def host_facts_of(entry: HostEntry, probe: Probe | None, error: str | None = None,
                  source: str = "") -> HostFacts:
    """Merge: what the inventory says wins (an operator may hold back CPUs or pin cells), and
    libvirt fills the rest. ``probe`` None means the host could not be read (``error``)."""
    cap = entry.capacity
    if entry.numa is not None:
        numa, numa_source = entry.numa, "inventory"
    elif probe is not None and probe.numa:
        numa, numa_source = probe.numa, "libvirt"
    else:
        numa, numa_source = (), "none"
    return HostFacts(
        host_id=entry.id, uri=entry.uri, reachable=probe is not None, labels=entry.host_labels(),
        error=None if probe is not None else (error or "not probed"),
        vcpus=cap.vcpus if cap.vcpus is not None else (probe.vcpus if probe else None),
        memory_mib=cap.memory_mib if cap.memory_mib is not None else (probe.memory_mib if probe else None),
        numa=numa, numa_source=numa_source,
        uuid=probe.uuid if probe else None, hostname=probe.hostname if probe else None,
        net_mbps=cap.net_mbps, disk_gib=cap.disk_gib, iops=cap.iops,
        price_per_hour=entry.price_per_hour, overcommit=entry.overcommit, inventory=source,
    )
