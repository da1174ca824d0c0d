"""Request validation: every problem as (field, reason), never an exception.

Checks what can be known without placing: absurd resources, unknown names, contradictory
terms, and groups that cannot exist (more replicas than domains under hard anti-affinity).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .registry import SCORERS
from .state import FleetState
from .strategies import PRESETS
from .types import (
    TOPOLOGY_ORDER,
    AffinityTerm,
    FieldError,
    LabelSelector,
    NumaPolicy,
    PlacementRequest,
    TopologyKey,
)

# Upper bounds beyond which a number is a typo, not a VM.
LIMITS: dict[str, float] = {
    "vcpus": 4096,
    "memory_mib": 64 * 1024 * 1024,
    "net_mbps": 1_600_000,
    "disk_gib": 1_000_000,
    "iops": 100_000_000,
    "gpus": 64,
}
MAX_REPLICAS = 10_000


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _integer(value: object) -> int | None:
    x = _number(value)
    if x is None or not math.isfinite(x) or x != int(x):
        return None
    return int(x)


def _selector(field: str, sel: object) -> list[FieldError]:
    if not isinstance(sel, LabelSelector):
        return [FieldError(field, "must be a LabelSelector")]
    errors = []
    for k, v in sel.match_labels:
        if not isinstance(k, str) or not k or not isinstance(v, str):
            errors.append(FieldError(field, f"label pair {k!r}={v!r} must be non-empty strings"))
    return errors


def _weight(field: str, w: object) -> list[FieldError]:
    x = _number(w)
    if x is None or not math.isfinite(x) or x <= 0 or x > 1000:
        return [FieldError(field, f"weight must be a number in (0, 1000], got {w!r}")]
    return []


def validate_request(
    request: PlacementRequest, state: FleetState | None = None
) -> list[FieldError]:
    errors: list[FieldError] = []
    vm = request.vm
    if not isinstance(vm.vm_id, str) or not vm.vm_id:
        errors.append(FieldError("vm.vm_id", "must be a non-empty string"))
    for name, limit in LIMITS.items():
        raw = getattr(vm, name)
        x = _number(raw)
        if x is None or not math.isfinite(x):
            errors.append(FieldError(f"vm.{name}", f"must be a finite number, got {raw!r}"))
        elif x < 0:
            errors.append(FieldError(f"vm.{name}", f"must not be negative, got {raw!r}"))
        elif x > limit:
            errors.append(FieldError(f"vm.{name}", f"{raw!r} is absurd (limit {limit:g})"))
    if not errors and vm.vcpus <= 0:
        errors.append(FieldError("vm.vcpus", "must be > 0"))
    if not errors and vm.memory_mib <= 0:
        errors.append(FieldError("vm.memory_mib", "must be > 0"))
    if vm.numa not in set(NumaPolicy):
        errors.append(
            FieldError(
                "vm.numa", f"unknown NUMA policy {vm.numa!r}; expected none, prefer, require"
            )
        )
    for k, v in dict(vm.labels).items():
        if not isinstance(k, str) or not k or not isinstance(v, str):
            errors.append(FieldError("vm.labels", f"label {k!r}={v!r} must be non-empty strings"))

    if request.strategy not in PRESETS:
        errors.append(
            FieldError(
                "strategy", f"unknown strategy {request.strategy!r}; expected {', '.join(PRESETS)}"
            )
        )
    for name, w in dict(request.preferences).items():
        x = _number(w)
        if name not in SCORERS:
            errors.append(
                FieldError(f"preferences.{name}", f"unknown scorer; known: {', '.join(SCORERS)}")
            )
        elif x is None or not math.isfinite(x) or abs(x) > 1000:
            errors.append(
                FieldError(
                    f"preferences.{name}",
                    f"weight must be a finite number in [-1000, 1000], got {w!r}",
                )
            )
    if _integer(request.replicas) is None:
        errors.append(FieldError("replicas", f"must be an integer, got {request.replicas!r}"))
    elif not 1 <= request.replicas <= MAX_REPLICAS:
        errors.append(
            FieldError("replicas", f"must be in [1, {MAX_REPLICAS}], got {request.replicas}")
        )

    c = request.constraints
    for i, t in enumerate(c.affinity):
        f = f"constraints.affinity[{i}]"
        errors += _selector(f"{f}.selector", t.selector)
        if t.topology_key not in TOPOLOGY_ORDER:
            errors.append(FieldError(f"{f}.topology_key", _unknown_key(t.topology_key)))
        elif t.topology_key == TopologyKey.NUMA and t.hard and vm.numa != NumaPolicy.REQUIRE:
            errors.append(
                FieldError(
                    f"{f}.topology_key",
                    "a hard NUMA-cell term needs vm.numa=require (the VM must sit in one cell)",
                )
            )
        if not t.hard:
            errors += _weight(f"{f}.weight", t.weight)
    errors += _contradictions(c.affinity)
    for i, h in enumerate(c.host_affinity):
        f = f"constraints.host_affinity[{i}]"
        if not isinstance(h.label, str) or not h.label:
            errors.append(FieldError(f"{f}.label", "must be a non-empty string"))
        if h.operator not in ("In", "NotIn"):
            errors.append(
                FieldError(
                    f"{f}.operator", f"unknown operator {h.operator!r}; expected In or NotIn"
                )
            )
        if h.operator == "In" and not h.values:
            errors.append(FieldError(f"{f}.values", "In needs at least one value"))
        if not h.hard:
            errors += _weight(f"{f}.weight", h.weight)
    ex = c.exclude_hosts
    if not isinstance(ex, (set, frozenset, tuple, list)) or not all(
        isinstance(h, str) for h in ex
    ):
        errors.append(FieldError("constraints.exclude_hosts", "must be a set of host ids"))
    for i, s in enumerate(c.spread):
        f = f"constraints.spread[{i}]"
        errors += _selector(f"{f}.selector", s.selector)
        if s.topology_key not in TOPOLOGY_ORDER:
            errors.append(FieldError(f"{f}.topology_key", _unknown_key(s.topology_key)))
        elif s.topology_key == TopologyKey.NUMA:
            errors.append(
                FieldError(
                    f"{f}.topology_key",
                    "spread over NUMA cells is not supported; use host, rack or zone",
                )
            )
        skew = _integer(s.max_skew)
        if skew is None or skew < 1:
            errors.append(
                FieldError(f"{f}.max_skew", f"must be an integer >= 1, got {s.max_skew!r}")
            )
        if not s.hard:
            errors += _weight(f"{f}.weight", s.weight)

    if state is not None and not errors:
        errors += _group_fits_domains(request, state)
    return errors


def _unknown_key(key: object) -> str:
    return f"unknown topology key {key!r}; expected one of {', '.join(TOPOLOGY_ORDER)}"


def _contradictions(terms: Iterable[AffinityTerm]) -> list[FieldError]:
    """Hard affinity and hard anti-affinity to the same group contradict each other when the
    anti-affinity domain contains the affinity domain (same host implies same rack)."""
    errors = []
    hard = [(i, t) for i, t in enumerate(terms) if t.hard and t.topology_key in TOPOLOGY_ORDER]
    for i, a in hard:
        for j, b in hard:
            if a.anti or not b.anti or a.selector != b.selector:
                continue
            if TOPOLOGY_ORDER[b.topology_key] >= TOPOLOGY_ORDER[a.topology_key]:
                errors.append(
                    FieldError(
                        f"constraints.affinity[{j}]",
                        f"hard anti-affinity to {a.selector} per {b.topology_key} contradicts hard "
                        f"affinity [{i}] to the same group per {a.topology_key}",
                    )
                )
    return errors


def _group_fits_domains(request: PlacementRequest, state: FleetState) -> list[FieldError]:
    errors: list[FieldError] = []
    if request.replicas <= 1:
        return errors
    for i, t in enumerate(request.constraints.affinity):
        if not (t.hard and t.anti and t.selector.matches(request.vm.labels)):
            continue
        if t.topology_key == TopologyKey.NUMA:
            domains = int(state.cell_valid.sum())
        else:
            dom = state.domain_of(t.topology_key)
            assert dom is not None
            domains = int(dom.max()) + 1 if dom.size else 0
        if request.replicas > domains:
            errors.append(
                FieldError(
                    "replicas",
                    f"{request.replicas} replicas need {request.replicas} distinct "
                    f"{t.topology_key} "
                    f"domains under hard anti-affinity [{i}], but the fleet has {domains}",
                )
            )
    return errors
