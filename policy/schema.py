"""The YAML policy language as pydantic models.

A policy file holds one or more documents like::

    name: web-tier
    priority: 100
    selector:
      matchLabels: {app: web}
      matchExpressions:
        - {key: env, operator: In, values: [prod, staging]}
      matchTags: [customer-facing]
    rules:
      minReplicas: 3
      maxReplicas: 12
      antiAffinity: {mode: hard, topologyKey: rack}
      autoScaling: moderate
      healingPriority: high
      spotInstances: {allowed: false}
      scaleDownDelay: 10m
      consolidation: true
      overcommit: {cpu: 4.0, memory: 1.0}
      cost: {maxHourlyCost: 40}
    autonomy: {default: recommend, scale_out: auto, migrate: approve}

Keys are camelCase like Kubernetes objects, because that is what operators already write.
Every model forbids unknown keys: a typo must fail loudly, never be ignored silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from novacron.events import ActionKind, AutonomyMode

__all__ = [
    "ACTION_KINDS",
    "PROFILES",
    "AntiAffinity",
    "AutoScalingProfile",
    "Autonomy",
    "AutonomyMode",
    "CostLimits",
    "HealingPriority",
    "MatchExpression",
    "Operator",
    "Overcommit",
    "Policy",
    "ProfileNumbers",
    "Rules",
    "Selector",
    "SpotInstances",
    "TopologyKey",
    "parse_duration",
]


class _Model(BaseModel):
    # YAML keys are camelCase; Python attributes stay snake_case. validate_by_name is off so
    # `min_replicas:` in YAML is an unknown key, not a silent synonym.
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, validate_by_alias=True
    )


class Operator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


LabelKey = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9_.\-/]+$")]
LabelValue = Annotated[str, Field(max_length=253)]


class MatchExpression(_Model):
    key: LabelKey
    operator: Operator
    values: tuple[LabelValue, ...] = ()

    @model_validator(mode="after")
    def _values_fit_operator(self) -> MatchExpression:
        if self.operator in (Operator.IN, Operator.NOT_IN) and not self.values:
            raise ValueError(
                f"operator {self.operator.value} needs a non-empty 'values' list; "
                "add values or use Exists/DoesNotExist"
            )
        if self.operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and self.values:
            raise ValueError(f"operator {self.operator.value} takes no 'values'; remove them")
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        # Kubernetes semantics: NotIn also matches when the label is absent.
        if self.operator is Operator.IN:
            return labels.get(self.key) in self.values
        if self.operator is Operator.NOT_IN:
            return labels.get(self.key) not in self.values
        if self.operator is Operator.EXISTS:
            return self.key in labels
        return self.key not in labels


class Selector(_Model):
    """Which VMs a policy applies to. An empty selector matches every VM (a fleet default)."""

    match_labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    match_expressions: tuple[MatchExpression, ...] = ()
    match_tags: tuple[Annotated[str, Field(min_length=1, max_length=253)], ...] = ()

    @property
    def specificity(self) -> int:
        """The number of match terms: more terms means a narrower, more deliberate target."""
        return len(self.match_labels) + len(self.match_expressions) + len(self.match_tags)

    def matches(self, labels: Mapping[str, str], tags: frozenset[str] = frozenset()) -> bool:
        return (
            all(labels.get(k) == v for k, v in self.match_labels.items())
            and all(e.matches(labels) for e in self.match_expressions)
            and all(t in tags for t in self.match_tags)
        )


class TopologyKey(StrEnum):
    HOST = "host"
    NUMA = "numa"
    RACK = "rack"
    ZONE = "zone"


class AntiAffinity(_Model):
    """Spread replicas over topology domains: hard never co-locates, soft prefers not to."""

    mode: Literal["hard", "soft"]
    topology_key: TopologyKey = TopologyKey.HOST


class AutoScalingProfile(StrEnum):
    CONSERVATIVE = "conservative"
    MODERATE = "moderate"
    AGGRESSIVE = "aggressive"


@dataclass(frozen=True)
class ProfileNumbers:
    target_utilization: float  # the utilisation the scaler steers towards
    scale_up_threshold: float  # forecast utilisation above which it adds capacity
    scale_down_threshold: float  # utilisation below which it may remove capacity
    scale_up_cooldown_s: int  # minimum time between two scale-ups
    scale_down_cooldown_s: int  # minimum time between two scale-downs
    scale_down_delay_s: int  # default for rules.scaleDownDelay: how long low load must last
    max_step: int  # most replicas added or removed in one decision


# The one table that gives the profile names their meaning. Conservative reacts late and
# slowly (fewer moves, more headroom); aggressive runs hot and moves fast.
PROFILES: Mapping[AutoScalingProfile, ProfileNumbers] = {
    AutoScalingProfile.CONSERVATIVE: ProfileNumbers(0.60, 0.75, 0.30, 300, 900, 1800, 1),
    AutoScalingProfile.MODERATE: ProfileNumbers(0.70, 0.80, 0.40, 120, 600, 600, 2),
    AutoScalingProfile.AGGRESSIVE: ProfileNumbers(0.80, 0.85, 0.55, 30, 180, 120, 4),
}


class HealingPriority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class SpotInstances(_Model):
    allowed: bool
    max_fraction: float = Field(default=1.0, ge=0.0, le=1.0)


class Overcommit(_Model):
    cpu: float | None = Field(default=None, ge=1.0, le=32.0)
    memory: float | None = Field(default=None, ge=1.0, le=4.0)


class CostLimits(_Model):
    max_hourly_cost: float | None = Field(default=None, gt=0)
    per_vm_max_hourly_cost: float | None = Field(default=None, gt=0)


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> int:
    """Seconds from an int or a string like ``90s``, ``10m``, ``1h``, ``2d``."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like '10m'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative; use 0 or more seconds")
        return value
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return int(m.group(1)) * _UNIT_S[m.group(2) or "s"]
    raise ValueError(f"cannot read {value!r} as a duration; write e.g. 300, '90s', '10m' or '1h'")


