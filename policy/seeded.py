"""A catalogue of seeded policy conflicts: each a small policy set with one known problem.

The linter's tests and the ``bench.policy_lint`` benchmark both run it: every seed must be
reported with its code at the line marked ``# !`` (in the file that holds the mark). The
catalogue doubles as documentation: one minimal example per finding kind and variant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from novacron.policy.lint import Topology

__all__ = ["SEEDED", "TOPOLOGY", "Seed"]

MARK = "# !"

# The fleet the topology seeds are checked against.
TOPOLOGY = Topology(hosts=6, numa=12, racks=3, zones=2)


@dataclass(frozen=True)
class Seed:
    kind: str  # unique: code plus variant
    code: str
    files: Mapping[str, str]  # file name → YAML text; one line carries MARK

    @property
    def expected(self) -> tuple[str, int]:
        """(file, line) the finding must point at."""
        for name, text in self.files.items():
            for n, line in enumerate(text.splitlines(), 1):
                if line.rstrip().endswith(MARK):
                    return name, n
        raise ValueError(f"seed {self.kind} has no {MARK!r} mark")


def _s(kind: str, code: str, text: str, **more: str) -> Seed:
    files = {"seed.yaml": text.strip("\n") + "\n"}
    files.update({f"{k}.yaml": v.strip("\n") + "\n" for k, v in more.items()})
    return Seed(kind, code, files)


_OK = "name: ok\nrules: {minReplicas: 1}\n"


def _bad(kind: str, code: str, line: str, section: str = "rules") -> Seed:
    """One invalid line inside a section of an otherwise valid policy."""
    return _s(kind, code, f"name: p\n{section}:\n  {line}  {MARK}\n")


def _pair(kind: str, code: str, a: str, b: str, priority_b: int = 0) -> Seed:
    """Two overlapping web policies; ``b`` loses and carries the mark in its rules."""
    return _s(
        kind,
        code,
        f"""
name: a-web
selector: {{matchLabels: {{app: web}}}}
rules:
  {a}
---
name: b-web
priority: {priority_b}
selector: {{matchLabels: {{tier: front}}}}
rules:
  {b}  {MARK}
