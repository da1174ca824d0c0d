"""The simulator's online forecaster: calibrated in event time, never peeking ahead."""

from __future__ import annotations

import numpy as np
from novacron.autoscaler.online import conformal_peak

STEP = 300.0
DAY = 288


def series(seed: int, days: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(days * DAY)
    return np.maximum(8 + 5 * np.sin(2 * np.pi * t / DAY) + rng.gamma(2.0, 0.6, t.size), 0.0)


def test_the_bound_covers_the_peak_about_as_often_as_its_level() -> None:
    y = series(1)
    h = 3
    for level in (0.8, 0.95):
        _, upper, _ = conformal_peak(y, STEP, h, level=level, window_s=86_400.0)
        rows = np.arange(2 * DAY, y.size - h)
        peak = np.array([y[i + 1 : i + 1 + h].max() for i in rows])
        coverage = float(np.mean(peak <= upper[rows, h - 1] + 1e-9))
        assert level - 0.04 <= coverage <= level + 0.04


def test_a_forecast_uses_only_the_past() -> None:
    y = series(2)
    cut = 3 * DAY
    changed = y.copy()
    changed[cut + 1 :] *= 3.0  # a different future
    p1, u1, _ = conformal_peak(y, STEP, 6, level=0.9)
    p2, u2, _ = conformal_peak(changed, STEP, 6, level=0.9)
    # Rows up to the cut see the same past; only their peaks lie in the future.
    np.testing.assert_allclose(p1[: cut + 1, 0], p2[: cut + 1, 0])
    np.testing.assert_allclose(u1[: cut + 1], u2[: cut + 1])


def test_the_bound_is_a_running_peak_above_the_path() -> None:
    point, upper, chosen = conformal_peak(series(3), STEP, 5, level=0.9)
    assert np.all(np.diff(upper, axis=1) >= -1e-12)
    assert np.all(upper >= point - 1e-12)
    assert set(np.unique(chosen)) <= {0.0, 1.0}
