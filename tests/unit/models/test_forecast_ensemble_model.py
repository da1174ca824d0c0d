"""The object the service pickles: one call forecasts many histories."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from forecast_series import HOUR, seasonal_series
from novacron.models.ensemble import EnsembleForecaster, EnsembleModel, MemberSpec
from novacron.models.lstm import GlobalLSTM, LSTMConfig


@pytest.fixture(scope="module")
def model() -> EnsembleModel:
    train = [(seasonal_series(240, HOUR, 1.0, seed=s), 0.0) for s in range(3)]
    lstm = GlobalLSTM(LSTMConfig(context=24, horizon=6, hidden=8, epochs=1, max_windows=300))
    lstm.fit(train, HOUR)
    members = (
        MemberSpec("seasonal_naive"),
        MemberSpec("arima", {"order": (1, 0, 0), "fourier": 2}),
        MemberSpec("lstm"),
    )
    return EnsembleModel(members, lstm_by_step={HOUR: lstm})


def test_predict_batch_after_a_pickle_round_trip(model: EnsembleModel) -> None:
    clone: EnsembleModel = pickle.loads(pickle.dumps(model))
    histories = [seasonal_series(24 * 6, HOUR, 1.0, seed=s) for s in (10, 11, 12)]
    out = clone.predict_batch(histories, horizon=6, step_s=HOUR, levels=(0.8, 0.95))
    assert len(out) == 3
    for fc, weights in out:
        assert fc.point.shape == (6,)
        assert np.all(fc.lower(0.95) <= fc.upper(0.95))
        assert set(weights) == {"seasonal_naive", "arima", "lstm"}
        assert sum(weights.values()) == pytest.approx(1.0)
    # Same history, same answer: the batch path is the single-series path.
    single = clone.forecaster(6, HOUR).fit(histories[0], HOUR).predict(6)
    np.testing.assert_allclose(out[0][0].point, single.point)


def test_predict_batch_uses_the_shared_lstm_for_its_step(model: EnsembleModel) -> None:
    ens = model.forecaster(6, HOUR)
    lstm_spec = next(s for s in ens.member_specs if s.name == "lstm")
    assert lstm_spec.settings["model"] is model.lstm_by_step[HOUR]


def test_predict_batch_rejects_bad_input(model: EnsembleModel) -> None:
    with pytest.raises(ValueError, match="at least"):
        model.predict_batch([np.ones(3)], horizon=6, step_s=HOUR)
    with pytest.raises(ValueError, match="NaN"):
        model.predict_batch([np.array([1.0, np.nan] * 20)], horizon=6, step_s=HOUR)
    with pytest.raises(ValueError, match="one start time"):
        model.predict_batch([np.ones(50)], horizon=6, step_s=HOUR, starts_s=[0.0, 1.0])


def test_short_history_falls_back_to_equal_weights() -> None:
    members = (MemberSpec("seasonal_naive"), MemberSpec("drift"))
    ens = EnsembleForecaster(members, horizon=6).fit(np.arange(12.0), HOUR)
    assert not ens.calibrated
    assert ens.member_weights() == {"seasonal_naive": 0.5, "drift": 0.5}
