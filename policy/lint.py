"""The policy linter: problems in one policy, between policies, and against the topology.

Every finding names file, line, field, severity and a stable code, and its message says what
to do. Codes are listed in ``CODES`` (one line each) so the API and docs can show them.

Pairwise checks would be quadratic; ``_candidate_pairs`` splits the set by a pivot label
(policies pinned to different values of ``app`` can never overlap) so a thousand policies
lint in well under a second.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

from novacron.policy.effective import PolicySet, precedence_key
from novacron.policy.loader import LoadedPolicy, LoadResult, PolicyError, load_paths, load_text
from novacron.policy.schema import (
    ACTION_KINDS,
    PROFILES,
    AutoScalingProfile,
    Operator,
    TopologyKey,
)
from novacron.policy.selectors import Constraints, compile_selector, covers, merge, witness

__all__ = [
    "CODES",
    "Finding",
    "LintReport",
    "Severity",
    "Topology",
    "lint",
    "lint_paths",
    "lint_result",
    "lint_text",
]

Severity = Literal["error", "warning", "info"]

CODES: Mapping[str, tuple[Severity, str]] = {
    # from the loader
    "yaml-syntax": ("error", "the file is not valid YAML"),
    "duplicate-yaml-key": ("error", "a key is written twice in one mapping"),
    "not-a-mapping": ("error", "a document is not a mapping"),
    "invalid-key": ("error", "a mapping key is not a plain scalar"),
    "unknown-key": ("error", "a key the policy language does not know"),
    "missing-field": ("error", "a required field is missing"),
    "invalid-value": ("error", "a value has the wrong type or is out of range"),
    "invalid-autonomy-mode": (
        "error",
        "an autonomy mode that is not observe/recommend/approve/auto",
    ),
    "invalid-name": ("error", "a policy name that is not a DNS label"),
    "unreadable": ("error", "a file that cannot be read"),
    # one policy
    "selector-unsatisfiable": ("error", "the selector can never match any VM"),
    "duplicate-selector-term": ("warning", "a repeated selector term inflates specificity"),
    "min-exceeds-max": ("error", "minReplicas is greater than maxReplicas"),
    "hard-anti-affinity-infeasible": ("error", "hard anti-affinity needs more domains than exist"),
    "hard-anti-affinity-caps-max": (
        "warning",
        "maxReplicas exceeds the domains hard spread allows",
    ),
    "soft-anti-affinity-exceeds-domains": ("info", "replicas will share domains"),
    "max-replicas-zero": ("warning", "maxReplicas 0 removes every replica"),
    "replicas-zero-with-healing": ("warning", "healing priority set for zero replicas"),
    "unbounded-autoscaling": ("warning", "automatic scale-out with no replica or cost cap"),
    "autoscaling-without-autonomy": ("info", "autoScaling set while scaling is observe-only"),
    "scale-down-delay-below-cooldown": ("warning", "scaleDownDelay shorter than the cooldown"),
    "scale-down-flapping-risk": ("warning", "scaleDownDelay under a minute"),
    "overcommit-memory-risky": ("warning", "memory overcommit above 1.5"),
    "overcommit-cpu-risky": ("warning", "CPU overcommit above 8"),
    "overcommit-critical": ("warning", "memory overcommit for critical workloads"),
    "spot-for-critical": ("warning", "spot instances for critical workloads"),
    "spot-zero-fraction": ("warning", "spot allowed with maxFraction 0"),
    "spot-fraction-unused": ("warning", "maxFraction set while spot is not allowed"),
    "cost-per-vm-exceeds-total": ("warning", "per-VM cost cap above the total cap"),
    "empty-policy": ("warning", "the policy sets no rule and no autonomy mode"),
    "autonomy-default-unused": ("info", "every action kind is named, default is never used"),
    # between policies
    "duplicate-name": ("error", "two policies share a name"),
    "contradictory-overlap": ("error", "equal priority and specificity, different values"),
    "overlap-decided-by-specificity": ("info", "equal priority, decided by specificity"),
    "shadowed-policy": ("warning", "a policy never decides any field"),
    "effective-min-exceeds-max": ("error", "combined policies give minReplicas > maxReplicas"),
    "effective-hard-anti-affinity-infeasible": (
        "error",
        "combined policies need more domains than exist",
    ),
}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    file: str
    line: int
    field: str
    message: str
    policies: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f" {self.field}:" if self.field else ""
        return f"{self.file}:{self.line}:{where} {self.severity}: {self.message} [{self.code}]"


@dataclass(frozen=True)
class Topology:
    """How many failure domains of each kind the fleet has (fleet-wide counts)."""

    hosts: int
    numa: int
    racks: int
    zones: int

    def domains(self, key: TopologyKey | str) -> int:
        return {
            "host": self.hosts,
            "numa": self.numa,
            "rack": self.racks,
            "zone": self.zones,
        }[str(key)]


@dataclass
class LintReport:
    findings: list[Finding] = field(default_factory=list)
    policies: list[LoadedPolicy] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}


class _Out:
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self._seen: set[tuple[Any, ...]] = set()

    def add(self, code: str, lp: LoadedPolicy, path: str, message: str, *others: str) -> None:
        key = (code, lp.file, lp.line, path, message)
        if key in self._seen:
            return
        self._seen.add(key)
        severity = CODES[code][0]
        line = lp.line_of(path) if path else lp.line
        names = (lp.name, *others)
        self.findings.append(Finding(code, severity, lp.file, line, path, message, names))


def _where(lp: LoadedPolicy, path: str = "") -> str:
    return f"{lp.file}:{lp.line_of(path) if path else lp.line}"


# --- one policy -------------------------------------------------------------------------


def _lint_selector(lp: LoadedPolicy, compiled: Constraints, out: _Out) -> None:
    sel = lp.policy.selector
    seen: dict[tuple[str, str, tuple[str, ...]], int] = {}
    for i, e in enumerate(sel.match_expressions):
        term = (e.key, e.operator.value, tuple(sorted(e.values)))
        if term in seen:
            out.add(
                "duplicate-selector-term",
                lp,
                f"selector.matchExpressions.{i}",
                f"this expression repeats matchExpressions[{seen[term]}]; remove it (repeats "
                "add to specificity and so change precedence)",
            )
        seen.setdefault(term, i)
        if (
            e.key in sel.match_labels
            and e.operator in (Operator.IN, Operator.EXISTS)
            and (e.operator is Operator.EXISTS or e.values == (sel.match_labels[e.key],))
        ):
            out.add(
                "duplicate-selector-term",
                lp,
                f"selector.matchExpressions.{i}",
                f"this expression only repeats matchLabels '{e.key}'; remove it (repeats add "
                "to specificity and so change precedence)",
            )
    if len(set(sel.match_tags)) != len(sel.match_tags):
        out.add(
            "duplicate-selector-term",
            lp,
            "selector.matchTags",
            "a tag is listed twice; list each tag once",
        )
    for key, c in compiled.keys.items():
        if c.satisfiable:
            continue
        terms = []
        if key in sel.match_labels:
            terms.append(f"matchLabels {key}={sel.match_labels[key]}")
        path = "selector.matchLabels" if key in sel.match_labels else "selector"
        for i, e in enumerate(sel.match_expressions):
            if e.key == key:
                vals = f" {list(e.values)}" if e.values else ""
                terms.append(f"{key} {e.operator.value}{vals}")
                path = f"selector.matchExpressions.{i}"
        out.add(
            "selector-unsatisfiable",
            lp,
            path,
            f"no VM can match: {' and '.join(terms)} contradict each other; drop or fix one "
            "of these terms",
        )


def _lint_rules(lp: LoadedPolicy, topology: Topology | None, out: _Out) -> None:
    p = lp.policy
    r = p.rules
    lo, hi = r.min_replicas, r.max_replicas
    if lo is not None and hi is not None and lo > hi:
        out.add(
            "min-exceeds-max",
            lp,
            "rules.minReplicas",
            f"minReplicas {lo} is greater than maxReplicas {hi}; lower minReplicas or raise "
            "maxReplicas",
        )
    if hi == 0:
        out.add(
            "max-replicas-zero",
            lp,
            "rules.maxReplicas",
            "maxReplicas 0 lets NovaCron remove every replica; use a positive cap, or say "
            "so in the description if it is meant",
        )
    aa = r.anti_affinity
    if aa is not None and topology is not None:
        n = topology.domains(aa.topology_key)
        key = aa.topology_key.value
        if aa.mode == "hard" and lo is not None and lo > n:
            out.add(
                "hard-anti-affinity-infeasible",
                lp,
                "rules.antiAffinity",
                f"hard anti-affinity on '{key}' needs {lo} domains for minReplicas {lo} but "
                f"the fleet has {n}; lower minReplicas to {n}, use mode soft, or a finer "
                "topologyKey",
            )
        elif aa.mode == "hard" and hi is not None and hi > n:
            out.add(
                "hard-anti-affinity-caps-max",
                lp,
                "rules.maxReplicas",
                f"hard anti-affinity on '{key}' allows at most {n} replicas, so maxReplicas "
                f"{hi} can never be reached; lower it to {n} or use mode soft",
            )
        elif aa.mode == "soft" and lo is not None and lo > n:
            out.add(
                "soft-anti-affinity-exceeds-domains",
                lp,
                "rules.antiAffinity",
                f"{lo} replicas over {n} '{key}' domains: some will share a domain",
            )
    if r.healing_priority is not None and hi == 0:
        out.add(
            "replicas-zero-with-healing",
            lp,
            "rules.healingPriority",
            "healingPriority is set but maxReplicas is 0, so there is nothing to heal; "
            "remove one of them",
        )
    own = _autonomy_cover(lp)
    if r.auto_scaling is not None:
        if (
            own.get("scale_out") == "auto"
            and hi is None
            and (r.cost is None or r.cost.max_hourly_cost is None)
        ):
            out.add(
                "unbounded-autoscaling",
                lp,
                "rules.autoScaling",
                "scale-out runs automatically with no maxReplicas and no cost.maxHourlyCost; "
                "add one of them",
            )
        if own.get("scale_out") == "observe" and own.get("scale_in") == "observe":
            out.add(
                "autoscaling-without-autonomy",
                lp,
                "rules.autoScaling",
                "autoScaling is set but scale_out and scale_in are observe-only, so it never "
                "acts; raise their autonomy or drop autoScaling",
            )
    profile = PROFILES[r.auto_scaling or AutoScalingProfile.MODERATE]
    delay = r.scale_down_delay
    if delay is not None and delay < 60:
        out.add(
            "scale-down-flapping-risk",
            lp,
            "rules.scaleDownDelay",
            f"scaleDownDelay {delay}s lets a short dip remove capacity; use at least 60s",
        )
    elif delay is not None and delay < profile.scale_down_cooldown_s:
        out.add(
            "scale-down-delay-below-cooldown",
            lp,
            "rules.scaleDownDelay",
            f"scaleDownDelay {delay}s is shorter than the scale-down cooldown "
            f"{profile.scale_down_cooldown_s}s of the profile, so it has no effect; raise it "
            "or remove it",
        )
    oc = r.overcommit
    critical = r.healing_priority is not None and r.healing_priority.value == "critical"
    if oc is not None and oc.memory is not None and oc.memory > 1.5:
        out.add(
            "overcommit-memory-risky",
            lp,
            "rules.overcommit.memory",
            f"memory overcommit {oc.memory} risks host OOM kills; keep it at 1.5 or below",
        )
    if oc is not None and oc.cpu is not None and oc.cpu > 8:
        out.add(
            "overcommit-cpu-risky",
            lp,
            "rules.overcommit.cpu",
            f"CPU overcommit {oc.cpu} starves VMs under load; keep it at 8 or below",
        )
    if critical and oc is not None and oc.memory is not None and oc.memory > 1.0:
        out.add(
            "overcommit-critical",
            lp,
            "rules.overcommit.memory",
            "critical workloads should not run with memory overcommit; set memory: 1.0",
        )
    spot = r.spot_instances
    if spot is not None:
        if spot.allowed and critical:
            out.add(
                "spot-for-critical",
                lp,
                "rules.spotInstances",
                "spot instances can be reclaimed at any time, which defeats critical healing; "
                "set allowed: false or lower healingPriority",
            )
        if spot.allowed and spot.max_fraction == 0:
            out.add(
                "spot-zero-fraction",
                lp,
                "rules.spotInstances",
                "spot is allowed but maxFraction is 0, so none can be used; pick one",
            )
        if not spot.allowed and "max_fraction" in spot.model_fields_set:
            out.add(
                "spot-fraction-unused",
                lp,
                "rules.spotInstances.maxFraction",
                "maxFraction has no effect while allowed is false; remove it",
            )
    cost = r.cost
    if (
        cost is not None
        and cost.max_hourly_cost is not None
        and cost.per_vm_max_hourly_cost is not None
        and cost.per_vm_max_hourly_cost > cost.max_hourly_cost
    ):
        out.add(
            "cost-per-vm-exceeds-total",
            lp,
            "rules.cost.perVmMaxHourlyCost",
            f"perVmMaxHourlyCost {cost.per_vm_max_hourly_cost} exceeds maxHourlyCost "
            f"{cost.max_hourly_cost}; lower it",
        )
    if not p.set_fields():
        out.add(
            "empty-policy",
            lp,
            "",
            "this policy sets no rule and no autonomy mode, so it changes nothing; add rules "
            "or delete it",
        )
    named = p.autonomy.model_fields_set - {"default"}
    if p.autonomy.default is not None and named >= set(ACTION_KINDS):
        out.add(
            "autonomy-default-unused",
            lp,
            "autonomy.default",
            "every action kind is named, so default is never used; remove it",
        )


def _autonomy_cover(lp: LoadedPolicy) -> dict[str, str]:
    """Action kind → mode this policy sets for it, directly or through its default."""
    a = lp.policy.autonomy
    out = {}
    for kind in ACTION_KINDS:
        mode = getattr(a, kind) or a.default
        if mode is not None:
            out[kind] = mode.value
    return out


# --- between policies -------------------------------------------------------------------


def _pivot_pairs(
    items: list[int], cons: Sequence[Constraints], depth: int
) -> Iterator[tuple[int, int]]:
    """Candidate overlapping pairs; pairs pinned to different values of a key are skipped."""
    if len(items) <= 48 or depth > 6:
        yield from combinations(items, 2)
        return
    counts: Counter[str] = Counter()
    for i in items:
        for key, c in cons[i].keys.items():
            if c.allowed is not None or c.exists is False:
                counts[key] += 1
    if not counts:
        yield from combinations(items, 2)
        return
    key, pinned = counts.most_common(1)[0]
    if pinned < len(items) // 4:
        yield from combinations(items, 2)
        return
    buckets: dict[str | None, list[int]] = defaultdict(list)
    wild: list[int] = []
    for i in items:
        pin = cons[i].keys.get(key)
        if pin is None or (pin.allowed is None and pin.exists is not False):
            wild.append(i)
        elif pin.exists is False:
            buckets[None].append(i)
        else:
            for v in (pin.allowed or frozenset()) - pin.forbidden:
                buckets[v].append(i)
    for members in buckets.values():
        yield from _pivot_pairs(members, cons, depth + 1)
    yield from _pivot_pairs(wild, cons, depth + 1)
    wild_set = set(wild)
    pinned_items = [i for i in items if i not in wild_set]
    for w in wild:
        for i in pinned_items:
            yield (w, i) if w < i else (i, w)


def _values_differ(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) != float(b)
    return bool(a != b)


def _lint_pairs(
    policies: Sequence[LoadedPolicy],
    cons: Sequence[Constraints],
    topology: Topology | None,
    out: _Out,
) -> None:
    live = [i for i, c in enumerate(cons) if c.satisfiable]
    pset = PolicySet(policies)
    fields = [p.policy.set_fields() for p in policies]
    covers_ = [_autonomy_cover(p) for p in policies]
    keys = [precedence_key(p.policy, p.file, p.line) for p in policies]
    beaten_by_cover: dict[int, list[int]] = defaultdict(list)
    seen: set[tuple[int, int]] = set()
    confirm: list[tuple[int, int]] = []
    for i, j in _pivot_pairs(live, cons, 0):
        if (i, j) in seen or i == j:
            continue
        seen.add((i, j))
        if merge(cons[i], cons[j]) is None:
            continue
        a, b = (i, j) if keys[i] < keys[j] else (j, i)  # a wins
        pa, pb = policies[a].policy, policies[b].policy
        if pa.name == pb.name:
            continue  # reported as duplicate-name
        if pa.priority == pb.priority:
            tie = pa.specificity == pb.specificity
            code = "contradictory-overlap" if tie else "overlap-decided-by-specificity"
            diffs = [
                f
                for f in fields[a].keys() & fields[b].keys()
                if not f.startswith("autonomy.") and _values_differ(fields[a][f], fields[b][f])
            ]
            kinds = [
                k for k in covers_[a].keys() & covers_[b].keys() if covers_[a][k] != covers_[b][k]
            ]
            if kinds:
                diffs.append("autonomy")
            for f in sorted(diffs):
                if f == "autonomy":
                    shown = ", ".join(
                        f"{k}: {covers_[b][k]} vs {covers_[a][k]}" for k in sorted(kinds)
                    )
                    path = "autonomy"
                else:
                    shown = f"{fields[b][f]!r} vs {fields[a][f]!r}"
                    path = f
                why = (
                    "only the name decides"
                    if tie
                    else f"the more specific selector of '{pa.name}' decides"
                )
                fix = (
                    "give one of them a higher priority or make the selectors disjoint"
                    if tie
                    else "set priorities to say which should win"
                )
                out.add(
                    code,
                    policies[b],
                    path,
                    f"'{pb.name}' and '{pa.name}' ({_where(policies[a], path)}) both match "
                    f"some VMs at priority {pa.priority} and disagree on {path} ({shown}); "
                    f"{why}, so '{pa.name}' wins; {fix}",
                    pa.name,
                )
        # Cross-policy invariants, confirmed on a witness VM below.
        fa, fb = fields[a], fields[b]
        for x, y in ((fa, fb), (fb, fa)):
            lo, hi = x.get("rules.minReplicas"), y.get("rules.maxReplicas")
            if lo is not None and hi is not None and lo > hi:
                confirm.append((a, b))
            aa = x.get("rules.antiAffinity")
            lo = y.get("rules.minReplicas")
            if (
                topology
                and aa
                and aa["mode"] == "hard"
                and lo is not None
                and lo > topology.domains(aa["topologyKey"])
            ):
                confirm.append((a, b))
        if covers(cons[a], cons[b]) and fb.keys() <= fa.keys() and fb:
            beaten_by_cover[b].append(a)
    for b, winners in beaten_by_cover.items():
        lp = policies[b]
        winner = policies[min(winners, key=lambda w: keys[w])]  # same answer in any order
        out.add(
            "shadowed-policy",
            lp,
            "",
            f"'{lp.name}' never decides anything: '{winner.name}' ({_where(winner)}) matches "
            f"every VM it matches, wins on precedence and sets every field it sets; delete "
            f"'{lp.name}' or raise its priority",
            winner.name,
        )
    for a, b in confirm:
        w = witness((cons[a], cons[b]))
        if w is None:
            continue
        eff = pset.effective(*w)
        lo_src, hi_src = eff.source("rules.minReplicas"), eff.source("rules.maxReplicas")
        names = {policies[a].name, policies[b].name}
        by_name = {p.name: p for p in (policies[a], policies[b])}
        shown = ", ".join(f"{k}={v}" for k, v in sorted(w[0].items())) or "any labels"
        if hi_src.value is not None and lo_src.value > hi_src.value and lo_src.policy in names:
            target = by_name.get(hi_src.policy or "", policies[b])
            out.add(
                "effective-min-exceeds-max",
                target,
                "rules.maxReplicas" if hi_src.policy == target.name else "rules.minReplicas",
                f"a VM matching both '{policies[a].name}' and '{policies[b].name}' ({shown}) "
                f"gets minReplicas {lo_src.value} from '{lo_src.policy}' and maxReplicas "
                f"{hi_src.value} from '{hi_src.policy}'; align the two values or make the "
                "selectors disjoint",
                *(names - {target.name}),
            )
        aa_src = eff.source("rules.antiAffinity")
        aa = aa_src.value
        if topology and aa and aa["mode"] == "hard" and aa_src.policy != lo_src.policy:
            n = topology.domains(aa["topologyKey"])
            if lo_src.value > n and {aa_src.policy, lo_src.policy} <= names:
                target = by_name[aa_src.policy or ""]
                out.add(
                    "effective-hard-anti-affinity-infeasible",
                    target,
                    "rules.antiAffinity",
                    f"a VM matching both '{policies[a].name}' and '{policies[b].name}' "
                    f"({shown}) gets hard anti-affinity on '{aa['topologyKey']}' from "
                    f"'{aa_src.policy}' and minReplicas {lo_src.value} from '{lo_src.policy}', "
                    f"but the fleet has {n} such domains; lower minReplicas, use mode soft "
                    "or a finer topologyKey",
                    *(names - {target.name}),
                )


def _lint_names(policies: Sequence[LoadedPolicy], out: _Out) -> None:
    by_name: dict[str, list[LoadedPolicy]] = defaultdict(list)
    for lp in policies:
        by_name[lp.name].append(lp)
    for name, group in by_name.items():
        if len(group) < 2:
            continue
        group.sort(key=lambda lp: (lp.file, lp.line))  # "first" by place, not by load order
        first = group[0]
        for lp in group[1:]:
            out.add(
                "duplicate-name",
                lp,
                "name",
                f"policy name '{name}' is already used at {_where(first, 'name')}; names "
                "identify policies in the store and in decisions, rename one",
                first.name,
            )


# --- entry points -----------------------------------------------------------------------


def _from_errors(errors: Iterable[PolicyError]) -> list[Finding]:
    out = []
    for e in errors:
        severity = CODES.get(e.code, ("error", ""))[0]
        out.append(Finding(e.code, severity, e.file, e.line, e.field, e.message))
    return out


def lint(
    policies: Sequence[LoadedPolicy],
    topology: Topology | None = None,
    load_errors: Iterable[PolicyError] = (),
) -> LintReport:
    """Lint loaded policies (and pass through loader errors), sorted by file and line."""
    out = _Out()
    cons = [compile_selector(lp.policy.selector) for lp in policies]
    for lp, c in zip(policies, cons, strict=True):
        _lint_selector(lp, c, out)
        _lint_rules(lp, topology, out)
    _lint_names(policies, out)
    _lint_pairs(policies, cons, topology, out)
    findings = _from_errors(load_errors) + out.findings
    findings.sort(key=lambda f: (f.file, f.line, f.code, f.field, f.message))
    return LintReport(findings, list(policies))


def lint_result(result: LoadResult, topology: Topology | None = None) -> LintReport:
    return lint(result.policies, topology, result.errors)


def lint_text(text: str, file: str = "<string>", topology: Topology | None = None) -> LintReport:
    return lint_result(load_text(text, file), topology)


def lint_paths(paths: Iterable[str | Path], topology: Topology | None = None) -> LintReport:
    """Load files and directories (recursively) and lint them together."""
    return lint_result(load_paths(paths), topology)
