"""The naive baseline: the last value, with intervals from the series' own recent changes."""

from __future__ import annotations

import numpy as np
from novacron.models.baselines import Naive


def test_intervals_cover_a_random_walk_about_as_often_as_their_level() -> None:
    rng = np.random.default_rng(3)
    y = np.cumsum(rng.normal(0.0, 1.0, 3000)) + 100.0
    hits = {1: 0, 5: 0}
    origins = range(600, 2900, 7)
    for t in origins:
        fc = Naive(window_s=4 * 3600.0).fit(y[: t + 1], 60.0).predict(5, (0.8,))
        assert np.all(fc.point == y[t])
        for h in hits:
            lo, hi = fc.lower(0.8)[h - 1], fc.upper(0.8)[h - 1]
            hits[h] += int(lo <= y[t + h] <= hi)
    for h, n in hits.items():
        assert 0.72 <= n / len(origins) <= 0.88, (h, n / len(origins))
    # A random walk spreads with the horizon: so do the intervals.
    fc = Naive().fit(y, 60.0).predict(5, (0.8,))
    width = fc.upper(0.8) - fc.lower(0.8)
    assert width[4] > 1.5 * width[0]


def test_a_short_history_gives_the_last_value_without_spread() -> None:
    fc = Naive().fit(np.array([3.0, 4.0]), 60.0).predict(4, (0.9,))
    assert np.all(fc.point == 4.0) and np.all(fc.upper(0.9) == 4.0) and np.all(fc.lower(0.9) == 4.0)