""",
    )


_LOADER = [
    _s("unknown-key/top-level", "unknown-key", f"name: p\nreplicas: 3  {MARK}\n"),
    _bad("unknown-key/selector", "unknown-key", "matchLabel: {app: x}", "selector"),
    _s(
        "unknown-key/match-expression",
        "unknown-key",
        f"name: p\nselector:\n  matchExpressions:\n    - key: app\n      operator: In\n"
        f"      values: [x]\n      value: y  {MARK}\n",
    ),
    _bad("unknown-key/rules", "unknown-key", "minReplica: 2"),
    _bad("unknown-key/rules-snake-case", "unknown-key", "min_replicas: 2"),
    _s(
        "unknown-key/anti-affinity",
        "unknown-key",
        f"name: p\nrules:\n  antiAffinity:\n    mode: soft\n    topology: rack  {MARK}\n",
    ),
    _s(
        "unknown-key/spot",
        "unknown-key",
        f"name: p\nrules:\n  spotInstances:\n    allowed: true\n    share: 0.5  {MARK}\n",
    ),
    _s(
        "unknown-key/overcommit",
        "unknown-key",
        f"name: p\nrules:\n  overcommit:\n    disk: 2  {MARK}\n",
    ),
    _s(
        "unknown-key/cost",
        "unknown-key",
        f"name: p\nrules:\n  cost:\n    maxDailyCost: 9  {MARK}\n",
    ),
    _bad("unknown-key/autonomy-action", "unknown-key", "teleport: auto", "autonomy"),
    _s("missing-field/name", "missing-field", f"priority: 3  {MARK}\nrules: {{minReplicas: 1}}\n"),
    _s(
        "missing-field/anti-affinity-mode",
        "missing-field",
        f"name: p\nrules:\n  antiAffinity:  {MARK}\n    topologyKey: rack\n",
    ),
    _s(
        "missing-field/expression-operator",
        "missing-field",
        f"name: p\nselector:\n  matchExpressions:\n    - key: app  {MARK}\n      values: [x]\n",
    ),
    _s("invalid-value/priority-negative", "invalid-value", f"name: p\npriority: -1  {MARK}\n"),
    _bad("invalid-value/min-replicas-negative", "invalid-value", "minReplicas: -2"),
    _bad("invalid-value/min-replicas-text", "invalid-value", "minReplicas: three"),
    _s(
        "invalid-value/cpu-below-1",
        "invalid-value",
        f"name: p\nrules:\n  overcommit:\n    cpu: 0.5  {MARK}\n",
    ),
    _s(
        "invalid-value/memory-above-4",
        "invalid-value",
        f"name: p\nrules:\n  overcommit:\n    memory: 8  {MARK}\n",
    ),
    _s(
        "invalid-value/spot-fraction",
        "invalid-value",
        f"name: p\nrules:\n  spotInstances:\n    allowed: true\n    maxFraction: 1.5  {MARK}\n",
    ),
    _bad("invalid-value/duration", "invalid-value", "scaleDownDelay: soon"),
    _bad("invalid-value/profile", "invalid-value", "autoScaling: turbo"),
    _bad("invalid-value/healing-priority", "invalid-value", "healingPriority: urgent"),
    _s(
        "invalid-value/topology-key",
        "invalid-value",
        f"name: p\nrules:\n  antiAffinity:\n    mode: hard\n    topologyKey: galaxy  {MARK}\n",
    ),
    _s(
        "invalid-value/anti-affinity-mode",
        "invalid-value",
        f"name: p\nrules:\n  antiAffinity:\n    mode: strict  {MARK}\n",
    ),
    _s(
        "invalid-value/operator",
        "invalid-value",
        "name: p\nselector:\n  matchExpressions:\n"
        f"    - key: app\n      operator: Contains  {MARK}\n"
        "      values: [x]\n",
    ),
    _s(
        "invalid-value/in-without-values",
        "invalid-value",
        f"name: p\nselector:\n  matchExpressions:\n    - {{key: app, operator: In}}  {MARK}\n",
    ),
    _s(
        "invalid-value/exists-with-values",
        "invalid-value",
        "name: p\nselector:\n  matchExpressions:\n"
        f"    - {{key: app, operator: Exists, values: [x]}}  {MARK}\n",
    ),
    _s("invalid-value/api-version", "invalid-value", f"apiVersion: novacron/v9  {MARK}\nname: p\n"),
    _s("invalid-value/kind", "invalid-value", f"kind: Pod  {MARK}\nname: p\n"),
    _bad("invalid-value/consolidation", "invalid-value", "consolidation: maybe"),
    _s(
        "invalid-value/cost-zero",
        "invalid-value",
        f"name: p\nrules:\n  cost:\n    maxHourlyCost: 0  {MARK}\n",
    ),
    _bad("invalid-autonomy-mode/default", "invalid-autonomy-mode", "default: yolo", "autonomy"),
    _bad(
        "invalid-autonomy-mode/scale-out", "invalid-autonomy-mode", "scale_out: always", "autonomy"
    ),
    _bad("invalid-autonomy-mode/migrate", "invalid-autonomy-mode", "migrate: manual", "autonomy"),
    _bad("invalid-autonomy-mode/restart", "invalid-autonomy-mode", "restart: Auto", "autonomy"),
    _s("invalid-name/upper-case", "invalid-name", f"name: Web_Tier  {MARK}\n"),
    _s(
        "duplicate-yaml-key/rules",
        "duplicate-yaml-key",
        f"name: p\nrules:\n  minReplicas: 2\n  minReplicas: 3  {MARK}\n",
    ),
    _s("not-a-mapping/list", "not-a-mapping", f"{_OK}---\n- name: p  {MARK}\n"),
    _s(
        "yaml-syntax/bad-indent",
        "yaml-syntax",
        f"name: p\nrules:\n  minReplicas: 2\n maxReplicas: 3  {MARK}\n",
    ),
]

_ONE_POLICY = [
    _s(
        "selector-unsatisfiable/label-vs-notin",
        "selector-unsatisfiable",
        f"name: p\nselector:\n  matchLabels: {{app: web}}\n  matchExpressions:\n"
        f"    - {{key: app, operator: NotIn, values: [web]}}  {MARK}\nrules: {{minReplicas: 1}}\n",
    ),
    _s(
        "selector-unsatisfiable/label-vs-in",
        "selector-unsatisfiable",
        f"name: p\nselector:\n  matchLabels: {{app: web}}\n  matchExpressions:\n"
        f"    - {{key: app, operator: In, values: [db]}}  {MARK}\nrules: {{minReplicas: 1}}\n",
    ),
    _s(
        "selector-unsatisfiable/in-vs-in",
        "selector-unsatisfiable",
        "name: p\nselector:\n  matchExpressions:\n"
        "    - {key: env, operator: In, values: [a, b]}\n"
        f"    - {{key: env, operator: In, values: [c]}}  {MARK}\nrules: {{minReplicas: 1}}\n",
    ),
    _s(
        "selector-unsatisfiable/exists-vs-absent",
        "selector-unsatisfiable",
        f"name: p\nselector:\n  matchExpressions:\n    - {{key: env, operator: Exists}}\n"
        f"    - {{key: env, operator: DoesNotExist}}  {MARK}\nrules: {{minReplicas: 1}}\n",
    ),
    _s(
        "selector-unsatisfiable/label-vs-absent",
        "selector-unsatisfiable",
        f"name: p\nselector:\n  matchLabels: {{env: prod}}\n  matchExpressions:\n"
        f"    - {{key: env, operator: DoesNotExist}}  {MARK}\nrules: {{minReplicas: 1}}\n",
    ),
    _s(
        "selector-unsatisfiable/in-vs-absent",
        "selector-unsatisfiable",
        f"name: p\nselector:\n  matchExpressions:\n    - {{key: env, operator: In, values: [a]}}\n"
        f"    - {{key: env, operator: DoesNotExist}}  {MARK}\nrules: {{minReplicas: 1}}\n",
    ),
    _s(
        "selector-unsatisfiable/in-minus-notin",
        "selector-unsatisfiable",
        "name: p\nselector:\n  matchExpressions:\n"
        "    - {key: env, operator: In, values: [a, b]}\n"
        f"    - {{key: env, operator: NotIn, values: [b, a]}}  {MARK}\nrules: {{minReplicas: 1}}\n",
    ),
    _s(
        "duplicate-selector-term/repeated-expression",
        "duplicate-selector-term",
        f"name: p\nselector:\n  matchExpressions:\n    - {{key: env, operator: Exists}}\n"
        f"    - {{key: env, operator: Exists}}  {MARK}\nrules: {{minReplicas: 1}}\n",
    ),
    _s(
        "duplicate-selector-term/exists-repeats-label",
        "duplicate-selector-term",
        f"name: p\nselector:\n  matchLabels: {{env: prod}}\n  matchExpressions:\n"
        f"    - {{key: env, operator: Exists}}  {MARK}\nrules: {{minReplicas: 1}}\n",
    ),
    _s(
        "duplicate-selector-term/tag-twice",
        "duplicate-selector-term",
        f"name: p\nselector:\n  matchTags: [pci, pci]  {MARK}\nrules: {{minReplicas: 1}}\n",
    ),
    _s(
        "min-exceeds-max/plain",
        "min-exceeds-max",
        f"name: p\nrules:\n  minReplicas: 5  {MARK}\n  maxReplicas: 2\n",
    ),
    *[
        _s(
            f"hard-anti-affinity-infeasible/{key}",
            "hard-anti-affinity-infeasible",
            f"name: p\nrules:\n  minReplicas: {n + 1}\n"
            f"  antiAffinity: {{mode: hard, topologyKey: {key}}}  {MARK}\n",
        )
        for key, n in (("host", 6), ("numa", 12), ("rack", 3), ("zone", 2))
    ],
    _s(
        "hard-anti-affinity-caps-max/rack",
        "hard-anti-affinity-caps-max",
        f"name: p\nrules:\n  minReplicas: 2\n  maxReplicas: 9  {MARK}\n"
        "  antiAffinity: {mode: hard, topologyKey: rack}\n",
    ),
    _s(
        "soft-anti-affinity-exceeds-domains/zone",
        "soft-anti-affinity-exceeds-domains",
        "name: p\nrules:\n  minReplicas: 3\n"
        f"  antiAffinity: {{mode: soft, topologyKey: zone}}  {MARK}\n",
    ),
    _s(
        "max-replicas-zero/plain",
        "max-replicas-zero",
        f"name: p\nrules:\n  maxReplicas: 0  {MARK}\n",
    ),
    _s(
        "replicas-zero-with-healing/plain",
        "replicas-zero-with-healing",
        f"name: p\nrules:\n  maxReplicas: 0\n  healingPriority: high  {MARK}\n",
    ),
    _s(
        "unbounded-autoscaling/plain",
        "unbounded-autoscaling",
        f"name: p\nrules:\n  autoScaling: aggressive  {MARK}\nautonomy: {{scale_out: auto}}\n",
    ),
    _s(
        "autoscaling-without-autonomy/plain",
        "autoscaling-without-autonomy",
        "name: p\nrules:\n  maxReplicas: 4\n"
        f"  autoScaling: moderate  {MARK}\nautonomy: {{default: observe}}\n",
    ),
    _s(
        "scale-down-delay-below-cooldown/conservative",
        "scale-down-delay-below-cooldown",
        f"name: p\nrules:\n  autoScaling: conservative\n  scaleDownDelay: 5m  {MARK}\n",
    ),
    _s(
        "scale-down-flapping-risk/plain",
        "scale-down-flapping-risk",
        f"name: p\nrules:\n  scaleDownDelay: 10s  {MARK}\n",
    ),
    _s(
        "overcommit-memory-risky/plain",
        "overcommit-memory-risky",
        f"name: p\nrules:\n  overcommit:\n    memory: 2.0  {MARK}\n",
    ),
    _s(
        "overcommit-cpu-risky/plain",
        "overcommit-cpu-risky",
        f"name: p\nrules:\n  overcommit:\n    cpu: 16  {MARK}\n",
    ),
    _s(
        "overcommit-critical/plain",
        "overcommit-critical",
        f"name: p\nrules:\n  healingPriority: critical\n  overcommit:\n    memory: 1.2  {MARK}\n",
    ),
    _s(
        "spot-for-critical/plain",
        "spot-for-critical",
        f"name: p\nrules:\n  healingPriority: critical\n  spotInstances: true  {MARK}\n",
    ),
    _s(
        "spot-zero-fraction/plain",
        "spot-zero-fraction",
        f"name: p\nrules:\n  spotInstances: {{allowed: true, maxFraction: 0}}  {MARK}\n",
    ),
    _s(
        "spot-fraction-unused/plain",
        "spot-fraction-unused",
        f"name: p\nrules:\n  spotInstances:\n    allowed: false\n    maxFraction: 0.3  {MARK}\n",
    ),
    _s(
        "cost-per-vm-exceeds-total/plain",
        "cost-per-vm-exceeds-total",
        f"name: p\nrules:\n  cost:\n    maxHourlyCost: 5\n    perVmMaxHourlyCost: 9  {MARK}\n",
    ),
    _s(
        "empty-policy/plain",
        "empty-policy",
        f"name: p  {MARK}\nselector: {{matchLabels: {{app: x}}}}\n",
    ),
    _s(
        "autonomy-default-unused/plain",
        "autonomy-default-unused",
        "name: p\nautonomy:\n"
        f"  default: observe  {MARK}\n"
        "  scale_vcpu: auto\n  scale_memory: auto\n  scale_out: auto\n  scale_in: auto\n"
        "  place: auto\n  start: auto\n  restart: auto\n  migrate: approve\n"
        "  shutdown: approve\n  destroy: approve\n  reboot: auto\n  reset: auto\n",
    ),
]

_OVERLAP_FIELDS = [
    ("min-replicas", "minReplicas: 2", "minReplicas: 3"),
    ("max-replicas", "maxReplicas: 8", "maxReplicas: 6"),
    ("anti-affinity", "antiAffinity: {mode: soft}", "antiAffinity: {mode: hard}"),
    ("auto-scaling", "autoScaling: moderate", "autoScaling: aggressive"),
    ("healing-priority", "healingPriority: high", "healingPriority: low"),
    ("spot", "spotInstances: false", "spotInstances: true"),
    ("scale-down-delay", "scaleDownDelay: 10m", "scaleDownDelay: 20m"),
    ("consolidation", "consolidation: true", "consolidation: false"),
    ("overcommit-cpu", "overcommit: {cpu: 2}", "overcommit: {cpu: 4}"),
    ("overcommit-memory", "overcommit: {memory: 1.1}", "overcommit: {memory: 1.3}"),
    ("cost", "cost: {maxHourlyCost: 10}", "cost: {maxHourlyCost: 20}"),
]

_BETWEEN = [
    _s(
        "duplicate-name/same-file",
        "duplicate-name",
        "name: web\nrules: {minReplicas: 1}\n---\n"
        f"name: web  {MARK}\nrules: {{minReplicas: 2}}\n",
    ),
    Seed(
        "duplicate-name/two-files",
        "duplicate-name",
        {"a.yaml": "name: web\nrules: {minReplicas: 1}\n", "b.yaml": f"name: web  {MARK}\n"},
    ),
    *[
        _pair(f"contradictory-overlap/{slug}", "contradictory-overlap", a, b)
        for slug, a, b in _OVERLAP_FIELDS
    ],
    _s(
        "contradictory-overlap/autonomy-default-vs-kind",
        "contradictory-overlap",
        f"""
