"""Metrics against hand-computed values, plus properties that must hold for any input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from novacron.models.metrics import (
    coverage,
    mae,
    mase,
    mean_width,
    naive_scale,
    smape,
    within_pct,
)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=0.01, max_value=1e4)


def test_mase_by_hand() -> None:
    insample = [1.0, 3.0, 2.0, 4.0]  # naive (m=1) errors 2, 1, 2: scale 5/3
    assert naive_scale(insample, 1) == pytest.approx(5 / 3)
    assert mase([5.0, 6.0], [4.0, 8.0], insample) == pytest.approx(1.5 / (5 / 3))
    # Seasonal scale with m=2: |2-1|, |4-3| -> 1
    assert mase([5.0, 6.0], [4.0, 8.0], insample, m=2) == pytest.approx(1.5)


def test_mase_edge_cases() -> None:
    assert mase([1.0, 2.0], [1.0, 2.0], [3.0, 3.0, 3.0]) == 0.0
    assert mase([1.0], [2.0], [3.0, 3.0, 3.0]) == float("inf")
    with pytest.raises(ValueError, match="more than m"):
        mase([1.0], [1.0], [1.0, 2.0], m=2)
    with pytest.raises(ValueError, match="shape"):
        mae([1.0, 2.0], [1.0])


def test_smape_by_hand_and_zero_handling() -> None:
    assert smape([100.0], [110.0]) == pytest.approx(100 * 2 * 10 / 210)
    assert smape([0.0, 0.0], [0.0, 0.0]) == 0.0
    assert smape([0.0], [5.0]) == pytest.approx(200.0)


def test_within_pct_counts_the_tolerance_boundary_in() -> None:
    assert within_pct([100.0, 100.0, 100.0, 100.0], [110.0, 90.0, 111.0, 50.0]) == 50.0
    assert within_pct([0.0], [0.0]) == 100.0
    assert within_pct([0.0], [0.001]) == 0.0


def test_coverage_and_width() -> None:
    y = [1.0, 2.0, 3.0, 4.0]
    assert coverage(y, [0.0, 2.0, 3.5, 0.0], [2.0, 2.0, 4.0, 3.9]) == 50.0
    assert mean_width([0.0, 1.0], [2.0, 5.0]) == 3.0
    assert mean_width([0.0, 1.0], [2.0, 5.0], y_insample=[-2.0, 2.0]) == 1.5
    with pytest.raises(ValueError, match="upper"):
        coverage([1.0], [2.0], [1.0])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(finite, min_size=3, max_size=30),
    st.lists(finite, min_size=3, max_size=30),
    positive,
)
def test_mase_is_scale_free(ins: list[float], pred: list[float], c: float) -> None:
    n = min(len(ins), len(pred))
    y, f, insample = np.array(ins[:n]), np.array(pred[:n]), np.array(ins)
    if naive_scale(insample, 1) == 0.0:
        return
    assert mase(c * y, c * f, c * insample) == pytest.approx(mase(y, f, insample), rel=1e-6)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=30))
def test_smape_bounded_and_symmetric(pairs: list[tuple[float, float]]) -> None:
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    s = smape(a, b)
    assert 0.0 <= s <= 200.0 + 1e-9
    assert s == pytest.approx(smape(b, a))
