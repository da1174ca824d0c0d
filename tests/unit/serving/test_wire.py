"""The endpoint's pure hot path: histories in, ForecastResponse JSON out, Server-Timing."""

from __future__ import annotations

import numpy as np
import pytest
from novacron.models.base import Forecast, Interval
from novacron.serving.schemas import ForecastResponse, SeriesIn
from novacron.serving.timing import add_stage, parse, runqueue_wait_ms
from novacron.serving.wire import first_problem, forecasts_json, histories, rounded


def _forecast(rng: np.random.Generator, horizon: int, levels: tuple[float, ...], scale: float) -> Forecast:
    point = scale * (50 + rng.normal(size=horizon))
    ivs = {lv: Interval(lv, point - scale * (1 + lv) * rng.random(horizon), point + scale * (1 + lv) * rng.random(horizon))
           for lv in levels}
    return Forecast("ensemble", point, ivs)


def test_forecasts_json_is_the_json_of_the_response_models() -> None:
    rng = np.random.default_rng(1)
    # Mixed horizons, levels and magnitudes, interleaved: the encoder groups them and must
    # still answer in request order.
    specs = [(12, (0.8, 0.95), 1.0), (60, (0.8, 0.95), 1e-4), (12, (0.5,), 3e6), (60, (0.8, 0.95), 7.0)] * 3
    results = [(_forecast(rng, h, lv, sc), {"lstm": 0.5, "drift": 0.5}) for h, lv, sc in specs]
    ids = [f"vm-{i}" for i in range(len(results))]
    got = forecasts_json(ids, results, "m/3")

    out = ForecastResponse.model_validate_json(got)
    assert [f.series_id for f in out.forecasts] == ids
    assert [len(f.point) for f in out.forecasts] == [h for h, _, _ in specs]
    for f, (fc, _) in zip(out.forecasts, results, strict=True):
        np.testing.assert_allclose(f.point, fc.point, rtol=1e-6)
        for iv in f.intervals:
            assert np.all(np.array(iv.lower) <= np.array(f.point)) and np.all(np.array(f.point) <= np.array(iv.upper))
    # Byte for byte what the response models serialise to: same fields, order, floats.
    assert out.model_dump_json().encode() == got
    assert got.startswith(b'{"forecasts":[{"series_id":"vm-0","point":[')


def test_rounding_keeps_seven_significant_digits_of_the_largest_value() -> None:
    paths = np.array([[[123.456789012, 0.000123456789], [123.45, 99.0]]])
    out = rounded(paths)
    assert out[0, 0, 0] == 123.4568 and out[0, 0, 1] == 0.0001
    assert repr(float(out[0, 0, 0])) == "123.4568"  # short in JSON too


def test_histories_are_one_array_when_lengths_match_and_separate_otherwise() -> None:
    same = [SeriesIn(series_id=f"a{i}", history=[1.0, 2.0, float(i)], step_s=60, horizon=2) for i in range(3)]
    arrays = histories(same)
    assert [a.tolist() for a in arrays] == [[1.0, 2.0, 0.0], [1.0, 2.0, 1.0], [1.0, 2.0, 2.0]]
    mixed = [*same, SeriesIn(series_id="b", history=[5.0] * 7, step_s=60, horizon=2)]
    assert [a.size for a in histories(mixed)] == [3, 3, 3, 7]


@pytest.mark.parametrize(("history", "levels", "why"), [
    ([1.0, 2.0], [0.8], "at least 3"),
    ([1.0, 2.0, 3.0], [0.8, 1.0], "level 1.0"),
    ([1.0, float("inf"), 3.0], [0.8], "NaN or inf"),
])
def test_first_problem_names_the_series_and_what_is_wrong(history: list[float], levels: list[float], why: str) -> None:
    good = SeriesIn(series_id="ok", history=[1.0, 2.0, 3.0], step_s=60, horizon=2)
    bad = SeriesIn(series_id="bad", history=history, step_s=60, horizon=2, levels=levels)
    problem = first_problem([good, bad], histories([good, bad]), 3)
    assert problem is not None and problem.startswith("series bad:") and why in problem
    assert first_problem([good], histories([good]), 3) is None


def test_server_timing_round_trips() -> None:
    value = add_stage(add_stage(b"", "model", 6.25), "encode", 0.9)
    assert value == b"model;dur=6.25, encode;dur=0.90"
    assert parse(value.decode()) == {"model": 6.25, "encode": 0.9}
    assert parse('app;dur=3.5, cache;desc="hit", bad;dur=x') == {"app": 3.5}


def test_runqueue_wait_is_this_threads_schedstat_wait() -> None:
    def raw() -> list[int]:
        with open("/proc/thread-self/schedstat") as f:
            return [int(x) for x in f.read().split()]

    before = raw()
    got = runqueue_wait_ms()
    after = raw()
    # Field 2 of schedstat (ns runnable, not running), not the CPU time of field 1.
    assert before[1] / 1e6 <= got <= after[1] / 1e6
