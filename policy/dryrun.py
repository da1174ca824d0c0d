"""The dry-run planner: what would change, object by object, field by field, and why.

``plan`` is pure and is the only way changes are computed; live mode calls ``plan`` and then
``apply_plan`` on the very same plan, so the dry-run is exactly what live mode does. A plan
records the old value it expects for every change; ``apply_plan`` refuses a plan whose
objects have moved on since (``StalePlanError``), instead of silently doing something else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from novacron.policy.effective import FIELDS, FieldSource, PolicySet
from novacron.policy.loader import LoadedPolicy
from novacron.policy.schema import Policy

__all__ = [
    "Change",
    "ObjectPlan",
    "ObjectState",
    "Plan",
    "StalePlanError",
    "apply_plan",
    "plan",
    "same_value",
]

# Replica bounds are held back while they contradict each other: applying one half would
# leave the object in a state no policy asked for.
_REPLICA_FIELDS = frozenset({"rules.minReplicas", "rules.maxReplicas"})


@dataclass(frozen=True)
class ObjectState:
    """A VM (or group) as the planner sees it: labels, tags and its applied settings."""

    id: str
    labels: Mapping[str, str] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    settings: Mapping[str, Any] = field(default_factory=dict)  # effective field path → value


@dataclass(frozen=True)
class Change:
    field: str
    old: Any
    new: Any
    policy: str | None  # the policy that causes it; None for built-in defaults
    file: str | None
    line: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "policy": self.policy,
            "file": self.file,
            "line": self.line,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ObjectPlan:
    object_id: str
    matched: tuple[str, ...]  # policies matching the object, winner first
    changes: tuple[Change, ...] = ()
    blocked: tuple[Change, ...] = ()  # would change, but held back (see problems)
    problems: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class Plan:
    objects: tuple[ObjectPlan, ...]

    @property
    def total_changes(self) -> int:
        return sum(len(o.changes) for o in self.objects)

    def for_object(self, object_id: str) -> ObjectPlan:
        for o in self.objects:
            if o.object_id == object_id:
                return o
        raise KeyError(object_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_changes": self.total_changes,
            "objects": [
                {
                    "object_id": o.object_id,
                    "matched": list(o.matched),
                    "changes": [c.to_dict() for c in o.changes],
                    "blocked": [c.to_dict() for c in o.blocked],
                    "problems": list(o.problems),
                }
                for o in self.objects
            ],
        }

    def render(self) -> str:
        """Human text: every changed or blocked object with each field, old → new, why."""
        lines = []
        for o in self.objects:
            if not (o.changes or o.blocked):
                continue
            lines.append(f"{o.object_id} (policies: {', '.join(o.matched) or 'none'})")
            for c in o.changes:
                lines.append(f"  {c.field}: {c.old!r} -> {c.new!r}  # {c.reason}")
            for c in o.blocked:
                lines.append(f"  BLOCKED {c.field}: {c.old!r} -> {c.new!r}  # {c.reason}")
            lines.extend(f"  ! {p}" for p in o.problems)
        changed = sum(1 for o in self.objects if o.changes)
        lines.append(f"{self.total_changes} changes on {changed} of {len(self.objects)} objects")
        return "\n".join(lines)


class StalePlanError(RuntimeError):
    """The objects changed after the plan was made; make a new plan."""


def same_value(a: Any, b: Any) -> bool:
    """Equality as stored settings mean it: 2 and 2.0 are the same ratio."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return bool(a == b)


def _reason(src: FieldSource) -> str:
    if src.origin == "default":
        return "no policy sets it; built-in default"
    if src.origin == "profile":
        owner = f" (profile set by {src.policy})" if src.policy else ""
        return f"default scaleDownDelay of the autoScaling profile{owner}"
    where = f" at {src.file}:{src.line}" if src.file else ""
    over = f", overriding {', '.join(src.overridden)}" if src.overridden else ""
    return f"set by policy {src.policy}{where}{over}"


def plan(
    objects: Iterable[ObjectState],
    policies: Iterable[Policy | LoadedPolicy] | PolicySet,
) -> Plan:
    """What applying the policies would change on each object, sorted by object id."""
    pset = policies if isinstance(policies, PolicySet) else PolicySet(policies)
    out = []
    for obj in sorted(objects, key=lambda o: o.id):
        eff = pset.effective(obj.labels, obj.tags)
        changes, blocked = [], []
        for path in FIELDS:
            src = eff.fields[path]
            old = obj.settings.get(path)
            if same_value(old, src.value):  # an absent setting reads as None
                continue
            change = Change(path, old, src.value, src.policy, src.file, src.line, _reason(src))
            if eff.problems and path in _REPLICA_FIELDS:
                blocked.append(change)
            else:
                changes.append(change)
        out.append(ObjectPlan(obj.id, eff.matched, tuple(changes), tuple(blocked), eff.problems))
    return Plan(tuple(out))


def apply_plan(objects: Iterable[ObjectState], the_plan: Plan) -> list[ObjectState]:
    """The objects with the plan's changes applied (pure; the live path persists the result).

    Raises StalePlanError when an object's current value is not the one the plan saw.
    """
    by_id = {o.object_id: o for o in the_plan.objects}
    result = []
    for obj in objects:
        op = by_id.get(obj.id)
        if op is None:
            raise StalePlanError(f"object {obj.id} is not in the plan; make a new plan")
        settings = dict(obj.settings)
        for c in op.changes:
            current = settings.get(c.field)
            if not same_value(current, c.old):
                raise StalePlanError(
                    f"{obj.id} {c.field} is {current!r}, the plan expected {c.old!r}; "
                    "make a new plan"
                )
            settings[c.field] = c.new
        result.append(replace(obj, settings=settings))
    return result
