"""Policy linter benchmark: time to load and lint 1,000 policies, and seeded conflicts found.

Run from the repository root: ``python -m bench.policy_lint [--quick]``.

- ``lint_1000_policies_s``: median wall time to parse, validate and lint a realistic set of
  1,000 policies (40 apps × environments × tiers, fleet defaults, expressions, tags) spread
  over 10 files, with a topology. Target < 2 s.
- ``seeded_conflicts_detected_pct``: share of the seeded catalogue (novacron.policy.seeded,
  one minimal policy set per finding kind and variant) reported with the right code at the
  right file and line. Target 100.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from novacron.policy.lint import Topology, lint_result
from novacron.policy.loader import LoadResult, load_text
from novacron.policy.seeded import SEEDED, TOPOLOGY

from bench._common import write_results

APPS = [f"app{i:02d}" for i in range(40)]
ENVS = ["prod", "staging", "dev"]
TIERS = ["web", "api", "worker", "db"]
PROFILES = ["conservative", "moderate", "aggressive"]


def _policy(rng: random.Random, i: int) -> str:
    app = rng.choice(APPS)
    kind = rng.random()
    lines = [f"name: p{i:04d}-{app}", f"priority: {rng.choice([0, 10, 20, 50, 100])}"]
    if i < 5:  # a few fleet-wide defaults
        lines.append("selector: {}")
    elif kind < 0.6:
        lines.append(
            f"selector: {{matchLabels: {{app: {app}, env: {rng.choice(ENVS)}, "
            f"tier: {rng.choice(TIERS)}}}}}"
        )
    elif kind < 0.85:
        envs = ", ".join(sorted(set(rng.sample(ENVS, 2))))
        lines += [
            "selector:",
            f"  matchLabels: {{app: {app}}}",
            "  matchExpressions:",
            f"    - {{key: env, operator: In, values: [{envs}]}}",
            "    - {key: canary, operator: DoesNotExist}",
        ]
    else:
        lines += [
            "selector:",
            f"  matchLabels: {{app: {app}}}",
            f"  matchTags: [{rng.choice(['pci', 'gpu', 'batch'])}]",
        ]
    lo = rng.randint(1, 3)
    rules = [f"  minReplicas: {lo}", f"  maxReplicas: {lo + rng.randint(2, 10)}"]
    if rng.random() < 0.5:
        rules.append(f"  antiAffinity: {{mode: {rng.choice(['soft', 'hard'])}, topologyKey: host}}")
    rules.append(f"  autoScaling: {rng.choice(PROFILES)}")
    if rng.random() < 0.3:
        rules.append(f"  overcommit: {{cpu: {rng.choice([1, 2, 4])}, memory: 1.0}}")
    if rng.random() < 0.3:
        rules.append(f"  cost: {{maxHourlyCost: {rng.randint(5, 100)}}}")
    lines += ["rules:", *rules]
    lines.append(f"autonomy: {{default: {rng.choice(['recommend', 'approve', 'auto'])}}}")
    return "\n".join(lines) + "\n"


def corpus(n: int = 1000, files: int = 10, seed: int = 7) -> dict[str, str]:
    rng = random.Random(seed)
    docs = [_policy(rng, i) for i in range(n)]
    per = n // files
    return {
        f"policies-{k:02d}.yaml": "---\n".join(docs[k * per : (k + 1) * per]) for k in range(files)
    }


def lint_corpus(texts: dict[str, str], topology: Topology) -> tuple[int, int]:
    result = LoadResult()
    for name, text in texts.items():
        result.extend(load_text(text, name))
    report = lint_result(result, topology)
    return len(result.policies), len(report.findings)


def seeded_detection() -> tuple[int, list[str]]:
    found, missed = 0, []
    for seed in SEEDED:
        result = LoadResult()
        for name, text in seed.files.items():
            result.extend(load_text(text, name))
        report = lint_result(result, TOPOLOGY)
        file, line = seed.expected
        if any(f.code == seed.code and f.file == file and f.line == line for f in report.findings):
            found += 1
        else:
            missed.append(seed.kind)
    return found, missed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="3 timing runs instead of 7")
    args = ap.parse_args()
    texts = corpus()
    topology = Topology(hosts=200, numa=400, racks=10, zones=3)
    times, counts = [], (0, 0)
    for _ in range(3 if args.quick else 7):
        t0 = time.perf_counter()
        counts = lint_corpus(texts, topology)
        times.append(time.perf_counter() - t0)
    found, missed = seeded_detection()
    kinds = len(SEEDED)
    figures = {
        "lint_1000_policies_s": round(statistics.median(times), 3),
        "lint_1000_policies_s_min": round(min(times), 3),
        "policies_linted": counts[0],
        "findings_on_corpus": counts[1],
        "seeded_conflict_kinds": kinds,
        "seeded_finding_codes": len({s.code for s in SEEDED}),
        "seeded_conflicts_detected_pct": round(100.0 * found / kinds, 1),
        "seeded_missed": ",".join(missed),
        "runs": len(times),
    }
    path = write_results("policy_lint", figures)
    print(f"wrote {path}")
    print(
        f"policy_lint: lint_1000_policies_s={figures['lint_1000_policies_s']} (target < 2), "
        f"seeded_conflicts_detected_pct={figures['seeded_conflicts_detected_pct']} "
        f"of {kinds} kinds (target 100)"
    )


if __name__ == "__main__":
    main()
