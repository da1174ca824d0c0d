"""The loader: valid files load; every error names file, line and field, and says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from novacron.policy.loader import PolicyLoadError, load_dir, load_file, load_text
from novacron.policy.schema import PROFILES, AutoScalingProfile, parse_duration

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "policies"

GOOD = """\
name: web
priority: 10
selector:
  matchLabels: {app: web}
  matchExpressions:
    - {key: env, operator: In, values: [prod]}
rules:
  minReplicas: 2
  maxReplicas: 6
  antiAffinity: {mode: hard, topologyKey: rack}
  autoScaling: aggressive
  scaleDownDelay: 15m
  spotInstances: true
  overcommit: {cpu: 2}
autonomy: {default: approve, scale_out: auto}
---
# an empty document is fine
---
name: batch
rules: {consolidation: true}
"""


def test_multi_document_file_loads_with_lines() -> None:
    res = load_text(GOOD, "good.yaml")
    assert res.ok, res.errors
    web, batch = res.policies
    assert (web.name, web.line, batch.name, batch.line) == ("web", 1, "batch", 19)
    assert web.line_of("rules.antiAffinity") == 10
    assert web.line_of("selector.matchExpressions.0") == 6
    assert web.line_of("rules.nothing.here") == 7  # nearest written ancestor
    r = web.policy.rules
    assert r.scale_down_delay == 900 and r.spot_instances is not None
    assert r.spot_instances.allowed and r.anti_affinity and r.anti_affinity.topology_key == "rack"


def first_error(text: str) -> tuple[int, str, str, str]:
    res = load_text(text, "f.yaml")
    assert res.errors and not res.policies
    e = res.errors[0]
    assert e.file == "f.yaml"
    return e.line, e.field, e.code, e.message


def test_unknown_key_suggests_the_right_one() -> None:
    line, field, code, msg = first_error("name: p\nrules:\n  minReplicas: 1\n  maxReplica: 3\n")
    assert (line, field, code) == (4, "rules.maxReplica", "unknown-key")
    assert "did you mean 'maxReplicas'" in msg


def test_snake_case_is_not_a_synonym() -> None:
    line, field, code, _ = first_error("name: p\nrules:\n  min_replicas: 1\n")
    assert (line, field, code) == (3, "rules.min_replicas", "unknown-key")


def test_missing_name_points_at_the_document() -> None:
    line, field, code, msg = first_error("---\npriority: 1\nrules: {minReplicas: 1}\n")
    assert (line, field, code) == (2, "name", "missing-field")
    assert "add it" in msg


def test_invalid_autonomy_mode_lists_the_modes() -> None:
    line, field, code, msg = first_error("name: p\nautonomy:\n  migrate: sometimes\n")
    assert (line, field, code) == (3, "autonomy.migrate", "invalid-autonomy-mode")
    assert "'observe', 'recommend', 'approve' or 'auto'" in msg


def test_bad_duration_says_how_to_write_one() -> None:
    line, field, code, msg = first_error("name: p\nrules:\n  scaleDownDelay: 5 minutes\n")
    assert (line, field, code) == (3, "rules.scaleDownDelay", "invalid-value")
    assert "'10m'" in msg


def test_out_of_range_nested_value() -> None:
    text = "name: p\nrules:\n  overcommit:\n    cpu: 2\n    memory: 9\n"
    line, field, code, _ = first_error(text)
    assert (line, field, code) == (5, "rules.overcommit.memory", "invalid-value")


def test_operator_value_rules() -> None:
    text = "name: p\nselector:\n  matchExpressions:\n    - key: a\n      operator: Exists\n" \
           "      values: [x]\n"  # fmt: skip
    line, field, code, msg = first_error(text)
    assert (line, field, code) == (4, "selector.matchExpressions.0", "invalid-value")
    assert "takes no 'values'" in msg


def test_duplicate_yaml_key_is_an_error_not_last_wins() -> None:
    line, field, code, msg = first_error("name: p\nrules:\n  minReplicas: 1\n  minReplicas: 9\n")
    assert (line, field, code) == (4, "rules.minReplicas", "duplicate-yaml-key")
    assert "line 3" in msg


def test_yaml_syntax_error_has_a_line() -> None:
    line, _field, code, _ = first_error("name: p\nrules:\n  minReplicas: 2\n bad: 3\n")
    assert (line, code) == (4, "yaml-syntax")


def test_non_mapping_document() -> None:
    res = load_text("name: ok\n---\n- 1\n- 2\n", "f.yaml")
    assert [p.name for p in res.policies] == ["ok"]
    assert [(e.line, e.code) for e in res.errors] == [(3, "not-a-mapping")]


def test_errors_in_one_document_keep_the_others() -> None:
    res = load_text("name: a\n---\nname: b\nrules: {bogus: 1}\n---\nname: c\n", "f.yaml")
    assert [p.name for p in res.policies] == ["a", "c"]
    assert [(e.line, e.field) for e in res.errors] == [(4, "rules.bogus")]
    with pytest.raises(PolicyLoadError, match=r"f\.yaml:4: rules\.bogus: unknown key"):
        res.raise_for_errors()


def test_directory_loader_is_recursive_and_sorted(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text("name: b\n")
    (tmp_path / "a.yaml").write_text("name: a\n---\nname: a2\n")
    (tmp_path / "notes.txt").write_text("not a policy")
    res = load_dir(tmp_path)
    assert res.ok
    assert [(Path(p.file).name, p.name) for p in res.policies] == [
        ("a.yaml", "a"), ("a.yaml", "a2"), ("b.yml", "b")]  # fmt: skip


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    res = load_file(tmp_path / "missing.yaml")
    assert [e.code for e in res.errors] == ["unreadable"]


def test_durations() -> None:
    assert [parse_duration(v) for v in (0, 45, "45", "90s", "10m", "2h", "1d")] == [
        0, 45, 45, 90, 600, 7200, 86400]  # fmt: skip
    for bad in ("-5m", "ten", True, 1.5, -1):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_profiles_are_ordered_from_cautious_to_eager() -> None:
    c, m, a = (PROFILES[p] for p in AutoScalingProfile)
    assert c.target_utilization < m.target_utilization < a.target_utilization
    assert c.scale_down_delay_s > m.scale_down_delay_s > a.scale_down_delay_s
    assert c.max_step < m.max_step < a.max_step
    for n in (c, m, a):
        assert n.scale_down_threshold < n.target_utilization < n.scale_up_threshold


def test_example_policies_in_deploy_load_cleanly() -> None:
    res = load_dir(DEPLOY)
    assert res.ok, [str(e) for e in res.errors]
    assert len(res.policies) >= 2


def test_control_character_is_an_error_with_its_line_not_a_crash() -> None:
    text = "apiVersion: novacron.io/v1\nkind: OrchestrationPolicy\nmetadata:\n  name: bad\x07name\n"
    result = load_text(text, "ctl.yaml")
    [error] = result.errors
    assert (error.file, error.line, error.code) == ("ctl.yaml", 4, "yaml-syntax")
    assert "U+0007" in error.message
