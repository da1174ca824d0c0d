"""Shared features: rolling_stats keeps its contract; STL and anomaly scores behave."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from novacron.models.features import (
    anomaly_score,
    anomaly_scores,
    rolling_stats,
    stl_decompose,
)


def test_rolling_stats_signature_is_stable() -> None:
    # The stream agents call it positionally and by keyword.
    params = list(inspect.signature(rolling_stats).parameters)
    assert params == ["values", "ewma_alpha"]
    rs = rolling_stats([1.0, 2.0, 3.0, 10.0], ewma_alpha=0.5)
    assert (rs.count, rs.last, rs.mean) == (4, 10.0, 4.0)
    assert rs.ewma == pytest.approx(((1 * 0.5 + 2 * 0.5) * 0.5 + 3 * 0.5) * 0.5 + 10 * 0.5)


def _seasonal(n: int, period: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    season = 5.0 * np.sin(2 * np.pi * np.arange(n) / period)
    return 20.0 + 0.01 * np.arange(n) + season + rng.normal(0, 0.3, n), season


def test_stl_recovers_the_seasonal_shape() -> None:
    y, season = _seasonal(24 * 10, 24, seed=1)
    dec = stl_decompose(y, period=24)
    np.testing.assert_allclose(dec.trend + dec.seasonal + dec.resid, y, atol=1e-9)
    assert np.corrcoef(dec.seasonal, season)[0, 1] > 0.98
    assert np.std(dec.resid) < 0.6
    with pytest.raises(ValueError, match="two periods"):
        stl_decompose(y[:30], period=24)


def test_anomaly_score_flags_a_spike_not_the_cycle() -> None:
    y, _ = _seasonal(24 * 10, 24, seed=2)
    calm = anomaly_score(y, period=24)
    spiked = y.copy()
    spiked[-1] += 6.0  # large against the 0.3 noise, small against the 10-wide cycle
    assert calm < 3.0
    assert anomaly_score(spiked, period=24) > 8.0
    # Without the decomposition the same spike hides inside the daily swing.
    assert anomaly_score(spiked) < 3.0
    scores = anomaly_scores(spiked, period=24)
    assert scores.shape == spiked.shape
    assert int(np.argmax(scores)) == spiked.size - 1


def test_anomaly_score_on_a_flat_window_is_finite() -> None:
    assert anomaly_score([3.0] * 10) == 0.0
    assert anomaly_score([3.0] * 9 + [4.0]) > 1.0
