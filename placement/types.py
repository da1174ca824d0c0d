"""Placement vocabulary: what a VM asks for, what a host offers, and the constraints between them.

Types are plain frozen dataclasses and accept anything at construction; `validation.py`
checks them and names the field and the reason, so an API can report every problem at once
instead of failing on the first. Resources are stored internally as integers (millicores,
MiB, Mbps, GiB, IOPS, milli-GPUs) so that placing and removing a VM restores the fleet exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

# Resource dimensions, in the order used by every array in the engine.
RESOURCES: tuple[str, ...] = ("cpu", "memory", "net", "disk", "iops", "gpu")
CPU, MEM, NET, DISK, IOPS, GPU = range(6)
UNITS: tuple[str, ...] = ("millicores", "MiB", "Mbps", "GiB", "IOPS", "milli-GPUs")


class TopologyKey(StrEnum):
    """Failure/locality domains, finest first (the order matters for nesting checks)."""

    NUMA = "numa"
    HOST = "host"
    RACK = "rack"
    ZONE = "zone"


TOPOLOGY_ORDER: dict[str, int] = {k.value: i for i, k in enumerate(TopologyKey)}


class NumaPolicy(StrEnum):
    NONE = "none"  # the VM floats over the host's cells
    PREFER = "prefer"  # use the fewest cells possible (scored)
    REQUIRE = "require"  # must fit inside one cell's free CPUs and memory (filtered)


class Strategy(StrEnum):
    SPREAD = "spread"
    BINPACK = "binpack"
    BALANCED = "balanced"
    COST = "cost"
    FRAGMENTATION = "fragmentation"


@dataclass(frozen=True)
class VMSpec:
    vm_id: str
    vcpus: float
    memory_mib: float
    net_mbps: float = 0.0
    disk_gib: float = 0.0
    iops: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    numa: str = NumaPolicy.NONE
    # Passthrough or shared GPUs; a fraction is a share of one device. GPUs are pooled per
    # host: which device a share lands on is the actuator's concern.
    gpus: float = 0.0

    def demand(self) -> tuple[int, int, int, int, int, int]:
        """Integer demand vector in engine units (see RESOURCES/UNITS)."""
        return (
            round(self.vcpus * 1000),
            round(self.memory_mib),
            round(self.net_mbps),
            round(self.disk_gib),
            round(self.iops),
            round(self.gpus * 1000),
        )


@dataclass(frozen=True)
class HostClass:
    """Per-class policy: overcommit ratio per resource and headroom kept back for the host."""

    name: str = "default"
    overcommit: Mapping[str, float] = field(default_factory=dict)  # resource -> ratio, 1.0 default
    reserved_vcpus: float = 0.0
    reserved_memory_mib: float = 0.0
    price_per_hour: float = 1.0
    spot: bool = False


@dataclass(frozen=True)
class NumaCell:
    vcpus: float
    memory_mib: float


@dataclass(frozen=True)
class Host:
    host_id: str
    vcpus: float
    memory_mib: float
    net_mbps: float = 10_000.0
    disk_gib: float = 1_000.0
    iops: float = 100_000.0
    host_class: str = "default"
    rack: str = "rack-0"
    zone: str = "zone-0"
    labels: Mapping[str, str] = field(default_factory=dict)
    numa_cells: tuple[NumaCell, ...] = ()  # empty: one cell holding the whole host
    cordoned: bool = False
    maintenance: bool = False
    recent_failures: float = 0.0  # decayed count of recently failed actions on this host
    gpus: float = 0.0


@dataclass(frozen=True)
class LabelSelector:
    """Matches VMs whose labels contain every (key, value) pair; hashable, so it keys counters."""

    match_labels: tuple[tuple[str, str], ...]

    @staticmethod
    def of(labels: Mapping[str, str] | None = None, **kw: str) -> LabelSelector:
        items = dict(labels or {}, **kw)
        return LabelSelector(tuple(sorted(items.items())))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels)

    def __str__(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.match_labels) or "<all>"


@dataclass(frozen=True)
class AffinityTerm:
    """VM-VM (anti-)affinity: the VM's `topology_key` domain must (not) hold a matching VM."""

    selector: LabelSelector
    topology_key: str = TopologyKey.HOST
    anti: bool = False
    hard: bool = True
    weight: float = 1.0  # soft terms only