name: a-web
selector: {{matchLabels: {{app: web}}}}
autonomy: {{default: observe}}
---
name: b-web
selector: {{matchLabels: {{tier: front}}}}
autonomy: {{migrate: auto}}  {MARK}
""",
    ),
    _s(
        "overlap-decided-by-specificity/min-replicas",
        "overlap-decided-by-specificity",
        f"""
name: a-web
selector: {{matchLabels: {{app: web, env: prod}}}}
rules: {{minReplicas: 4}}
---
name: b-web
selector: {{matchLabels: {{tier: front}}}}
rules: {{minReplicas: 2}}  {MARK}
""",
    ),
    _s(
        "shadowed-policy/broader-higher-priority",
        "shadowed-policy",
        f"""
name: fleet
priority: 50
rules: {{minReplicas: 2, autoScaling: conservative}}
---
name: web  {MARK}
priority: 10
selector: {{matchLabels: {{app: web}}}}
rules: {{minReplicas: 3}}
""",
    ),
    _s(
        "effective-min-exceeds-max/labels",
        "effective-min-exceeds-max",
        f"""
name: web-floor
priority: 5
selector: {{matchLabels: {{app: web}}}}
rules: {{minReplicas: 6}}
---
name: prod-cap
priority: 9
selector: {{matchLabels: {{env: prod}}}}
rules:
  maxReplicas: 4  {MARK}