Duration = Annotated[int, Field(ge=0, le=30 * 86400)]


class Rules(_Model):
    min_replicas: int | None = Field(default=None, ge=0, le=10_000)
    max_replicas: int | None = Field(default=None, ge=0, le=10_000)
    anti_affinity: AntiAffinity | None = None
    auto_scaling: AutoScalingProfile | None = None
    healing_priority: HealingPriority | None = None
    spot_instances: SpotInstances | None = None
    scale_down_delay: Duration | None = None
    consolidation: bool | None = None
    overcommit: Overcommit | None = None
    cost: CostLimits | None = None

    @field_validator("scale_down_delay", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return None if value is None else parse_duration(value)

    @field_validator("spot_instances", mode="before")
    @classmethod
    def _spot_shorthand(cls, value: object) -> object:
        # `spotInstances: true` is the common case; the mapping form adds maxFraction.
        return {"allowed": value} if isinstance(value, bool) else value


# Action kinds a policy may set an autonomy mode for (noop needs no permission).
ACTION_KINDS: tuple[str, ...] = tuple(k.value for k in ActionKind if k is not ActionKind.NOOP)


class Autonomy(_Model):
    """How far NovaCron may go on its own, per action kind; ``default`` covers the rest."""

    # Action-kind names are snake_case like the Decision events, so no camelCase aliases here.
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=None)

    default: AutonomyMode | None = None
    scale_vcpu: AutonomyMode | None = None
    scale_memory: AutonomyMode | None = None
    scale_out: AutonomyMode | None = None
    scale_in: AutonomyMode | None = None
    place: AutonomyMode | None = None
    start: AutonomyMode | None = None
    restart: AutonomyMode | None = None
    migrate: AutonomyMode | None = None
    shutdown: AutonomyMode | None = None
    destroy: AutonomyMode | None = None
    reboot: AutonomyMode | None = None
    reset: AutonomyMode | None = None


PolicyName = Annotated[
    str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([a-z0-9\-]*[a-z0-9])?$")
]


class Policy(_Model):
    api_version: Literal["novacron/v1"] = "novacron/v1"
    kind: Literal["Policy"] = "Policy"
    name: PolicyName
    description: str = Field(default="", max_length=2000)
    priority: int = Field(default=0, ge=0, le=1_000_000)
    selector: Selector = Field(default_factory=Selector)
    rules: Rules = Field(default_factory=Rules)
    autonomy: Autonomy = Field(default_factory=Autonomy)

    @property
    def specificity(self) -> int:
        return self.selector.specificity

    def set_fields(self) -> dict[str, Any]:
        """The leaf fields this policy actually sets, as dotted path → JSON value."""
        out: dict[str, Any] = {}
        rules = self.rules.model_dump(mode="json", by_alias=True, exclude_none=True)
        for key, value in rules.items():
            # Overcommit and cost resolve per leaf (one policy may set cpu, another memory);
            # antiAffinity and spotInstances are atomic because their parts mean nothing alone.
            if key in ("overcommit", "cost"):
                for sub, subvalue in value.items():
                    out[f"rules.{key}.{sub}"] = subvalue
            else:
                out[f"rules.{key}"] = value
        for key, value in self.autonomy.model_dump(mode="json", exclude_none=True).items():
            out[f"autonomy.{key}"] = value
        return out


# Keep ACTION_KINDS and the Autonomy model in step: a new ActionKind must get a field.
assert set(ACTION_KINDS) | {"default"} == set(Autonomy.model_fields), "Autonomy is out of date"
