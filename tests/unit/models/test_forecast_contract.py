"""One contract, every registered forecaster (as statsforecast's tests/test_models.py does).

Each model runs with small settings so the whole family stays fast; a model added to the
registry without an entry in FAST fails ``test_every_registered_model_is_covered``.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from forecast_series import HOUR, seasonal_series
from novacron.models.base import Forecast, Forecaster
from novacron.models.ensemble import MemberSpec
from novacron.models.lstm import LSTMConfig
from novacron.models.registry import REGISTRY, create

TINY_LSTM = LSTMConfig(context=24, horizon=12, hidden=8, epochs=1, max_windows=200)

FAST: dict[str, dict[str, Any]] = {
    "seasonal_naive": {},
    "naive": {},
    "drift": {},
    "arima": {"pq_grid": ((1, 0), (1, 1))},
    "prophet": {},
    "lstm": {"config": TINY_LSTM},
    "ensemble": {
        "members": (
            MemberSpec("seasonal_naive"),
            MemberSpec("drift"),
            MemberSpec("arima", {"order": (1, 0, 0), "fourier": 2}),
        ),
        "horizon": 12,
    },
}

NAMES = sorted(REGISTRY)


def make(name: str) -> Forecaster:
    return create(name, **FAST[name])


def test_every_registered_model_is_covered() -> None:
    assert set(FAST) == set(REGISTRY)


def test_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown forecaster"):
        create("no-such-model")


@pytest.fixture(scope="module")
def fitted() -> dict[str, Forecaster]:
    y = seasonal_series(240, HOUR, 1.0, seed=7)
    return {name: make(name).fit(y, HOUR, start_s=1_700_000_000.0) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_satisfies_protocol_and_names_its_forecast(
    name: str, fitted: dict[str, Forecaster]
) -> None:
    model = fitted[name]
    assert isinstance(model, Forecaster)
    fc = model.predict(18)
    assert isinstance(fc, Forecast)
    assert fc.model == model.name == name
    assert fc.point.shape == (18,)
    assert np.all(np.isfinite(fc.point))


@pytest.mark.parametrize("name", NAMES)
def test_intervals_are_ordered_and_nested(name: str, fitted: dict[str, Forecaster]) -> None:
    fc = fitted[name].predict(12, levels=(0.5, 0.8, 0.95))
    assert set(fc.intervals) == {0.5, 0.8, 0.95}
    for lv in (0.5, 0.8, 0.95):
        assert fc.lower(lv).shape == fc.upper(lv).shape == (12,)
        assert np.all(fc.lower(lv) <= fc.upper(lv))
    # A wider level never gives a narrower band.
    assert np.all(fc.lower(0.95) <= fc.lower(0.8) + 1e-9)
    assert np.all(fc.upper(0.8) <= fc.upper(0.95) + 1e-9)
    assert np.all(fc.lower(0.8) <= fc.lower(0.5) + 1e-9)


# Drift and naive (the last value) have no notion of seasonality by design, so they are not
# asked to follow the cycle.
@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("drift", "naive")])
def test_forecast_follows_the_daily_cycle(name: str, fitted: dict[str, Forecaster]) -> None:
    """Every seasonal model should land closer to the next 12 h than a flat mean does."""
    nxt = seasonal_series(252, HOUR, 0.0, seed=7)[240:]  # noiseless truth ahead
    y = seasonal_series(240, HOUR, 1.0, seed=7)
    fc = fitted[name].predict(12)
    flat_mae = float(np.mean(np.abs(nxt - y.mean())))
    assert float(np.mean(np.abs(fc.point - nxt))) < flat_mae


@pytest.mark.parametrize("name", NAMES)
def test_update_moves_the_origin(name: str) -> None:
    y = seasonal_series(264, HOUR, 1.0, seed=3)
    model = make(name).fit(y[:240], HOUR)
    before = model.predict(6).point
    model.update(y[240:252])
    model.update(np.array([]))  # empty update is a no-op
    after = model.predict(6)
    assert after.point.shape == (6,)
    assert np.all(np.isfinite(after.point))
    # Twelve hours later the forecast is for a different part of the day.
    assert not np.allclose(before, after.point)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_picklable(name: str, fitted: dict[str, Forecaster]) -> None:
    y = seasonal_series(240, HOUR, 1.0, seed=7)
    again = make(name).fit(y, HOUR, start_s=1_700_000_000.0)
    np.testing.assert_allclose(again.predict(12).point, fitted[name].predict(12).point)
    clone = pickle.loads(pickle.dumps(fitted[name]))
    np.testing.assert_allclose(clone.predict(12).point, fitted[name].predict(12).point)


@pytest.mark.parametrize("name", NAMES)
def test_rejects_misuse(name: str, hourly: np.ndarray) -> None:
    with pytest.raises(RuntimeError, match="fit"):
        make(name).predict(3)
    bad = hourly.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        make(name).fit(bad, HOUR)
    model = make(name).fit(hourly, HOUR)
    with pytest.raises(ValueError, match="horizon"):
        model.predict(0)
    with pytest.raises(ValueError, match="level"):
        model.predict(3, levels=(1.5,))


@pytest.mark.parametrize("name", NAMES)
def test_flat_series_gives_a_flat_finite_forecast(name: str) -> None:
    y = np.full(240, 42.0)
    fc = make(name).fit(y, HOUR).predict(6)
    assert np.all(np.isfinite(fc.point))
    np.testing.assert_allclose(fc.point, 42.0, atol=0.5)