""",
    ),
    _s(
        "effective-min-exceeds-max/expressions",
        "effective-min-exceeds-max",
        f"""
name: gpu-cap
priority: 9
selector:
  matchExpressions: [{{key: gpu, operator: Exists}}]
rules:
  maxReplicas: 1  {MARK}
---
name: critical-floor
priority: 3
selector:
  matchExpressions: [{{key: tier, operator: In, values: [gold, silver]}}]
rules: {{minReplicas: 3}}
""",
    ),
    _s(
        "effective-hard-anti-affinity-infeasible/zone",
        "effective-hard-anti-affinity-infeasible",
        f"""
name: spread-zones
priority: 9
selector: {{matchLabels: {{ha: "true"}}}}
rules:
  antiAffinity: {{mode: hard, topologyKey: zone}}  {MARK}
---
name: big-web
priority: 1
selector: {{matchLabels: {{app: web}}}}
rules: {{minReplicas: 3}}
""",
    ),
    _s(
        "effective-hard-anti-affinity-infeasible/rack",
        "effective-hard-anti-affinity-infeasible",
        f"""
name: many
priority: 9
selector: {{matchTags: [batch]}}
rules: {{minReplicas: 5}}
---
name: spread-racks
priority: 1
selector: {{matchExpressions: [{{key: env, operator: NotIn, values: [dev]}}]}}
rules:
  antiAffinity: {{mode: hard, topologyKey: rack}}  {MARK}
""",
    ),
]

SEEDED: tuple[Seed, ...] = (*_LOADER, *_ONE_POLICY, *_BETWEEN)
assert len({s.kind for s in SEEDED}) == len(SEEDED), "seed kinds must be unique"
