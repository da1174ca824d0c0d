"""Property tests: precedence is order-free, the selector algebra is exact, plans converge."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from novacron.policy.dryrun import ObjectState, apply_plan, plan
from novacron.policy.effective import PolicySet, effective_policy
from novacron.policy.schema import Policy, Selector
from novacron.policy.selectors import compile_selector, covers, merge, witness

KEYS = ["app", "env"]
VALUES = ["a", "b", "c"]

expressions = st.builds(
    lambda key, op, vals: {"key": key, "operator": op,
                           **({"values": vals} if op in ("In", "NotIn") else {})},
    st.sampled_from(KEYS),
    st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
    st.lists(st.sampled_from(VALUES), min_size=1, max_size=2, unique=True),
)  # fmt: skip
selectors = st.builds(
    lambda labels, exprs, tags: {"matchLabels": labels, "matchExpressions": exprs,
                                 "matchTags": tags},
    st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2),
    st.lists(expressions, max_size=3),
    st.lists(st.sampled_from(["pci", "gpu"]), max_size=1),
)  # fmt: skip
rules = st.fixed_dictionaries(
    {},
    optional={
        "minReplicas": st.integers(0, 4),
        "maxReplicas": st.integers(3, 8),
        "autoScaling": st.sampled_from(["conservative", "moderate", "aggressive"]),
        "consolidation": st.booleans(),
        "overcommit": st.fixed_dictionaries({"cpu": st.sampled_from([1.0, 2.0, 3.0])}),
    },
)
autonomy = st.fixed_dictionaries(
    {},
    optional={k: st.sampled_from(["observe", "recommend", "approve", "auto"])
              for k in ("default", "migrate", "scale_out")},
)  # fmt: skip


@st.composite
def policy_sets(draw: st.DrawFn) -> list[Policy]:
    names = draw(st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=6, unique=True))
    out = []
    for name in names:
        raw: dict[str, Any] = {
            "name": name,
            "priority": draw(st.sampled_from([0, 0, 1, 5])),
            "selector": draw(selectors),
            "rules": draw(rules),
            "autonomy": draw(autonomy),
        }
        out.append(Policy.model_validate(raw))
    return out


label_sets = st.dictionaries(st.sampled_from(KEYS), st.sampled_from([*VALUES, "z"]), max_size=2)
tag_sets = st.frozensets(st.sampled_from(["pci", "gpu"]))

# Every VM shape over the small universe, for exhaustive checks of the selector algebra.
UNIVERSE = [
    ({k: v for k, v in zip(KEYS, combo, strict=True) if v is not None}, frozenset(tags))
    for combo in itertools.product([None, *VALUES, "z"], repeat=2)
    for tags in ((), ("pci",), ("gpu",), ("pci", "gpu"))
]


@settings(max_examples=60, deadline=None)
@given(policy_sets(), st.randoms(use_true_random=False), label_sets, tag_sets)
def test_effective_policy_is_independent_of_order(
    policies: list[Policy], rnd: Any, labels: dict[str, str], tags: frozenset[str]
) -> None:
    shuffled = list(policies)
    rnd.shuffle(shuffled)
    a, b = effective_policy(policies, labels, tags), effective_policy(shuffled, labels, tags)
    assert a == b


@settings(max_examples=150, deadline=None)
@given(selectors, selectors)
def test_merge_and_witness_are_exact(raw_a: dict[str, Any], raw_b: dict[str, Any]) -> None:
    try:
        sa, sb = Selector.model_validate(raw_a), Selector.model_validate(raw_b)
    except ValueError:
        return
    ca, cb = compile_selector(sa), compile_selector(sb)
    both = [vm for vm in UNIVERSE if sa.matches(*vm) and sb.matches(*vm)]
    w = witness([ca, cb])
    merged = merge(ca, cb)
    can_match = merged is not None and merged.satisfiable
    # The universe holds a fresh value per key ("z"), so it is rich enough to be exhaustive
    # for selectors over VALUES, except that a witness may need a value outside it.
    if both:
        assert can_match and w is not None
    if w is not None:
        assert sa.matches(*w) and sb.matches(*w)
    else:
        assert not both


@settings(max_examples=150, deadline=None)
@given(selectors, selectors)
def test_covers_is_sound(raw_outer: dict[str, Any], raw_inner: dict[str, Any]) -> None:
    try:
        outer, inner = Selector.model_validate(raw_outer), Selector.model_validate(raw_inner)
    except ValueError:
        return
    if covers(compile_selector(outer), compile_selector(inner)):
        assert all(outer.matches(*vm) for vm in UNIVERSE if inner.matches(*vm))


@settings(max_examples=40, deadline=None)
@given(policy_sets(), st.lists(st.tuples(label_sets, tag_sets), min_size=1, max_size=4))
def test_applying_the_plan_reaches_the_effective_policy(
    policies: list[Policy], vms: list[tuple[dict[str, str], frozenset[str]]]
) -> None:
    objs = [ObjectState(f"vm{i}", labels, tags) for i, (labels, tags) in enumerate(vms)]
    pset = PolicySet(policies)
    the_plan = plan(objs, pset)
    after = apply_plan(objs, the_plan)
    assert plan(after, pset).total_changes == 0
    for obj in after:
        eff = pset.effective(obj.labels, obj.tags)
        op = the_plan.for_object(obj.id)
        for path, value in eff.settings().items():
            if path in {c.field for c in op.blocked}:
                continue
            assert obj.settings.get(path) == value