@dataclass(frozen=True)
class HostAffinityTerm:
    """Host affinity by host labels: label value In (or NotIn) `values`."""

    label: str
    values: frozenset[str]
    operator: str = "In"  # "In" | "NotIn"
    hard: bool = True
    weight: float = 1.0


@dataclass(frozen=True)
class TopologySpreadTerm:
    """Kubernetes-style spread: count(domain)+1 - min(count over eligible domains) <= max_skew."""

    selector: LabelSelector
    topology_key: str = TopologyKey.RACK
    max_skew: int = 1
    hard: bool = True
    weight: float = 1.0


@dataclass(frozen=True)
class Constraints:
    affinity: tuple[AffinityTerm, ...] = ()
    host_affinity: tuple[HostAffinityTerm, ...] = ()
    spread: tuple[TopologySpreadTerm, ...] = ()
    allow_spot: bool = False
    exclude_hosts: frozenset[str] = frozenset()  # host ids the VM must not go to


@dataclass(frozen=True)
class PlacementRequest:
    vm: VMSpec
    constraints: Constraints = Constraints()
    preferences: Mapping[str, float] = field(default_factory=dict)  # scorer name -> weight override
    strategy: str = Strategy.BALANCED
    replicas: int = 1  # >1: all-or-nothing group, replica i is "<vm_id>-<i>"


class StatusCode(IntEnum):
    """Kubernetes framework Status codes for a filter verdict on one host."""

    SUCCESS = 0
    UNSCHEDULABLE = 1  # fails now, could pass if the fleet changes (VMs leave or move)
    UNSCHEDULABLE_AND_UNRESOLVABLE = 2  # no change of other VMs makes this host pass


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class PlacementValidationError(ValueError):
    """Raised only by APIs that cannot return a decision (e.g. fleet construction)."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


@dataclass(frozen=True)
class ScorerContribution:
    scorer: str
    raw: float  # in [0, 1]
    weight: float
    contribution: float  # raw * weight


@dataclass(frozen=True)
class Alternative:
    node: str
    score: float
    breakdown: tuple[ScorerContribution, ...]
    why_lost: str


@dataclass(frozen=True)
class FilterOutcome:
    """One filter's share of a "why pending" answer."""

    filter: str
    eliminated: (
        int  # hosts this filter removed, counting each host once, at its first failing filter
    )
    rejected: int  # hosts this filter rejects on its own (overlaps with others)
    only_blocker: int  # hosts where this is the single failing filter
    code: StatusCode  # worst code among the rejections
    reason: str


@dataclass(frozen=True)
class WhyPending:
    total_hosts: int
    feasible_hosts: int
    filters: tuple[FilterOutcome, ...]
    binding: str | None  # the filter that, relaxed alone, frees the most hosts
    hints: tuple[str, ...]  # what would make the VM fit
    resolvable: bool  # False when every host fails at least one filter with UNRESOLVABLE

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_hosts": self.total_hosts,
            "feasible_hosts": self.feasible_hosts,
            "binding": self.binding,
            "resolvable": self.resolvable,
            "hints": list(self.hints),
            "filters": [
                {
                    "filter": f.filter,
                    "eliminated": f.eliminated,
                    "rejected": f.rejected,
                    "only_blocker": f.only_blocker,
                    "code": f.code.name,
                    "reason": f.reason,
                }
                for f in self.filters
            ],
        }


class DecisionStatus(StrEnum):
    PLACED = "placed"
    PENDING = "pending"
    INVALID = "invalid"


@dataclass(frozen=True)
class PlacementDecision:
    vm_id: str
    status: DecisionStatus
    target_node: str | None = None
    numa_cells: tuple[int, ...] = ()
    score: float | None = None
    explanation: str = ""
    breakdown: tuple[ScorerContribution, ...] = ()
    alternatives: tuple[Alternative, ...] = ()
    why_pending: WhyPending | None = None
    errors: tuple[FieldError, ...] = ()
    feasible_hosts: int = 0
    # The filter trace: (filter, hosts it removed first), in filter order, as Nova logs it.
    trace: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class GroupDecision:
    """All-or-nothing: either every replica is placed, or none is and the fleet is unchanged."""

    status: DecisionStatus
    decisions: tuple[PlacementDecision, ...]
    explanation: str
    errors: tuple[FieldError, ...] = ()
