"""novacron.policy: the YAML policy language, validation, precedence, lint and dry-run.

Pure: no I/O beyond reading the policy files it is handed. The usual entry points:

- ``load_dir`` / ``load_paths`` / ``load_text`` → ``LoadResult`` (policies + errors with lines)
- ``PolicySet(policies).effective(labels, tags)`` → ``EffectivePolicy`` with per-field sources
- ``lint(policies, topology, load_errors)`` / ``lint_paths(paths, topology)`` → ``LintReport``
- ``plan(objects, policies)`` → ``Plan``; live mode then calls ``apply_plan(objects, plan)``
"""

from novacron.policy.dryrun import (
    Change,
    ObjectPlan,
    ObjectState,
    Plan,
    StalePlanError,
    apply_plan,
    plan,
)
from novacron.policy.effective import (
    EffectivePolicy,
    FieldSource,
    PolicySet,
    effective_policy,
    precedence_key,
)
from novacron.policy.lint import (
    CODES,
    Finding,
    LintReport,
    Topology,
    lint,
    lint_paths,
    lint_result,
    lint_text,
)
from novacron.policy.loader import (
    LoadedPolicy,
    LoadResult,
    PolicyError,
    PolicyLoadError,
    load_dir,
    load_file,
    load_paths,
    load_text,
)
from novacron.policy.schema import PROFILES, Policy

__all__ = [
    "CODES",
    "PROFILES",
    "Change",
    "EffectivePolicy",
    "FieldSource",
    "Finding",
    "LintReport",
    "LoadResult",
    "LoadedPolicy",
    "ObjectPlan",
    "ObjectState",
    "Plan",
    "Policy",
    "PolicyError",
    "PolicyLoadError",
    "PolicySet",
    "StalePlanError",
    "Topology",
    "apply_plan",
    "effective_policy",
    "lint",
    "lint_paths",
    "lint_result",
    "lint_text",
    "load_dir",
    "load_file",
    "load_paths",
    "load_text",
    "plan",
    "precedence_key",
]
