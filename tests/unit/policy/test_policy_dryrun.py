"""The dry-run plan: object by object, what changes and why; live applies exactly that plan."""

from __future__ import annotations

import pytest
from novacron.policy.dryrun import ObjectState, StalePlanError, apply_plan, plan
from novacron.policy.effective import PolicySet
from novacron.policy.loader import load_text

POLICIES = load_text(
    """\
name: base
rules: {minReplicas: 2, maxReplicas: 10, autoScaling: moderate}
autonomy: {default: recommend}
---
name: web
priority: 10
selector: {matchLabels: {app: web}}
rules:
  minReplicas: 3
  antiAffinity: {mode: hard, topologyKey: rack}
autonomy: {scale_out: auto}
---
name: db-cap
priority: 20
selector: {matchLabels: {app: db}}
rules: {maxReplicas: 1}
""",
    "p.yaml",
).raise_for_errors()


def test_plan_lists_changes_with_cause() -> None:
    vm = ObjectState("vm-1", {"app": "web"}, settings={"rules.minReplicas": 2})
    op = plan([vm], POLICIES).for_object("vm-1")
    assert op.matched == ("web", "base")
    change = {c.field: c for c in op.changes}["rules.minReplicas"]
    assert (change.old, change.new, change.policy, change.file, change.line) == (
        2, 3, "web", "p.yaml", 9)  # fmt: skip
    assert "overriding base" in change.reason
    aa = {c.field: c for c in op.changes}["rules.antiAffinity"]
    assert aa.new == {"mode": "hard", "topologyKey": "rack"} and aa.line == 10


def test_unchanged_objects_have_an_empty_plan() -> None:
    pset = PolicySet(POLICIES)
    vm = ObjectState("vm-1", {"app": "web"})
    settings = pset.effective({"app": "web"}).settings()
    assert not plan([ObjectState("vm-1", {"app": "web"}, settings=settings)], pset).total_changes
    assert plan([vm], pset).total_changes > 0


def test_live_applies_exactly_the_plan_and_converges() -> None:
    objs = [
        ObjectState("b", {"app": "web"}, settings={"rules.minReplicas": 7, "custom": "kept"}),
        ObjectState("a", {"app": "batch"}, frozenset({"pci"})),
    ]
    the_plan = plan(objs, POLICIES)
    after = apply_plan(objs, the_plan)
    for obj in after:
        op = the_plan.for_object(obj.id)
        before = next(o for o in objs if o.id == obj.id)
        changed = {k for k in obj.settings if obj.settings.get(k) != before.settings.get(k)}
        assert changed == {c.field for c in op.changes}
        assert all(obj.settings[c.field] == c.new for c in op.changes)
        assert obj.settings.get("custom") == before.settings.get("custom")
    assert plan(after, POLICIES).total_changes == 0


def test_stale_plan_is_refused() -> None:
    objs = [ObjectState("vm", {"app": "web"}, settings={"rules.minReplicas": 1})]
    the_plan = plan(objs, POLICIES)
    moved = [ObjectState("vm", {"app": "web"}, settings={"rules.minReplicas": 5})]
    with pytest.raises(StalePlanError, match="expected 1"):
        apply_plan(moved, the_plan)
    with pytest.raises(StalePlanError):
        apply_plan([ObjectState("other")], the_plan)


def test_contradictory_replica_bounds_are_blocked_not_applied() -> None:
    vm = ObjectState("db-1", {"app": "db"}, settings={"rules.minReplicas": 2})
    op = plan([vm], POLICIES).for_object("db-1")
    assert {c.field for c in op.blocked} == {"rules.maxReplicas"}
    assert "rules.maxReplicas" not in {c.field for c in op.changes}
    assert op.problems and "exceeds maxReplicas 1" in op.problems[0]
    [after] = apply_plan([vm], plan([vm], POLICIES))
    assert "rules.maxReplicas" not in after.settings


def test_render_and_dict_form() -> None:
    the_plan = plan([ObjectState("vm-1", {"app": "web"})], POLICIES)
    text = the_plan.render()
    assert "vm-1 (policies: web, base)" in text
    assert "rules.minReplicas: None -> 3  # set by policy web at p.yaml:9" in text
    assert text.splitlines()[-1].endswith("on 1 of 1 objects")
    d = the_plan.to_dict()
    assert d["total_changes"] == the_plan.total_changes
    assert d["objects"][0]["changes"][0]["field"] == "rules.minReplicas"
