"""Reference checks: agreement with statsmodels' own ARIMA, and interval coverage on
simulated data whose noise is known, so "80 %" can be checked against 80 %."""

from __future__ import annotations

import numpy as np
import pytest
from forecast_series import HOUR, seasonal_series
from novacron.models.arima import ArimaForecaster
from novacron.models.baselines import Drift, SeasonalNaive
from novacron.models.ensemble import EnsembleForecaster, MemberSpec
from novacron.models.metrics import coverage
from statsmodels.tsa.arima_process import ArmaProcess
from statsmodels.tsa.statespace.sarimax import SARIMAX


def arma(n: int, ar: float, ma: float, seed: int, mean: float = 20.0) -> np.ndarray:
    proc = ArmaProcess(ar=[1.0, -ar], ma=[1.0, ma])
    return mean + proc.generate_sample(n, scale=1.0, distrvs=np.random.default_rng(seed).normal)


def test_arima_fixed_order_matches_statsmodels_sarimax() -> None:
    # An independent path: statsmodels' Kalman-filter MLE against our innovations MLE.
    y = arma(300, 0.6, 0.3, seed=1)
    ours = ArimaForecaster(order=(1, 0, 1), fourier=0).fit(y, 60.0)
    ref = SARIMAX(y, order=(1, 0, 1), trend="c").fit(disp=False)
    ref_fc = ref.get_forecast(20)
    fc = ours.predict(20, levels=(0.95,))
    np.testing.assert_allclose(fc.point, ref_fc.predicted_mean, atol=0.02 * y.std())
    ci = np.asarray(ref_fc.conf_int(alpha=0.05))
    np.testing.assert_allclose(fc.lower(0.95), ci[:, 0], atol=0.05 * y.std())
    np.testing.assert_allclose(fc.upper(0.95), ci[:, 1], atol=0.05 * y.std())
    assert abs(ours.params["ar.L1"] - ref.params[1]) < 0.05


def test_arima_update_equals_filtering_with_fixed_parameters() -> None:
    y = arma(460, 0.8, 0.0, seed=2)
    model = ArimaForecaster(order=(1, 0, 0), fourier=0).fit(y[:400], 60.0)
    names = list(model.params)
    params = np.array([model.params[n] for n in names])
    model.update(y[400:430]).update(y[430:460])
    # The same parameters run over all 460 points, by statsmodels directly.
    ref = SARIMAX(y, order=(1, 0, 0), trend="c").filter(
        _ar1_sarimax_params(params, names), transformed=True
    )
    np.testing.assert_allclose(model.predict(10).point, ref.forecast(10), rtol=1e-6)


def _ar1_sarimax_params(params: np.ndarray, names: list[str]) -> np.ndarray:
    """statsmodels' ARIMA has a mean ('const'); SARIMAX's trend is an intercept."""
    p = dict(zip(names, params, strict=True))
    return np.array([p["const"] * (1.0 - p["ar.L1"]), p["ar.L1"], p["sigma2"]])


def test_arima_chooses_seasonal_terms_only_where_they_pay() -> None:
    seasonal = seasonal_series(24 * 14, HOUR, 1.0, seed=4)
    plain = arma(24 * 14, 0.5, 0.0, seed=4)
    grid = ((1, 0), (1, 1))
    assert ArimaForecaster(pq_grid=grid).fit(seasonal, HOUR).chosen_fourier > 0
    assert ArimaForecaster(pq_grid=grid).fit(plain, HOUR).chosen_fourier == 0


def test_arima_one_step_intervals_cover_nominally_on_ar1() -> None:
    y = arma(900, 0.7, 0.0, seed=5)
    model = ArimaForecaster(order=(1, 0, 0), fourier=0).fit(y[:600], 60.0)
    lo80, hi80, lo95, hi95 = [], [], [], []
    for t in range(600, 900):
        fc = model.predict(1)
        lo80.append(fc.lower(0.8)[0])
        hi80.append(fc.upper(0.8)[0])
        lo95.append(fc.lower(0.95)[0])
        hi95.append(fc.upper(0.95)[0])
        model.update(y[t : t + 1])
    actual = y[600:900]
    # 300 draws: a binomial standard error of 2.3 (80 %) and 1.3 (95 %) points.
    assert abs(coverage(actual, lo80, hi80) - 80.0) < 7.0
    assert abs(coverage(actual, lo95, hi95) - 95.0) < 4.0
    # Known noise sd 1: the 95 % one-step band is 2 × 1.96 wide.
    assert abs(np.mean(np.array(hi95) - np.array(lo95)) - 3.92) < 0.3


def test_seasonal_naive_intervals_cover_nominally_with_known_noise() -> None:
    step = 600.0  # 144 steps a day
    y = seasonal_series(144 * 12, step, 2.0, seed=6)
    model = SeasonalNaive().fit(y[: 144 * 7], step)
    covered80, covered95, n = 0.0, 0.0, 0
    for o in range(144 * 7, 144 * 12 - 6, 6):
        fc = model.predict(6)
        a = y[o : o + 6]
        covered80 += coverage(a, fc.lower(0.8), fc.upper(0.8)) * a.size
        covered95 += coverage(a, fc.lower(0.95), fc.upper(0.95)) * a.size
        n += a.size
        model.update(y[o : o + 6])
    assert abs(covered80 / n - 80.0) < 5.0
    assert abs(covered95 / n - 95.0) < 3.0


