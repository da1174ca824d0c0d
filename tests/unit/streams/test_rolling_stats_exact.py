"""The fast rolling statistics give numpy's numbers bit for bit (training computed them with
numpy; a model must see the same features on the stream)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from novacron.models.features import (
    anomaly_score,
    mean_std,
    median,
    percentile_linear,
    robust_zscores,
    rolling_stats,
)

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=1, max_size=300), st.sampled_from([0.0, 5.0, 50.0, 95.0, 99.0, 100.0]))
def test_percentile_is_numpys_linear_percentile(values: list[float], q: float) -> None:
    assert percentile_linear(values, q) == float(np.percentile(np.asarray(values), q))


@given(st.lists(finite, min_size=1, max_size=300))
def test_rolling_stats_match_the_numpy_reference(values: list[float]) -> None:
    arr = np.asarray(values, dtype=float)
    ewma = float(arr[0])
    for v in arr[1:]:
        ewma = 0.3 * float(v) + 0.7 * ewma
    s = rolling_stats(values)
    assert (s.count, s.last, s.mean, s.std, s.p95, s.ewma) == (
        arr.size, float(arr[-1]), float(arr.mean()), float(arr.std()),
        float(np.percentile(arr, 95)), ewma)


def test_nan_follows_numpy() -> None:
    assert np.isnan(percentile_linear([1.0, float("nan"), 3.0], 95.0))


@given(st.lists(finite, min_size=1, max_size=400))
def test_mean_std_and_median_are_numpys(values: list[float]) -> None:
    arr = np.asarray(values, dtype=float)
    assert mean_std(values) == (float(arr.mean()), float(arr.std()))
    assert median(values) == float(np.median(arr))


@given(st.lists(finite, min_size=1, max_size=300))
def test_the_streams_anomaly_score_is_the_arrays(values: list[float]) -> None:
    # The stream agent's plain-Python path against the numpy code training uses.
    assert anomaly_score(values) == float(robust_zscores(values)[-1])
    assert anomaly_score(values, period=500) == float(robust_zscores(values)[-1])


def test_sums_follow_numpys_order_not_the_exact_sum() -> None:
    # 1e16 + 1 + ... loses the ones in numpy's blocked order; a naive or exact sum would not
    # give numpy's figure, so this pins the order itself.
    values = [1e16] + [1.0] * 150 + [-1e16]
    assert mean_std(values)[0] == float(np.asarray(values).mean())
