"""Fixed precedence and the effective policy of a VM, field by field.

Precedence is total and fixed, so the answer never depends on file or load order:

1. higher ``priority`` wins;
2. then the more specific selector (more match terms) wins;
3. then the lexicographically smaller ``name`` wins;
4. (only for duplicate names, which the linter reports as errors) file, line, content.

Each leaf field is taken from the highest-precedence matching policy that sets it, and the
result records that policy and every lower one it overrode, so an operator can always see
why a VM gets a value. Autonomy is the one twist: a policy's ``autonomy.default`` covers
every action kind that policy does not name, so a high-priority "observe everything" cannot
be undone by a lower policy that happens to name one kind.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from novacron.policy.loader import LoadedPolicy
from novacron.policy.schema import (
    ACTION_KINDS,
    PROFILES,
    AutonomyMode,
    AutoScalingProfile,
    Policy,
    ProfileNumbers,
)

__all__ = [
    "DEFAULTS",
    "FIELDS",
    "EffectivePolicy",
    "FieldSource",
    "PolicySet",
    "effective_policy",
    "precedence_key",
]

# Built-in values when no policy sets a field. scaleDownDelay has none of its own: it comes
# from the effective autoScaling profile (see PROFILES).
DEFAULTS: Mapping[str, Any] = {
    "rules.minReplicas": 1,
    "rules.maxReplicas": None,
    "rules.antiAffinity": None,
    "rules.autoScaling": AutoScalingProfile.MODERATE.value,
    "rules.healingPriority": "normal",
    "rules.spotInstances": {"allowed": False, "maxFraction": 1.0},
    "rules.scaleDownDelay": None,
    "rules.consolidation": True,
    "rules.overcommit.cpu": 1.0,
    "rules.overcommit.memory": 1.0,
    "rules.cost.maxHourlyCost": None,
    "rules.cost.perVmMaxHourlyCost": None,
    "autonomy.default": AutonomyMode.RECOMMEND.value,
    **{f"autonomy.{kind}": None for kind in ACTION_KINDS},
}
FIELDS: tuple[str, ...] = tuple(DEFAULTS)

Origin = Literal["policy", "default", "profile"]


@dataclass(frozen=True)
class FieldSource:
    """One effective field: its value and where the value came from."""

    path: str
    value: Any
    origin: Origin
    policy: str | None = None
    file: str | None = None
    line: int | None = None
    overridden: tuple[str, ...] = ()  # lower-precedence matching policies that also set it

    def describe(self) -> str:
        shown = json.dumps(self.value, sort_keys=True)
        if self.origin == "default":
            why = "built-in default"
        elif self.origin == "profile":
            why = f"autoScaling profile default ({self.policy or 'built-in'})"
        else:
            where = f" ({self.file}:{self.line})" if self.file else ""
            why = f"policy {self.policy}{where}"
        if self.overridden:
            why += f", overriding {', '.join(self.overridden)}"
        return f"{self.path} = {shown} from {why}"


@dataclass(frozen=True)
class _Entry:
    policy: Policy
    file: str | None
    loaded: LoadedPolicy | None
    fields: Mapping[str, Any]
    key: tuple[Any, ...]

    def line_of(self, path: str) -> int | None:
        return self.loaded.line_of(path) if self.loaded else None


def precedence_key(policy: Policy, file: str = "", line: int = 0) -> tuple[Any, ...]:
    """Sort key: the first in sorted order wins. Total, so order of input never matters."""
    canonical = policy.model_dump_json(by_alias=True)
    return (-policy.priority, -policy.specificity, policy.name, file, line, canonical)


def _entry(item: Policy | LoadedPolicy) -> _Entry:
    if isinstance(item, LoadedPolicy):
        return _Entry(
            item.policy,
            item.file,
            item,
            item.policy.set_fields(),
            precedence_key(item.policy, item.file, item.line),
        )
    return _Entry(item, None, None, item.set_fields(), precedence_key(item))


@dataclass(frozen=True)
class EffectivePolicy:
    """What applies to one VM: every field in FIELDS with its source."""

    fields: Mapping[str, FieldSource]
    matched: tuple[str, ...]  # matching policy names, winner first
    problems: tuple[str, ...] = field(default=())

    def value(self, path: str) -> Any:
        return self.fields[path].value

    def source(self, path: str) -> FieldSource:
        return self.fields[path]

    def autonomy(self, action: str) -> AutonomyMode:
        """The mode an action kind (an ActionKind value) runs under for this VM."""
        if action not in ACTION_KINDS:
            raise KeyError(f"unknown action kind {action!r}; known: {', '.join(ACTION_KINDS)}")
        return AutonomyMode(self.fields[f"autonomy.{action}"].value)

    @property
    def profile(self) -> ProfileNumbers:
        return PROFILES[AutoScalingProfile(self.value("rules.autoScaling"))]

    def settings(self) -> dict[str, Any]:
        """Plain path → value, the form stored on a VM and compared by the dry-run."""
        return {path: src.value for path, src in self.fields.items()}

    def explain(self) -> list[str]:
        return [src.describe() for src in self.fields.values()]


class PolicySet:
    """Policies sorted once by precedence, for many effective-policy queries."""

    def __init__(self, policies: Iterable[Policy | LoadedPolicy]) -> None:
        self.entries: list[_Entry] = sorted((_entry(p) for p in policies), key=lambda e: e.key)

    def matching(self, labels: Mapping[str, str], tags: Iterable[str] = ()) -> list[Policy]:
        tagset = frozenset(tags)
        return [e.policy for e in self.entries if e.policy.selector.matches(labels, tagset)]

    def effective(self, labels: Mapping[str, str], tags: Iterable[str] = ()) -> EffectivePolicy:
        tagset = frozenset(tags)
        matched = [e for e in self.entries if e.policy.selector.matches(labels, tagset)]
        return _resolve(matched)


def _source(path: str, setters: list[_Entry]) -> FieldSource:
    winner = setters[0]
    return FieldSource(
        path,
        winner.fields[path],
        "policy",
        winner.policy.name,
        winner.file,
        winner.line_of(path),
        tuple(e.policy.name for e in setters[1:]),
    )


def _resolve(matched: Sequence[_Entry]) -> EffectivePolicy:
    out: dict[str, FieldSource] = {}
    for path in FIELDS:
        if path.startswith("autonomy.") and path != "autonomy.default":
            continue
        setters = [e for e in matched if path in e.fields]
        out[path] = (
            _source(path, setters) if setters else FieldSource(path, DEFAULTS[path], "default")
        )
    if out["rules.scaleDownDelay"].origin == "default":
        scaler = out["rules.autoScaling"]
        numbers = PROFILES[AutoScalingProfile(scaler.value)]
        out["rules.scaleDownDelay"] = FieldSource(
            "rules.scaleDownDelay",
            numbers.scale_down_delay_s,
            "profile",
            scaler.policy,
            scaler.file,
            scaler.line,
        )
    for kind in ACTION_KINDS:
        path = f"autonomy.{kind}"
        # First policy that names this kind or has a default decides (see module docstring).
        setters = [e for e in matched if path in e.fields or "autonomy.default" in e.fields]
        if not setters:
            out[path] = FieldSource(path, DEFAULTS["autonomy.default"], "default")
            continue
        winner = setters[0]
        via = path if path in winner.fields else "autonomy.default"
        out[path] = FieldSource(
            path,
            winner.fields[via],
            "policy",
            winner.policy.name,
            winner.file,
            winner.line_of(via),
            tuple(e.policy.name for e in setters[1:]),
        )
    out = {p: out[p] for p in FIELDS}
    problems: list[str] = []
    low, high = out["rules.minReplicas"], out["rules.maxReplicas"]
    if high.value is not None and low.value > high.value:
        problems.append(
            f"minReplicas {low.value} (from {low.policy or 'default'}) exceeds maxReplicas "
            f"{high.value} (from {high.policy}); replica changes are blocked until fixed"
        )
    return EffectivePolicy(out, tuple(e.policy.name for e in matched), tuple(problems))


def effective_policy(
    policies: Iterable[Policy | LoadedPolicy],
    labels: Mapping[str, str],
    tags: Iterable[str] = (),
) -> EffectivePolicy:
    """The effective policy for a VM with these labels and tags."""
    return PolicySet(policies).effective(labels, tags)
