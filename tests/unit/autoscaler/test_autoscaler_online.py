"""The simulator's online forecaster: calibrated in event time, never peeking ahead."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from novacron.autoscaler.online import (
    CALIBRATION_WINDOW_S,
    DROP_FRACTION,
    DROP_LOOKBACK_S,
    after_drop,
    bursty,
    conformal_forecasts,
    conformal_peak,
    peak_bound_now,
)
from novacron.autoscaler.simulator import GroupTrace

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


def on_off(seed: int, days: int = 4) -> np.ndarray:
    """A batch-like series: mostly ~2 units with noise, bursts to ~12 that stop for a few steps
    and come back (the pattern where a pooled margin is too narrow after a burst ends)."""
    rng = np.random.default_rng(seed)
    n = days * DAY
    y = 2.0 + rng.gamma(2.0, 0.15, n)
    t = 0
    while t < n:
        t += int(rng.integers(20, 60))  # steady stretch
        for _ in range(int(rng.integers(2, 4))):  # a burst with pauses inside it
            y[t : t + 3] = 12.0 + rng.normal(0, 0.5, y[t : t + 3].size)
            t += 3 + int(rng.integers(1, 3))
    return y


def test_after_drop_marks_steps_well_below_their_recent_peak_from_the_past_only() -> None:
    y = np.array([2.0, 2.0, 10.0, 9.0, 4.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    got = after_drop(y, STEP, lookback_s=3 * STEP, fraction=0.75)
    np.testing.assert_array_equal(got, [0, 0, 0, 0, 1, 1, 1, 1, 0, 0])
    changed = y.copy()
    changed[6:] = 50.0  # the future does not change what is known at step 5
    np.testing.assert_array_equal(after_drop(changed, STEP, 3 * STEP, 0.75)[:6], got[:6])


def test_regime_margins_widen_after_drops_narrow_when_steady_and_still_cover() -> None:
    y = on_off(4)
    h = 2
    regime = after_drop(y, STEP, 3600.0, 0.75)
    rows = np.arange(DAY, y.size - h)
    peak = np.array([y[i + 1 : i + 1 + h].max() for i in rows])
    dropped = regime[rows] == 1.0
    assert 0.1 < dropped.mean() < 0.6  # both regimes are there
    _, pooled, _ = conformal_peak(y, STEP, h, level=0.9, window_s=14_400.0, path="level")
    _, split, _ = conformal_peak(y, STEP, h, level=0.9, window_s=14_400.0, path="level", regime=regime)

    def cover(u: np.ndarray, mask: np.ndarray) -> float:
        return float(np.mean(peak[mask] <= u[rows, h - 1][mask] + 1e-9))

    def width(u: np.ndarray, mask: np.ndarray) -> float:
        return float(np.mean(u[rows, h - 1][mask]))

    # After a drop a burst may come back: a wider bound there, a narrower one when steady ...
    assert width(split, dropped) > 1.1 * width(pooled, dropped)
    assert width(split, ~dropped) < 0.9 * width(pooled, ~dropped)
    # ... and each regime still covered about as often as the level says.
    assert cover(split, dropped) >= 0.8 and cover(split, ~dropped) >= 0.85


def test_regime_margins_use_only_the_past() -> None:
    y = on_off(5)
    cut = 2 * DAY
    changed = y.copy()
    changed[cut + 1 :] *= 3.0
    r1, r2 = after_drop(y, STEP, 3600.0, 0.75), after_drop(changed, STEP, 3600.0, 0.75)
    _, u1, _ = conformal_peak(y, STEP, 4, level=0.9, regime=r1)
    _, u2, _ = conformal_peak(changed, STEP, 4, level=0.9, regime=r2)
    np.testing.assert_allclose(u1[: cut + 1], u2[: cut + 1])


def batch_work(seed: int, days: int = 4) -> np.ndarray:
    """Batch work: 16 units for 8-15 steps, then 0-1 for 1-12 steps (sometimes back at once)."""
    rng = np.random.default_rng(seed)
    out: list[float] = []
    while len(out) < days * DAY:
        out += [16.0 + rng.normal(0, 0.1) for _ in range(int(rng.integers(8, 16)))]
        out += [float(rng.uniform(0, 1)) for _ in range(int(rng.integers(1, 13)))]
    return np.asarray(out[: days * DAY])


def test_bursty_marks_on_off_work_not_smooth_or_noisy_series() -> None:
    rows = slice(DAY, None)  # after a day of history
    assert bursty(batch_work(3), STEP)[rows].mean() > 0.95
    assert bursty(series(4), STEP)[rows].mean() < 0.05  # daily pattern plus noise: steps are small
    noise = np.random.default_rng(5).uniform(1.0, 9.0, 4 * DAY)  # jumps, but never stays
    assert bursty(noise, STEP)[rows].mean() < 0.05


def test_bursty_uses_only_the_past() -> None:
    y = series(6)
    changed = y.copy()
    cut = 2 * DAY
    changed[cut + 1 :] = batch_work(7)[: y.size - cut - 1]
    np.testing.assert_array_equal(bursty(y, STEP)[: cut + 1], bursty(changed, STEP)[: cut + 1])


def test_bursty_steps_get_the_higher_scale_down_bound_and_say_why() -> None:
    y = batch_work(8)
    trace = GroupTrace("g", STEP, 0.0, y)
    first, n, h = DAY, y.size - DAY, 2
    lean = conformal_forecasts(trace, first, n, h, level=0.8, window_s=4 * 3600.0, level_down=0.9)
    safe = conformal_forecasts(trace, first, n, h, level=0.8, window_s=4 * 3600.0, level_down=0.9,
                               level_down_bursty=0.97)  # fmt: skip
    assert lean.upper_down is not None and safe.upper_down is not None
    assert safe.level_down_steps is not None and safe.down_note and "bursty" in safe.down_note
    hot = safe.level_down_steps > 0.9
    assert hot.mean() > 0.95 and np.all(safe.upper_down >= lean.upper_down - 1e-9)
    assert np.mean(safe.upper_down[hot] > lean.upper_down[hot] + 1e-9) > 0.1
    # A smooth series keeps the lean bound.
    smooth = conformal_forecasts(GroupTrace("s", STEP, 0.0, series(9)), first, n, h, level=0.8,
                                 window_s=4 * 3600.0, level_down=0.9, level_down_bursty=0.97)  # fmt: skip
    assert smooth.level_down_steps is not None and np.mean(smooth.level_down_steps > 0.9) < 0.05


@settings(max_examples=120, deadline=None)
@given(
    horizon=st.integers(1, 15),
    extra=st.integers(0, 400),
    level=st.sampled_from([0.5, 0.8, 0.9, 0.97, 1.0]),
    seed=st.integers(0, 10_000),
    whole=st.booleans(),
)
def test_the_live_peak_bound_is_the_simulators_last_row(
    horizon: int, extra: int, level: float, seed: int, whole: bool
) -> None:
    rng = np.random.default_rng(seed)
    n = horizon + 1 + extra
    y = np.maximum(0.0, rng.normal(5, 2, n).cumsum() / 10 + (rng.random(n) < 0.05) * rng.normal(0, 8, n))
    if whole:  # ties: on/off series move by whole units
        y = np.round(y)
    step = 60.0
    regime = after_drop(y, step, DROP_LOOKBACK_S, DROP_FRACTION)
    _, upper, _ = conformal_peak(y, step, horizon, level=level, window_s=CALIBRATION_WINDOW_S,
                                 path="level", regime=regime)  # fmt: skip
    np.testing.assert_allclose(peak_bound_now(y, step, horizon, level), upper[-1], rtol=0, atol=1e-9)
