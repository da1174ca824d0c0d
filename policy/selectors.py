"""Selector algebra for the linter: can a selector match anything, do two overlap, does one
cover another, and a witness VM (labels and tags) that a set of selectors all match.

A selector becomes one constraint per label key: the values it allows (None: any), the
values it forbids, and whether the key must exist (True), must not (False) or either (None).
Everything here is exact for the four operators, so "overlap" means a real VM could match.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from novacron.policy.schema import Operator, Selector

__all__ = ["Constraint", "Constraints", "compile_selector", "covers", "merge", "witness"]


@dataclass(frozen=True)
class Constraint:
    allowed: frozenset[str] | None = None
    forbidden: frozenset[str] = frozenset()
    exists: bool | None = None

    def and_(self, other: Constraint) -> Constraint:
        if self.allowed is None:
            allowed = other.allowed
        elif other.allowed is None:
            allowed = self.allowed
        else:
            allowed = self.allowed & other.allowed
        if self.exists is None:
            exists = other.exists
        elif other.exists is None or other.exists == self.exists:
            exists = self.exists
        else:
            return _NEVER
        return Constraint(allowed, self.forbidden | other.forbidden, exists)

    @property
    def satisfiable(self) -> bool:
        if self is _NEVER:
            return False
        if self.allowed is not None:
            return self.exists is not False and bool(self.allowed - self.forbidden)
        return True

    def pick(self) -> str | None:
        """A label value meeting the constraint; None means 'leave the label off'."""
        if self.allowed is not None:
            return min(self.allowed - self.forbidden)
        if self.exists:
            value, n = "x", 0
            while value in self.forbidden:
                n += 1
                value = f"x{n}"
            return value
        return None


_NEVER = Constraint(frozenset(), frozenset(), False)


@dataclass(frozen=True)
class Constraints:
    keys: Mapping[str, Constraint]
    tags: frozenset[str]

    @property
    def satisfiable(self) -> bool:
        return all(c.satisfiable for c in self.keys.values())


def compile_selector(selector: Selector) -> Constraints:
    keys: dict[str, Constraint] = {}

    def add(key: str, c: Constraint) -> None:
        keys[key] = keys[key].and_(c) if key in keys else c

    for key, value in selector.match_labels.items():
        add(key, Constraint(frozenset((value,)), frozenset(), True))
    for e in selector.match_expressions:
        if e.operator is Operator.IN:
            add(e.key, Constraint(frozenset(e.values), frozenset(), True))
        elif e.operator is Operator.NOT_IN:
            add(e.key, Constraint(None, frozenset(e.values), None))
        elif e.operator is Operator.EXISTS:
            add(e.key, Constraint(None, frozenset(), True))
        else:
            add(e.key, Constraint(None, frozenset(), False))
    return Constraints(keys, frozenset(selector.match_tags))


def merge(a: Constraints, b: Constraints) -> Constraints | None:
    """The conjunction of two selectors, or None when no VM can match both."""
    small, big = (a, b) if len(a.keys) <= len(b.keys) else (b, a)
    keys = dict(big.keys)
    for key, c in small.keys.items():
        other = keys.get(key)
        if other is not None:
            c = c.and_(other)
            if not c.satisfiable:
                return None
        keys[key] = c
    return Constraints(keys, a.tags | b.tags)


def _implies(c: Constraint, term: Constraint) -> bool:
    """Every value meeting ``c`` also meets ``term`` (c, term on the same key)."""
    if term.exists is True and not (c.exists is True or c.allowed is not None):
        return False
    if term.exists is False and c.exists is not False:
        return False
    if term.allowed is not None and (
        c.allowed is None or not c.allowed - c.forbidden <= term.allowed
    ):
        return False
    if term.forbidden:
        if c.exists is False:
            return True
        if c.allowed is None or (c.allowed - c.forbidden) & term.forbidden:
            return bool(term.forbidden <= c.forbidden)
    return True


def covers(outer: Constraints, inner: Constraints) -> bool:
    """True when every VM matching ``inner`` also matches ``outer`` (sound, not complete)."""
    if not outer.tags <= inner.tags:
        return False
    absent = Constraint(None, frozenset(), None)
    return all(_implies(inner.keys.get(k, absent), term) for k, term in outer.keys.items())


def witness(parts: Iterable[Constraints]) -> tuple[dict[str, str], frozenset[str]] | None:
    """Labels and tags of a VM that every given selector matches, or None if none can."""
    merged: Constraints | None = Constraints({}, frozenset())
    for part in parts:
        merged = merge(merged, part) if merged is not None else None
    if merged is None or not merged.satisfiable:
        return None
    labels = {}
    for key, c in merged.keys.items():
        value = c.pick()
        if value is not None:
            labels[key] = value
    return labels, merged.tags
