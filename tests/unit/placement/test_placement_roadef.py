"""Machine-reassignment local search: its incremental deltas equal full recomputation, and
it never leaves the feasible region (checked from the rules, independently)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from novacron.placement.optimizer_roadef import Reassignment, _pick_method, _State, solve


def feasible(pb: Reassignment, a: np.ndarray) -> bool:
    n_m, n_r = pb.capacity.shape
    use = np.zeros((n_m, n_r), dtype=np.int64)
    for p, m in enumerate(a):
        use[m] += pb.requirement[p]
        if pb.initial[p] != m:
            use[pb.initial[p]] += np.where(pb.transient, pb.requirement[p], 0)
    if (use > pb.capacity).any():
        return False
    pairs = list(zip(pb.service.tolist(), a.tolist(), strict=True))
    if len(set(pairs)) != len(pairs):
        return False
    for s in range(len(pb.spread_min)):
        locs = {int(pb.location[m]) for p, m in enumerate(a) if pb.service[p] == s}
        if len(locs) < pb.spread_min[s]:
            return False
    for s, ds in enumerate(pb.deps):
        ns = {int(pb.neighborhood[m]) for p, m in enumerate(a) if pb.service[p] == s}
        for d in ds:
            nd = {int(pb.neighborhood[m]) for p, m in enumerate(a) if pb.service[p] == d}
            if not ns <= nd:
                return False
    return True


@st.composite
def instances(draw: st.DrawFn) -> Reassignment:
    n_m, n_r, n_s = draw(st.integers(3, 5)), 2, draw(st.integers(2, 4))
    n_p = draw(st.integers(n_s, 9))
    service = np.array([i % n_s for i in range(n_p)], dtype=np.int64)
    req = np.array(
        [[draw(st.integers(1, 5)) for _ in range(n_r)] for _ in range(n_p)], dtype=np.int64
    )
    # Initial assignment: round-robin, which respects conflicts when n_p <= n_s * n_m.
    initial = np.array([(i // n_s + i) % n_m for i in range(n_p)], dtype=np.int64)
    use = np.zeros((n_m, n_r), dtype=np.int64)
    np.add.at(use, initial, req)
    cap = use + np.array([[draw(st.integers(0, 8)) for _ in range(n_r)] for _ in range(n_m)])
    deps = [[1] if s == 0 and n_s > 1 and draw(st.booleans()) else [] for s in range(n_s)]
    pb = Reassignment(
        transient=np.array([True, False]),
        load_weight=np.array([draw(st.integers(1, 10)), draw(st.integers(1, 10))]),
        neighborhood=np.array([m % 2 for m in range(n_m)], dtype=np.int64),
        location=np.array([m % 3 for m in range(n_m)], dtype=np.int64),
        capacity=cap,
        safety=np.maximum(
            cap - np.array([[draw(st.integers(0, 6)) for _ in range(n_r)] for _ in range(n_m)]), 0
        ),
        machine_move_cost=np.array(
            [[0 if i == j else draw(st.integers(1, 4)) for j in range(n_m)] for i in range(n_m)]
        ),
        spread_min=np.array([draw(st.integers(0, 2)) for _ in range(n_s)], dtype=np.int64),
        deps=deps,
        service=service,
        requirement=req,
        process_move_cost=np.array([draw(st.integers(0, 5)) for _ in range(n_p)], dtype=np.int64),
        balances=[(0, 1, draw(st.integers(1, 3)), draw(st.integers(0, 5)))],
        w_process=draw(st.integers(0, 5)),
        w_service=draw(st.integers(0, 5)),
        w_machine=draw(st.integers(0, 5)),
        initial=initial,
    )
    return pb


@settings(max_examples=40, deadline=None)
@given(instances(), st.randoms(use_true_random=False))
def test_deltas_match_full_recomputation(pb: Reassignment, rnd: object) -> None:
    if not feasible(pb, pb.initial):
        return
    s = _State(pb, pb.initial)
    rng = np.random.default_rng(0)
    for _ in range(25):
        p = int(rng.integers(len(pb.service)))
        delta, fits = s.shift_deltas(p)
        for m in range(pb.capacity.shape[0]):
            trial = s.assign.copy()
            trial[p] = m
            if m == s.assign[p]:
                continue
            assert bool(fits[m]) == feasible(pb, trial), (p, m)
            if fits[m]:
                assert int(delta[m]) == _State(pb, trial).total() - s.total()
        q = int(rng.integers(len(pb.service)))
        sw = s.swap_delta(p, q)
        if sw is not None:
            trial = s.assign.copy()
            trial[p], trial[q] = s.assign[q], s.assign[p]
            assert feasible(pb, trial)
            assert sw == _State(pb, trial).total() - s.total()
        if fits.any():
            s.apply(p, int(np.flatnonzero(fits)[0]))


@settings(max_examples=40, deadline=None)
@given(instances())
def test_all_partner_swap_scores_match_exact_swaps(pb: Reassignment) -> None:
    """swap_deltas scores every partner at once without spread, dependencies and the
    service-move term: where a swap is feasible it must say so and differ from the exact
    change by exactly that term; where it says no, the swap must really be infeasible."""
    if not feasible(pb, pb.initial):
        return
    s = _State(pb, pb.initial)
    rng = np.random.default_rng(0)
    for _ in range(12):
        p = int(rng.integers(len(pb.service)))
        ds, ok = s.swap_deltas(p)
        for q in range(len(pb.service)):
            exact = s.swap_delta(p, q)
            if not ok[q]:
                assert exact is None, (p, q)
                continue
            trial = s.assign.copy()
            trial[p], trial[q] = s.assign[q], s.assign[p]
            if exact is None:
                assert not feasible(pb, trial), (p, q)
                continue
            after = _State(pb, trial)
            service = pb.w_service * (after.service_move_max() - s.service_move_max())
            assert int(ds[q]) + service == exact == after.total() - s.total()
        fits = s.shift_deltas(p)[1]
        if fits.any():
            s.apply(p, int(np.flatnonzero(fits)[0]))


def test_method_choice_follows_gain_rate_and_revisits_the_other() -> None:
    assert _pick_method({}, {}, 0) == "lns"
    assert _pick_method({"lns": 5.0}, {"lns": 0}, 1) == "anneal"
    rate = {"lns": 1.0, "anneal": 9.0}
    assert _pick_method(rate, {"lns": 0, "anneal": 1}, 2) == "anneal"
    assert _pick_method(rate, {"lns": 0, "anneal": 4}, 5) == "lns"  # idle for 4 chunks
    assert _pick_method({"lns": 0.0, "anneal": 0.0}, {"lns": 0, "anneal": 1}, 2) == "anneal"


@settings(max_examples=25, deadline=None)
@given(instances())
def test_solve_stays_feasible_and_never_worsens(pb: Reassignment) -> None:
    if not feasible(pb, pb.initial):
        return
    res = solve(pb, 0.2, seed=1)
    assert feasible(pb, res.assign)
    assert res.objective == _State(pb, res.assign).total() <= _State(pb, pb.initial).total()


@settings(max_examples=40, deadline=None)
@given(instances(), st.integers(0, 2**16))
def test_cp_sat_neighbourhood_keeps_rules_and_never_worsens(pb: Reassignment, seed: int) -> None:
    """The CP-SAT sub-model encodes capacity with transient holds, conflict, spread and
    dependencies itself: any answer it gives, applied to the state, must be feasible under the
    independent rules and no costlier (it is started from the current assignment)."""
    if not feasible(pb, pb.initial):
        return
    from novacron.placement.optimizer_roadef_lns import reoptimise

    s = _State(pb, pb.initial)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        k = int(rng.integers(2, pb.capacity.shape[0] + 1))
        ms = rng.choice(pb.capacity.shape[0], size=k, replace=False).astype(np.int64)
        on = np.flatnonzero(np.isin(s.assign, ms)).astype(np.int64)
        if on.size == 0:
            continue
        before = s.total()
        moves = reoptimise(s, ms, on, 5.0)
        for p, m in moves or []:
            assert m in ms.tolist() and p in on.tolist()
            s.apply(p, m)
        assert feasible(pb, s.assign), moves
        assert s.total() <= before
        assert s.total() == _State(pb, s.assign).total()
