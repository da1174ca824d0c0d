"""The BentoML service over HTTP: the built-in baseline until a champion exists, clear 4xx for
bad histories, and the new @champion picked up from the live MLflow registry."""

from __future__ import annotations

import time
from typing import Any

import httpx
import numpy as np
import pytest
from novacron.serving.launcher import BentoServer
from novacron.serving.schemas import ForecastResponse
from novacron.serving.timing import parse as parse_timing
from novacron.training.train import TrainConfig, run_training

from novacron.settings import Settings


def _series(n: int, points: int = 288, step_s: float = 300.0, horizon: int = 12) -> list[dict[str, Any]]:
    t = np.arange(points)
    return [{"series_id": f"vm-{i}", "history": (40 + 10 * np.sin(2 * np.pi * t / 288 + i)).round(3).tolist(),
             "step_s": step_s, "horizon": horizon, "start_s": 1_700_000_000.0} for i in range(n)]


def _post(server: BentoServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.url + "/forecast", json={"request": body}, timeout=30)


def test_serves_the_builtin_baseline_until_a_champion_exists(bento: BentoServer) -> None:
    assert httpx.get(bento.url + "/readyz", timeout=5).status_code == 200
    resp = _post(bento, {"series": _series(3)})
    assert resp.status_code == 200, resp.text
    out = ForecastResponse.model_validate(resp.json())
    assert [f.series_id for f in out.forecasts] == ["vm-0", "vm-1", "vm-2"]
    fc = out.forecasts[0]
    assert fc.model_version == "builtin-naive" and fc.model == "naive"
    assert fc.member_weights == {"naive": 1.0}
    assert len(fc.point) == 12 and sorted(iv.level for iv in fc.intervals) == [0.8, 0.95]
    # Each answer says where the service's time went (the benchmark splits slow calls by it).
    timing = parse_timing(resp.headers["server-timing"])
    assert set(timing) == {"model", "encode", "cpu", "app", "wait"}
    assert timing["app"] >= timing["model"] + timing["encode"] - 0.02  # 2-decimal rounding
    assert 0 <= timing["wait"] <= timing["app"] + 0.02


def test_calls_too_big_to_run_inline_and_mixed_history_lengths_are_answered(bento: BentoServer) -> None:
    # 201 series: one more than runs on the event loop by default, so a worker thread answers.
    series = [{**s, "series_id": f"short-{i}"} for i, s in enumerate(_series(3, points=100))] + _series(198)
    resp = _post(bento, {"series": series, "model": "seasonal_naive"})
    assert resp.status_code == 200, resp.text
    out = ForecastResponse.model_validate_json(resp.content)
    assert [f.series_id for f in out.forecasts] == [s["series_id"] for s in series]
    assert all(len(f.point) == 12 for f in out.forecasts)
    bad = [*series[:-1], {**series[-1], "history": [1.0, 2.0]}]
    resp = _post(bento, {"series": bad})
    assert resp.status_code == 400 and "at least 3" in resp.text


def test_openapi_still_documents_the_forecast_response(bento: BentoServer) -> None:
    spec = httpx.get(bento.url + "/docs.json", timeout=10).json()
    ok = spec["paths"]["/forecast"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["properties"]["forecasts"]["items"] == {"$ref": "#/components/schemas/ForecastOut"}
    assert {"series_id", "point", "intervals", "model_version"} <= set(
        spec["components"]["schemas"]["ForecastOut"]["properties"])


@pytest.mark.parametrize(("series", "why"), [
    ({"series_id": "a", "history": [1.0, 2.0], "step_s": 60, "horizon": 5}, "at least 3"),
    ({"series_id": "a", "history": [1.0, 2.0, 3.0], "step_s": 60, "horizon": 5, "levels": [1.5]}, "level"),
    ({"series_id": "a", "history": [1.0, 2.0, 3.0], "step_s": -1, "horizon": 5}, "step_s"),
    ({"series_id": "a", "history": "1,2,3", "step_s": 60, "horizon": 5}, "history"),
    ({"series_id": "a", "step_s": 60, "horizon": 5}, "history"),
])
def test_bad_history_is_a_clear_4xx(bento: BentoServer, series: dict[str, Any], why: str) -> None:
    resp = _post(bento, {"series": [series]})
    assert 400 <= resp.status_code < 500, resp.text
    assert why in resp.text


def test_nan_history_is_a_4xx(bento: BentoServer) -> None:
    raw = '{"request": {"series": [{"series_id": "a", "history": [1.0, NaN, 3.0], "step_s": 60, "horizon": 5}]}}'
    resp = httpx.post(bento.url + "/forecast", content=raw, headers={"content-type": "application/json"})
    assert 400 <= resp.status_code < 500, resp.text


def test_picks_up_a_new_champion(bento: BentoServer, settings: Settings, model_name: str) -> None:
    out = run_training(TrainConfig(data_dir=settings.data_dir / "metrics" if (settings.data_dir / "metrics").is_dir()
                                   else None, series_limit=6, quick=True),
                       settings.mlflow_url, model_name, experiment="novacron-tests")
    assert out.promotion.promoted, out.promotion.reason
    trained = time.monotonic()
    want = f"{model_name}/{out.version}"
    deadline = time.monotonic() + 60
    body = {"series": _series(100)}
    while True:
        resp = _post(bento, body)
        assert resp.status_code == 200, resp.text
        fc = ForecastResponse.model_validate(resp.json()).forecasts
        if fc[0].model_version == want or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # the service polls the registry every second in this test
    print(f"training {out.timings}, pickup {time.monotonic() - trained:.1f} s")
    assert fc[0].model_version == want and fc[0].model == "ensemble"
    assert set(fc[0].member_weights) == {"seasonal_naive", "naive", "drift", "lstm"}
    assert sum(fc[0].member_weights.values()) == pytest.approx(1.0)
    for f in fc:
        lo80, hi80 = next((iv.lower, iv.upper) for iv in f.intervals if iv.level == 0.8)
        assert np.all(np.array(lo80) <= np.array(f.point)) and np.all(np.array(f.point) <= np.array(hi80))
    # The baseline stays reachable on the same server (the benchmark compares the two).
    base = _post(bento, {**body, "model": "seasonal_naive"}).json()["forecasts"][0]
    assert base["model_version"] == "builtin-seasonal-naive"


def test_settle_heap_takes_the_loaded_heap_out_of_full_collections() -> None:
    import gc

    from novacron.serving.service import settle_heap

    try:
        settle_heap()
        assert gc.get_freeze_count() > 10_000  # torch, pydantic, the service module...
        t0 = time.perf_counter()
        gc.collect()
        assert time.perf_counter() - t0 < 0.1  # nothing left but what was made since
    finally:
        gc.unfreeze()