def _ensemble_run(
    members: tuple[MemberSpec, ...], seed: int
) -> tuple[float, float, dict[str, float]]:
    step, hz = 600.0, 6
    day = 144
    rng = np.random.default_rng(seed)
    # Seasonal signal plus AR(1) wander: no member's own intervals are right for it.
    wander = np.zeros(day * 10)
    for k in range(1, wander.size):
        wander[k] = 0.9 * wander[k - 1] + rng.normal(0, 0.7)
    y = seasonal_series(day * 10, step, 0.5, seed=seed) + wander
    ens = EnsembleForecaster(members, horizon=hz, calib_s=2 * 86_400, n_origins=64)
    ens.fit(y[: day * 6], step)
    weights = ens.member_weights()
    hits80 = hits95 = total = 0.0
    for o in range(day * 6, day * 10 - hz, hz):
        fc = ens.predict(hz)
        a = y[o : o + hz]
        hits80 += float(np.sum((a >= fc.lower(0.8)) & (a <= fc.upper(0.8))))
        hits95 += float(np.sum((a >= fc.lower(0.95)) & (a <= fc.upper(0.95))))
        total += hz
        ens.update(y[o : o + hz])
    return 100 * hits80 / total, 100 * hits95 / total, weights


@pytest.fixture(scope="module")
def ensemble_runs() -> list[tuple[float, float, dict[str, float]]]:
    members = (
        MemberSpec("seasonal_naive"),
        MemberSpec("arima", {"order": (1, 0, 0), "fourier": 2}),
    )
    return [_ensemble_run(members, seed) for seed in (11, 12)]


def test_ensemble_conformal_intervals_cover_nominally(
    ensemble_runs: list[tuple[float, float, dict[str, float]]],
) -> None:
    cov80 = np.mean([r[0] for r in ensemble_runs])
    cov95 = np.mean([r[1] for r in ensemble_runs])
    # Overlapping windows make the draws correlated, hence the wider tolerance.
    assert abs(cov80 - 80.0) < 7.0
    assert abs(cov95 - 95.0) < 4.0


def test_ensemble_weights_favour_the_more_accurate_member(
    ensemble_runs: list[tuple[float, float, dict[str, float]]],
) -> None:
    # The series is seasonal plus an AR(1) wander: ARIMA with Fourier terms is the true
    # model, yesterday's values are not.
    for _, _, weights in ensemble_runs:
        assert weights["arima"] > weights["seasonal_naive"]
        assert abs(sum(weights.values()) - 1.0) < 1e-9


def test_drift_extrapolates_a_line_exactly() -> None:
    y = 3.0 + 0.5 * np.arange(50)
    fc = Drift().fit(y, 60.0).predict(4)
    np.testing.assert_allclose(fc.point, 3.0 + 0.5 * np.arange(50, 54))


def _coverage_under_growing_noise(aci_rate: float, mode: str = "scale", margin: float = 0.0) -> float:
    step, hz, day = 600.0, 6, 144
    rng = np.random.default_rng(21)
    y = seasonal_series(day * 12, step, 0.0, seed=0)
    # Noise that keeps growing after day 4: the residual window always lags behind it.
    noise_sd = 0.5 * np.exp(np.maximum(np.arange(y.size) - day * 4, 0) / (day * 3.0))
    y = y + rng.normal(0.0, 1.0, y.size) * noise_sd
    ens = EnsembleForecaster(
        (MemberSpec("seasonal_naive"), MemberSpec("drift")),
        horizon=hz,
        weighting="best",
        calib_s=86_400,
        n_origins=24,
        aci_rate=aci_rate,
        aci_mode=mode,
        margin=margin,
    )
    ens.fit(y[: day * 4], step)
    hits = total = 0
    for o in range(day * 4, day * 12 - hz, hz):
        fc = ens.predict(hz)
        a = y[o : o + hz]
        hits += int(np.sum((a >= fc.lower(0.8)) & (a <= fc.upper(0.8))))
        total += hz
        ens.update(y[o : o + hz])
    return 100.0 * hits / total


@pytest.mark.parametrize(("mode", "rate"), [("scale", 0.1), ("level", 0.05)])
def test_adaptive_conformal_restores_coverage_under_drift(mode: str, rate: float) -> None:
    plain = _coverage_under_growing_noise(0.0, mode)
    adaptive = _coverage_under_growing_noise(rate, mode)
    assert adaptive > plain
    assert abs(adaptive - 80.0) < abs(plain - 80.0)
    assert abs(adaptive - 80.0) < 5.0


def test_margin_moves_the_coverage_target() -> None:
    # A margin of 0.2 at 80 % aims at missing 16 %, not 20 %: coverage 84 %.
    aimed = _coverage_under_growing_noise(0.1, "scale", margin=0.2)
    nominal = _coverage_under_growing_noise(0.1, "scale", margin=0.0)
    assert aimed > nominal + 2.0
    assert abs(aimed - 84.0) < 3.0


def test_unknown_aci_mode_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="aci_mode"):
        EnsembleForecaster((MemberSpec("seasonal_naive"),), aci_mode="sideways")
