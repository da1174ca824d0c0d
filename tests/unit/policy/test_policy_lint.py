"""The linter: every seeded conflict found at its file and line; clean sets stay clean."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from novacron.policy.lint import CODES, Topology, lint, lint_paths, lint_result, lint_text
from novacron.policy.loader import LoadResult, load_text
from novacron.policy.seeded import SEEDED, TOPOLOGY, Seed

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "policies"


def _lint_seed(seed: Seed) -> LoadResult:
    res = LoadResult()
    for name, text in seed.files.items():
        res.extend(load_text(text, name))
    return res


def test_catalogue_has_at_least_50_kinds() -> None:
    assert len(SEEDED) >= 50
    assert {s.code for s in SEEDED} <= set(CODES)


@pytest.mark.parametrize("seed", SEEDED, ids=[s.kind for s in SEEDED])
def test_seeded_conflict_is_found_at_its_line(seed: Seed) -> None:
    report = lint_result(_lint_seed(seed), TOPOLOGY)
    file, line = seed.expected
    hits = [f for f in report.findings if f.code == seed.code]
    assert any((f.file, f.line) == (file, line) for f in hits), [str(f) for f in report.findings]
    for f in hits:
        assert f.severity == CODES[f.code][0]
        assert f.message and f.message[-1] not in ".:"


def test_message_format_names_file_line_field() -> None:
    text = "name: p\nrules:\n  minReplicas: 5\n  maxReplicas: 2\n"
    [finding] = lint_text(text, "p.yaml").findings
    assert str(finding) == (
        "p.yaml:3: rules.minReplicas: error: minReplicas 5 is greater than maxReplicas 2; "
        "lower minReplicas or raise maxReplicas [min-exceeds-max]"
    )


def test_topology_checks_need_a_topology() -> None:
    text = "name: p\nrules:\n  minReplicas: 9\n  antiAffinity: {mode: hard, topologyKey: zone}\n"
    assert lint_text(text).ok
    report = lint_text(text, topology=Topology(hosts=10, numa=20, racks=4, zones=3))
    assert report.codes() == {"hard-anti-affinity-infeasible"}


def test_disjoint_selectors_do_not_conflict() -> None:
    text = """
name: a
selector: {matchLabels: {app: web}}
rules: {minReplicas: 2}
---
name: b
selector: {matchExpressions: [{key: app, operator: NotIn, values: [web]}]}
rules: {minReplicas: 3}
---
name: c
selector: {matchLabels: {app: web}}
rules: {maxReplicas: 6}
"""
    assert lint_text(text).findings == []


def test_higher_priority_override_is_not_a_contradiction() -> None:
    text = """
name: base
rules: {minReplicas: 2, autoScaling: moderate}
---
name: web
priority: 10
selector: {matchLabels: {app: web}}
rules: {minReplicas: 4}
"""
    assert lint_text(text).findings == []


def test_example_policies_lint_without_errors() -> None:
    report = lint_paths([DEPLOY], Topology(hosts=12, numa=24, racks=4, zones=3))
    assert report.ok, [str(f) for f in report.errors]
    assert len(report.policies) >= 2


def test_findings_do_not_depend_on_policy_order() -> None:
    texts = [s.files for s in SEEDED if s.kind.startswith(("contradictory", "effective", "dup"))]
    res = LoadResult()
    for n, files in enumerate(texts):
        for name, text in files.items():
            res.extend(load_text(text.replace("name: ", f"name: s{n}-"), f"{n}-{name}"))
    base = lint(res.policies, TOPOLOGY).findings
    rng = random.Random(3)
    for _ in range(5):
        shuffled = list(res.policies)
        rng.shuffle(shuffled)
        again = lint(shuffled, TOPOLOGY).findings
        assert sorted(map(str, again)) == sorted(map(str, base))


def test_many_policies_pairing_finds_the_same_as_brute_force() -> None:
    # The pivot split must not lose a pair: compare with every-pair linting of small groups.
    rng = random.Random(11)
    docs = []
    for i in range(120):
        app = rng.choice(["a", "b", "c"])
        sel = rng.choice([f"{{matchLabels: {{app: {app}}}}}", "{}",
                          f"{{matchExpressions: [{{key: app, operator: In, values: [{app}, z]}}]}}",
                          "{matchExpressions: [{key: app, operator: DoesNotExist}]}"])  # fmt: skip
        docs.append(f"name: p{i}\npriority: {rng.choice([0, 1])}\nselector: {sel}\n"
                    f"rules: {{minReplicas: {rng.randint(1, 3)}}}\n")  # fmt: skip
    res = load_text("---\n".join(docs), "many.yaml")
    assert res.ok
    full = {str(f) for f in lint(res.policies).findings if f.code == "contradictory-overlap"}
    expected = set()
    for i, a in enumerate(res.policies):
        for b in res.policies[i + 1 :]:
            for f in lint([a, b]).findings:
                if f.code == "contradictory-overlap":
                    expected.add(str(f))
    assert full == expected and expected
