"""Golden precedence cases: the effective policy against a brute-force reference.

The reference below shares no code with novacron.policy.effective: it matches selectors on
the raw dicts, and picks each field's winner by pairwise comparison (a policy wins when it
beats every other candidate) instead of sorting. Cases are generated systematically: a grid
over the three precedence rules, then seeded random policy sets over every VM shape.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from novacron.policy.effective import effective_policy
from novacron.policy.schema import Policy

KINDS = ["scale_vcpu", "scale_memory", "scale_out", "scale_in", "place", "start", "restart",
         "migrate"]  # fmt: skip

# Independent copy of the documented built-in defaults.
REF_DEFAULTS: dict[str, Any] = {
    "rules.minReplicas": 1,
    "rules.maxReplicas": None,
    "rules.autoScaling": "moderate",
    "rules.healingPriority": "normal",
    "rules.consolidation": True,
    "rules.overcommit.cpu": 1.0,
    "autonomy.default": "recommend",
}
CHECKED = [*REF_DEFAULTS, *(f"autonomy.{k}" for k in KINDS)]

SELECTORS: list[dict[str, Any]] = [
    {},
    {"matchLabels": {"app": "web"}},
    {"matchLabels": {"env": "prod"}},
    {"matchLabels": {"app": "web", "env": "prod"}},
    {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]},
    {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]},
    {"matchLabels": {"app": "web"}, "matchTags": ["pci"]},
    {"matchExpressions": [{"key": "env", "operator": "Exists"}]},
    {"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]},
]

VMS: list[tuple[dict[str, str], frozenset[str]]] = [
    ({k: v for k, v in (("app", app), ("env", env)) if v is not None}, frozenset(tags))
    for app in ("web", "db", None)
    for env in ("prod", "dev", None)
    for tags in ((), ("pci",))
]


# --- the reference --------------------------------------------------------------------


def ref_matches(sel: dict[str, Any], labels: dict[str, str], tags: frozenset[str]) -> bool:
    for k, v in sel.get("matchLabels", {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions", []):
        op, key = e["operator"], e["key"]
        present = key in labels
        if op == "In" and not (present and labels[key] in e["values"]):
            return False
        if op == "NotIn" and present and labels[key] in e["values"]:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return all(t in tags for t in sel.get("matchTags", []))


def ref_terms(raw: dict[str, Any]) -> int:
    sel = raw.get("selector", {})
    n = 0
    n += len(sel.get("matchLabels", {}))
    n += len(sel.get("matchExpressions", []))
    n += len(sel.get("matchTags", []))
    return n


def ref_beats(p: dict[str, Any], q: dict[str, Any]) -> bool:
    if p.get("priority", 0) != q.get("priority", 0):
        return bool(p.get("priority", 0) > q.get("priority", 0))
    if ref_terms(p) != ref_terms(q):
        return ref_terms(p) > ref_terms(q)
    return bool(p["name"] < q["name"])


def ref_get(raw: dict[str, Any], path: str) -> Any:
    node: Any = raw
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def ref_winner(cands: list[dict[str, Any]]) -> dict[str, Any] | None:
    winners = [p for p in cands if all(ref_beats(p, q) for q in cands if q is not p)]
    assert len(winners) <= 1
    return winners[0] if winners else None


def reference(
    raws: list[dict[str, Any]], labels: dict[str, str], tags: frozenset[str]
) -> dict[str, tuple[Any, str | None]]:
    """Field → (value, winning policy name or None for a default)."""
    matching = [r for r in raws if ref_matches(r.get("selector", {}), labels, tags)]
    out: dict[str, tuple[Any, str | None]] = {}
    for path, default in REF_DEFAULTS.items():
        win = ref_winner([r for r in matching if ref_get(r, path) is not None])
        out[path] = (ref_get(win, path), win["name"]) if win else (default, None)
    for kind in KINDS:
        # A policy's autonomy.default speaks for every kind it does not name.
        cands = [
            r
            for r in matching
            if ref_get(r, f"autonomy.{kind}") is not None
            or ref_get(r, "autonomy.default") is not None
        ]
        win = ref_winner(cands)
        if win is None:
            out[f"autonomy.{kind}"] = (REF_DEFAULTS["autonomy.default"], None)
        else:
            own = ref_get(win, f"autonomy.{kind}")
            value = own if own is not None else ref_get(win, "autonomy.default")
            out[f"autonomy.{kind}"] = (value, win["name"])
    return out


# --- case generation ------------------------------------------------------------------

MODES = ["observe", "recommend", "approve", "auto"]


def random_rules(rng: random.Random) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    rules: dict[str, Any] = {}
    if rng.random() < 0.6:
        rules["minReplicas"] = rng.randint(0, 5)
    if rng.random() < 0.4:
        rules["maxReplicas"] = rng.randint(5, 9)
    if rng.random() < 0.5:
        rules["autoScaling"] = rng.choice(["conservative", "moderate", "aggressive"])
    if rng.random() < 0.4:
        rules["healingPriority"] = rng.choice(["critical", "high", "normal", "low"])
    if rng.random() < 0.4:
        rules["consolidation"] = rng.random() < 0.5
    if rng.random() < 0.4:
        rules["overcommit"] = {"cpu": rng.choice([1.0, 2.0, 4.0])}
    raw["rules"] = rules
    autonomy = {}
    if rng.random() < 0.5:
        autonomy["default"] = rng.choice(MODES)
    for kind in rng.sample(KINDS, rng.randint(0, 3)):
        autonomy[kind] = rng.choice(MODES)
    if autonomy:
        raw["autonomy"] = autonomy
    return raw


def grid_cases() -> list[tuple[str, list[dict[str, Any]], dict[str, str], frozenset[str]]]:
    """Two policies matching one VM, over every outcome of priority × specificity × name."""
    by_spec = {0: SELECTORS[0], 1: SELECTORS[1], 2: SELECTORS[3]}
    cases = []
    for prio, spec, names in itertools.product(("eq", "a>", "b>"), ("eq", "a>", "b>"), (0, 1)):
        pa, pb = {"eq": (5, 5), "a>": (9, 5), "b>": (5, 9)}[prio]
        sa, sb = {"eq": (1, 1), "a>": (2, 1), "b>": (1, 0)}[spec]
        na, nb = ("alpha", "beta") if names == 0 else ("beta", "alpha")
        a = {"name": na, "priority": pa, "selector": by_spec[sa],
             "rules": {"minReplicas": 2, "autoScaling": "aggressive"},
             "autonomy": {"default": "auto"}}  # fmt: skip
        b = {"name": nb, "priority": pb, "selector": by_spec[sb],
             "rules": {"minReplicas": 4, "healingPriority": "high"},
             "autonomy": {"migrate": "observe"}}  # fmt: skip
        for vm in ({"app": "web", "env": "prod"}, {"app": "web", "env": "dev"}):
            cases.append((f"grid-{prio}-{spec}-{names}-{vm['env']}", [a, b], vm, frozenset()))
    return cases


def random_cases() -> list[tuple[str, list[dict[str, Any]], dict[str, str], frozenset[str]]]:
    cases = []
    for set_no in range(6):
        rng = random.Random(1000 + set_no)
        raws = []
        for i, name in enumerate(rng.sample(["ant", "bee", "cat", "dog", "eel", "fox"], 5)):
            raw = {"name": name, "priority": rng.choice([0, 0, 5, 10]),
                   "selector": rng.choice(SELECTORS), **random_rules(rng)}  # fmt: skip
            raw["description"] = f"policy {i} of set {set_no}"
            raws.append(raw)
        for v, (labels, tags) in enumerate(VMS):
            cases.append((f"set{set_no}-vm{v}", raws, labels, tags))
    return cases


CASES = grid_cases() + random_cases()


def test_there_are_at_least_100_golden_cases() -> None:
    assert len(CASES) >= 100


@pytest.mark.parametrize(("raws", "labels", "tags"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_effective_matches_reference(
    raws: list[dict[str, Any]], labels: dict[str, str], tags: frozenset[str]
) -> None:
    policies = [Policy.model_validate(r) for r in raws]
    eff = effective_policy(policies, labels, tags)
    expected = reference(raws, labels, tags)
    for path in CHECKED:
        value, winner = expected[path]
        got = eff.source(path)
        assert (got.value, got.policy) == (value, winner), path


# --- hand-checked cases, so the reference itself is anchored -----------------------------


def _p(**raw: Any) -> Policy:
    return Policy.model_validate(raw)


def test_priority_beats_specificity() -> None:
    broad = _p(name="zz", priority=10, rules={"minReplicas": 3})
    narrow = _p(name="aa", priority=1, selector={"matchLabels": {"app": "web", "env": "prod"}},
                rules={"minReplicas": 7})  # fmt: skip
    eff = effective_policy([narrow, broad], {"app": "web", "env": "prod"})
    assert eff.value("rules.minReplicas") == 3
    assert eff.source("rules.minReplicas").policy == "zz"
    assert eff.source("rules.minReplicas").overridden == ("aa",)


def test_specificity_beats_name_then_name_decides() -> None:
    one = _p(name="aa", selector={"matchLabels": {"app": "web"}}, rules={"minReplicas": 2})
    two = _p(name="zz", selector={"matchLabels": {"app": "web", "env": "prod"}},
             rules={"minReplicas": 5})  # fmt: skip
    assert (
        effective_policy([one, two], {"app": "web", "env": "prod"}).value("rules.minReplicas") == 5
    )
    three = _p(name="bb", selector={"matchLabels": {"env": "prod"}}, rules={"minReplicas": 9})
    eff = effective_policy([three, one], {"app": "web", "env": "prod"})
    assert eff.value("rules.minReplicas") == 2  # "aa" < "bb"


def test_fields_come_from_different_policies() -> None:
    a = _p(name="a", priority=5, rules={"overcommit": {"cpu": 4}})
    b = _p(name="b", priority=1, rules={"overcommit": {"memory": 1.2}, "minReplicas": 2})
    eff = effective_policy([a, b], {})
    assert eff.value("rules.overcommit.cpu") == 4.0
    assert eff.source("rules.overcommit.cpu").policy == "a"
    assert eff.value("rules.overcommit.memory") == 1.2
    assert eff.source("rules.overcommit.memory").policy == "b"
    assert eff.source("rules.antiAffinity").origin == "default"


def test_scale_down_delay_follows_the_effective_profile() -> None:
    a = _p(name="a", rules={"autoScaling": "conservative"})
    eff = effective_policy([a], {})
    assert eff.value("rules.scaleDownDelay") == 1800
    assert eff.source("rules.scaleDownDelay").origin == "profile"
    b = _p(name="b", priority=3, rules={"scaleDownDelay": "2m"})
    assert effective_policy([a, b], {}).value("rules.scaleDownDelay") == 120


def test_autonomy_default_of_a_higher_policy_covers_unnamed_kinds() -> None:
    high = _p(name="freeze", priority=100, autonomy={"default": "observe"})
    low = _p(name="web", selector={"matchLabels": {"app": "web"}},
             autonomy={"migrate": "auto", "default": "approve"})  # fmt: skip
    eff = effective_policy([low, high], {"app": "web"})
    assert eff.autonomy("migrate") == "observe"
    assert eff.source("autonomy.migrate").policy == "freeze"
    only_low = effective_policy([low], {"app": "web"})
    assert only_low.autonomy("migrate") == "auto"
    assert only_low.autonomy("restart") == "approve"
    assert effective_policy([], {}).autonomy("restart") == "recommend"


def test_not_in_matches_absent_label_and_tags_must_all_be_present() -> None:
    p = _p(name="p", selector={"matchExpressions": [
        {"key": "app", "operator": "NotIn", "values": ["db"]}], "matchTags": ["pci", "eu"]},
        rules={"minReplicas": 4})  # fmt: skip
    assert effective_policy([p], {}, {"pci", "eu"}).value("rules.minReplicas") == 4
    assert effective_policy([p], {}, {"pci"}).value("rules.minReplicas") == 1
    assert effective_policy([p], {"app": "db"}, {"pci", "eu"}).matched == ()
