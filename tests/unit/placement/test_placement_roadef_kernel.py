"""The compiled reassignment kernel: its move scores equal full recomputation, it refuses
exactly the infeasible moves, and its annealing keeps the state feasible and its running
cost equal to the recomputed one."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from novacron.placement.optimizer_roadef import Reassignment, _State
from novacron.placement.optimizer_roadef_kernel import Kernel
from test_placement_roadef import feasible, instances


@settings(max_examples=40, deadline=None)
@given(instances(), st.integers(0, 2**16))
def test_kernel_deltas_match_full_recomputation(pb: Reassignment, seed: int) -> None:
    if not feasible(pb, pb.initial):
        return
    k = Kernel(pb, pb.initial)
    rng = np.random.default_rng(seed)
    n_p, n_m = len(pb.service), pb.capacity.shape[0]
    for _ in range(30):
        before = _State(pb, k.assign).total()
        assert k.total() == k.cur == before
        p = int(rng.integers(n_p))
        for m in range(n_m):
            if m == k.assign[p]:
                continue
            trial = k.assign.copy()
            trial[p] = m
            d = k.shift_delta(p, m)
            assert (d is not None) == feasible(pb, trial), (p, m)
            if d is not None:
                assert d == _State(pb, trial).total() - before
        q = int(rng.integers(n_p))
        sw = k.swap_delta(p, q)
        if sw is not None:  # may refuse a feasible swap (conservative), never the reverse
            trial = k.assign.copy()
            trial[p], trial[q] = k.assign[q], k.assign[p]
            assert feasible(pb, trial)
            assert sw == _State(pb, trial).total() - before
        ms = [m for m in range(n_m) if m != k.assign[p] and k.shift_delta(p, m) is not None]
        if ms:
            k.apply(p, int(rng.choice(ms)))


@settings(max_examples=40, deadline=None)
@given(instances(), st.integers(0, 2**16), st.floats(0.0, 50.0))
def test_kernel_annealing_stays_feasible_and_tracks_cost(
    pb: Reassignment, seed: int, temp: float
) -> None:
    if not feasible(pb, pb.initial):
        return
    k = Kernel(pb, pb.initial)
    start = k.cur
    for i in range(3):
        k.anneal(500, temp, temp * 0.1, 0.5, seed + i)
        assert feasible(pb, k.assign)
        assert k.cur == _State(pb, k.assign).total() == k.total()
        # The counters the kernel updates in place equal ones rebuilt from scratch.
        fresh = Kernel(pb, k.assign)
        for name in ("usage", "held", "on_machine", "in_loc", "n_locs", "in_nbh", "moved"):
            assert np.array_equal(getattr(k, name), getattr(fresh, name)), name
        assert np.array_equal(k.hist, fresh.hist) and k.mx == fresh.mx
        assert np.array_equal(k.mcost, fresh.mcost)
    assert feasible(pb, k.best_assign)
    assert k.best == _State(pb, k.best_assign).total() <= start
