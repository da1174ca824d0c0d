"""The data loader (every source format, the README split) and the rolling-origin backtest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from novacron.models.base import DEFAULT_LEVELS, Forecast, HistoryForecaster, Interval
from novacron.models.ensemble import EnsembleForecaster, MemberSpec
from novacron.training.backtest import (
    BacktestConfig,
    backtest_series,
    rolling_forecasts,
    scorable,
)
from novacron.training.data import (
    SeriesData,
    load_metrics,
    load_or_synthesize,
    synthetic_workloads,
    to_grid,
)

T0 = 1_600_000_000


def test_to_grid_averages_jitter_and_fills_short_gaps() -> None:
    ts = np.array([T0, T0 + 290, T0 + 610, T0 + 1500, T0 + 1800])  # 900 and 1200 missing
    start, grid = to_grid(ts, np.array([1.0, 2.0, 3.0, 6.0, 7.0]), 300.0)
    assert start == float(T0)
    np.testing.assert_allclose(grid, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])


def _write_fixture_tree(root: Path) -> None:
    crane = root / "crane-dsp"
    crane.mkdir(parents=True)
    for name in ("input3", "input9", "input15"):
        step = 15 if name == "input15" else 60
        n = 9 * 86_400 // step if name == "input15" else 3 * 1440
        ts = T0 + step * np.arange(n)
        lines = ["ts,value", *[f"{t},{i % 7}.5" for i, t in enumerate(ts)]]
        (crane / f"{name}.csv").write_text("\n".join(lines) + "\n")
    bb = root / "bitbrains-rnd" / "2013-7"
    bb.mkdir(parents=True)
    header = (
        "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\t"
        "CPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\t"
        "Disk read throughput [KB/s];\tDisk write throughput [KB/s];\t"
        "Network received throughput [KB/s];\tNetwork transmitted throughput [KB/s]"
    )
    for vm in ("232", "41"):
        rows = [f"{T0 + 300 * i + (i % 3)};\t4;\t1.0;\t1.0;\t{i % 5}.0;\t1;\t1;\t0;\t0;\t0;\t0"
                for i in range(50)]  # fmt: skip
        (bb / f"{vm}.csv").write_text("\n".join([header, *rows]) + "\n")
    for sub, name in (("realAWSCloudwatch", "ec2_cpu_utilization_abc"),
                      ("realAWSCloudwatch", "rds_cpu_utilization_x"),
                      ("realKnownCause", "nyc_taxi")):  # fmt: skip
        folder = root / "nab" / sub
        folder.mkdir(parents=True, exist_ok=True)
        step = 1800 if name == "nyc_taxi" else 300
        stamps = [np.datetime64(T0, "s") + np.timedelta64(step * i, "s") for i in range(40)]
        body = [f"{str(s).replace('T', ' ')},{i}" for i, s in enumerate(stamps)]
        (folder / f"{name}.csv").write_text("\n".join(["timestamp,value", *body]) + "\n")
    google = root / "datacenter-traces-datasets" / "google2019"
    google.mkdir(parents=True)
    rows = ["avg_cpu,avg_mem,avg_assigned_mem,avg_cycles_per_instruction"]
    rows += [f"0.{i % 9 + 1},0.3,0.6,150" for i in range(30)]
    (google / "instance_usage_grouped_300_seconds_month.csv").write_text("\n".join(rows) + "\n")


def test_load_metrics_reads_every_format_and_applies_the_readme_split(tmp_path: Path) -> None:
    _write_fixture_tree(tmp_path)
    series = {s.name: s for s in load_metrics(tmp_path)}
    assert series["crane/input3"].split == "dev"
    assert series["crane/input9"].split == "heldout"
    assert series["crane/input3"].step_s == 60.0
    # input15: 15 s resampled to 1 min, and only its first (real) week kept.
    assert series["crane/input15"].step_s == 60.0
    assert series["crane/input15"].values.size == 7 * 1440
    assert series["bitbrains/232:cpu_pct"].split == "dev"
    assert series["bitbrains/41:cpu_pct"].split == "heldout"
    assert series["bitbrains/232:cpu_pct"].values.size == 50  # jitter snapped onto 5 min
    assert series["nab/ec2_cpu_utilization_abc"].split == "dev"
    assert series["nab/rds_cpu_utilization_x"].split == "heldout"
    assert series["nab/ec2_cpu_utilization_abc"].start_s == float(T0)
    assert series["nab/nyc_taxi"].step_s == 1800.0
    assert series["nab/nyc_taxi"].split == "heldout"
    g = series["datacenter/google2019:avg_cpu"]
    assert (g.split, g.step_s, g.values.size) == ("dev", 300.0, 30)
    assert "datacenter/google2019:avg_cycles_per_instruction" not in series


def test_synthetic_workloads_are_deterministic_and_load_like() -> None:
    a = synthetic_workloads(4, 300.0, 14.0, seed=3)
    b = synthetic_workloads(4, 300.0, 14.0, seed=3)
    assert [s.name for s in a] == [s.name for s in b]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.values, y.values)
        assert x.values.size == 14 * 288
        assert np.all(x.values >= 0.0)
        # A daily cycle: yesterday explains today better than the overall mean does.
        v = x.values
        assert np.mean(np.abs(v[288:] - v[:-288])) < np.mean(np.abs(v - v.mean()))
    assert {s.split for s in a} == {"dev", "heldout"}


def test_load_or_synthesize_falls_back_without_the_folder(tmp_path: Path) -> None:
    series = load_or_synthesize(tmp_path / "absent")
    assert {s.step_s for s in series} == {60.0, 300.0}


class _Spy(HistoryForecaster):
    """Forecasts the last value seen and records how much history it had at each call."""

    name = "spy"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def _fit(self) -> None:
        pass

    def _update(self, new: np.ndarray, old_n: int) -> None:
        pass

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> Forecast:
        self.seen.append(self._y.size)
        point = np.full(horizon, self._y[-1])
        return Forecast(self.name, point, {lv: Interval(lv, point - 1, point + 1) for lv in levels})


def _series(values: np.ndarray, step_s: float = 300.0) -> SeriesData:
    return SeriesData("t/x", "t", "t_5min", "dev", step_s, float(T0), values)


def test_backtest_never_shows_the_future() -> None:
    y = np.arange(1000, dtype=float)
    cfg = BacktestConfig(horizons=(3, 6), test_points=60, stride=5, max_train_points=100)
    spy = _Spy()
    origins, forecasts = rolling_forecasts(y, 300.0, 0.0, spy, cfg)
    assert origins == list(range(940, 998, 5))
    # The history passed is capped at 100 points and ends exactly at each origin.
    assert spy.seen == [100 + (o - 940) for o in origins]
    for o, fc in zip(origins, forecasts["spy"], strict=True):
        assert fc.point[0] == y[o - 1]


def test_backtest_scores_seasonal_naive_near_one_on_periodic_noise() -> None:
    # Out of sample, yesterday's value errs as much as it did in sample: MASE ≈ 1, and its
    # Gaussian intervals are right for Gaussian noise.
    t = np.arange(288 * 10)
    rng = np.random.default_rng(0)
    y = 50 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1.0, t.size)
    scores = backtest_series(_series(y), lambda: _seasonal_naive())
    assert {s.horizon for s in scores} == {12, 72}
    for s in scores:
        assert s.mase == pytest.approx(1.0, abs=0.15)
        assert s.within10 > 95.0
        assert abs(s.coverage80 - 80.0) < 8.0
        assert s.n_origins > 0


def _seasonal_naive() -> HistoryForecaster:
    from novacron.models.baselines import SeasonalNaive

    return SeasonalNaive()


def test_backtest_scores_ensemble_members_from_the_same_run() -> None:
    y = synthetic_workloads(1, 300.0, 8.0, seed=5)[0].values
    cfg = BacktestConfig(horizons=(6, 12), test_points=96, stride=12, max_train_points=2000)
    members = (MemberSpec("seasonal_naive"), MemberSpec("drift"))
    make = lambda: EnsembleForecaster(members, horizon=12, calib_s=86_400)  # noqa: E731
    scores = backtest_series(_series(y), make, cfg)
    models = {s.model for s in scores}
    assert {"ensemble", "seasonal_naive", "drift", "ensemble[stacking]"} <= models
    by = {(s.model, s.horizon): s for s in scores}
    # The chosen weighting is reported under both names, identically.
    chosen = f"ensemble[{make().weighting}]"
    assert by[("ensemble", 12)].mase == by[(chosen, 12)].mase
    for s in scores:
        assert 0.0 <= s.coverage80 <= s.coverage95 <= 100.0


def test_config_follows_the_readme_protocol() -> None:
    one = BacktestConfig.for_step(60.0)
    five = BacktestConfig.for_step(300.0)
    assert one.horizons == (15, 60) and one.test_points == 1440
    assert five.horizons == (12, 72) and five.test_points == 3 * 288
    assert DEFAULT_LEVELS == (0.8, 0.95)


def test_scorable_rejects_flat_and_short_series() -> None:
    cfg = BacktestConfig.for_step(300.0)
    assert not scorable(_series(np.zeros(288 * 10)), cfg)
    assert not scorable(_series(np.arange(300.0)), cfg)
    assert scorable(_series(np.arange(288 * 10.0) % 17), cfg)
