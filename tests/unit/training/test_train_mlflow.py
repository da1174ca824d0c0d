"""`novacron train` on a small real slice against the live MLflow server: a run with params,
metrics, a plot and the model; a registered version; @champion moves only on a win."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from novacron.models.lstm import GlobalLSTM, LSTMConfig
from novacron.training.fastensemble import (
    FastEnsemble,
    SeriesRequest,
    StepModel,
    batch_scales,
    lstm_windows,
)
from novacron.training.train import decide
from typer.testing import CliRunner

from novacron.cli import app
from novacron.services import start_all
from novacron.settings import Settings


@pytest.fixture(scope="module")
def mlflow_client(settings: Settings) -> MlflowClient:
    start_all(settings, ["mlflow"])
    return MlflowClient(tracking_uri=settings.mlflow_url, registry_uri=settings.mlflow_url)


def _train(name: str, *extra: str) -> str:
    result = CliRunner().invoke(app, ["train", "--quick", "--series-limit", "6", "--model-name", name,
                                      "--experiment", "novacron-tests", *extra])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_train_logs_registers_and_moves_champion_only_when_better(mlflow_client: MlflowClient) -> None:
    name = f"novacron-test-{uuid.uuid4().hex[:8]}"
    out = _train(name)
    assert "@champion" in out
    champ = mlflow_client.get_model_version_by_alias(name, "champion")
    assert champ.version == "1"
    run = mlflow_client.get_run(champ.run_id)
    assert run.data.tags["promotion.decision"] == "champion"
    assert "builtin seasonal-naive" in run.data.tags["promotion.reason"]
    assert run.data.params["members"] == "seasonal_naive,naive,drift,lstm"
    first_mase = run.data.metrics["backtest_mase"]
    assert 0 < first_mase < run.data.metrics["reference_mase"]
    assert {"backtest_coverage80", "backtest_within10_pct", "backtest_lstm_mase"} <= set(run.data.metrics)
    artifacts = {a.path for a in mlflow_client.list_artifacts(run.info.run_id)}
    assert {"backtest", "plots", "summary.json"} <= artifacts
    assert [a.path for a in mlflow_client.list_artifacts(run.info.run_id, "plots")] == [
        "plots/forecast_vs_actual.png"]

    # A worse configuration (drift alone) is registered, but only as the challenger.
    out = _train(name, "--members", "drift")
    assert "@challenger" in out
    assert mlflow_client.get_model_version_by_alias(name, "champion").version == "1"
    chall = mlflow_client.get_model_version_by_alias(name, "challenger")
    assert chall.version == "2"
    run2 = mlflow_client.get_run(chall.run_id)
    assert run2.data.tags["promotion.decision"] == "challenger"
    assert f"champion {name}/1" in run2.data.tags["promotion.reason"]
    # The champion was re-scored on the same backtest: the same figure as its own run.
    assert run2.data.metrics["reference_mase"] == pytest.approx(first_mase, rel=1e-9)
    assert run2.data.metrics["backtest_mase"] > first_mase


def test_promotion_needs_a_strictly_lower_mase() -> None:
    assert decide(0.5, 0.6, "champion x/1").promoted
    assert not decide(0.6, 0.6, "champion x/1").promoted
    assert not decide(float("nan"), 0.6, "champion x/1").promoted


def test_batched_lstm_windows_match_the_network_inputs() -> None:
    rng = np.random.default_rng(0)
    lstm = GlobalLSTM(LSTMConfig(context=16, horizon=8, epochs=1, max_windows=50))
    ys = [rng.normal(10, 2, 300) for _ in range(3)]
    lstm.fit([(y, 0.0) for y in ys], 300.0)
    hs = [ys[0][:290], ys[1][:5], ys[2][:100], ys[0]]
    starts = [100.0, 0.0, 5e5, 1.7e9]
    scales = batch_scales(hs, 2016)
    ctx, seas, phase, level = lstm_windows(lstm, hs, starts, [h.size for h in hs], scales)
    for i, h in enumerate(hs):
        c, s, p, lv = lstm._window(h, starts[i], h.size, float(scales[i]))
        np.testing.assert_allclose(ctx[i], c)
        np.testing.assert_allclose(seas[i], s)
        np.testing.assert_allclose(phase[i], p)
        assert level[i] == pytest.approx(lv)


def test_unknown_step_falls_back_to_seasonal_naive_and_bands_are_ordered() -> None:
    rng = np.random.default_rng(1)
    sm = StepModel(300.0, ("seasonal_naive", "drift"))
    y = 50 + 10 * np.sin(np.arange(2000) * 2 * np.pi / 288) + rng.normal(0, 1, 2000)
    origins = list(range(1000, 1900, 10))
    scales = batch_scales([y[:o] for o in origins], 2016)
    paths = sm.member_paths([y] * len(origins), [0.0] * len(origins), origins, scales, 12)
    actual = np.stack([y[o : o + 12] for o in origins])
    sm.calibrate(paths / scales[None, :, None], actual / scales[:, None], "inverse_mse")
    assert sm.weights[0, -1] > sm.weights[1, -1]  # further ahead the daily cycle wins
    model = FastEnsemble({300.0: sm}, "inverse_mse")
    (fc, w), (fb, wb) = model.predict_batch([SeriesRequest(y, 300.0, 12), SeriesRequest(y, 30.0, 12)])
    assert set(w) == {"seasonal_naive", "drift"} and sum(w.values()) == pytest.approx(1.0)
    assert np.all(fc.lower(0.95) <= fc.lower(0.8)) and np.all(fc.lower(0.8) <= fc.point)
    assert np.all(fc.point <= fc.upper(0.8)) and np.all(fc.upper(0.8) <= fc.upper(0.95))
    assert fb.model == "seasonal_naive" and wb == {"seasonal_naive": 1.0}
