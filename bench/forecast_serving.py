"""Forecast serving latency: 100 series per call against the BentoML service, warm.

    python -m bench.forecast_serving [--quick] [--url URL]

Uses the server at ``--url`` (default NOVACRON_SERVING_URL) when it is up, else starts one on
a free loopback port for the run and stops it after. Each call carries 100 real series
(288 points each: a day of 5-minute load, or the last 288 minutes of 1-minute load), horizon
1 h, levels 80/95 %. A call is timed as a client sees it: encoding the request (the
project's client path, ``serving.client.encode_request``), the round trip, and decoding the
response into ``ForecastResponse``; the series themselves are drawn before timing. Calls
to the champion and to the built-in seasonal-naive baseline (``"model": "seasonal_naive"``,
same server, same payload sizes) are interleaved so both see the same machine load; the
ratio champion/baseline is reported. Run ``bench.training`` (or ``novacron train``) first, or
the champion *is* the baseline (``model_version`` says which was served).

Each call is also split into stages, so a slow one can be placed: the client's encode, round
trip and decode, its GC pauses, CPU and time waiting for a core (schedstat), and the
service's own stages from its ``Server-Timing`` header (``app``: body read and parse, model,
encode; ``cpu``; ``wait``: runnable without a core). The four slowest champion calls are
written with their split.
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from novacron.serving.client import encode_request
from novacron.serving.launcher import BentoServer
from novacron.serving.schemas import ForecastRequest, ForecastResponse
from novacron.serving.timing import parse as parse_timing
from novacron.serving.timing import runqueue_wait_ms
from novacron.training.data import load_or_synthesize

from bench._common import write_results
from novacron.settings import Settings, get_settings

BATCH = 100
POINTS = 288


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def payloads(settings: Settings, n_payloads: int, seed: int = 0) -> list[dict[str, Any]]:
    """Request bodies of BATCH series each, windows drawn from the real series."""
    data = settings.data_dir / "metrics"
    pool = [
        s
        for s in load_or_synthesize(data if data.is_dir() else None, seed)
        if s.step_s in (60.0, 300.0) and s.values.size > POINTS + 10
    ]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_payloads):
        series = []
        for k in range(BATCH):
            s = pool[int(rng.integers(len(pool)))]
            end = int(rng.integers(POINTS, s.values.size))
            series.append(
                {
                    "series_id": f"s{k}",
                    "history": s.values[end - POINTS : end].round(4).tolist(),
                    "step_s": s.step_s,
                    "horizon": round(3600 / s.step_s),
                    "start_s": s.start_s + (end - POINTS) * s.step_s,
                    "levels": [0.8, 0.95],
                }
            )
        out.append({"series": series})
    return out


@dataclass(frozen=True, slots=True)
class Call:
    """One timed call, split into stages (ms): the client's encode, round trip and decode,
    the server's own stages from its Server-Timing header, and the client's GC pauses."""

    total: float
    encode: float
    roundtrip: float
    decode: float
    server: dict[str, float]
    client_gc: float
    client_cpu: float
    client_wait: float

    @property
    def outside_app(self) -> float:
        """Round trip minus the service's app time: HTTP server, kernel, client transport."""
        return self.roundtrip - self.server.get("app", 0.0)

    def split(self) -> dict[str, float]:
        return {"total": self.total, "client_encode": self.encode, "roundtrip": self.roundtrip,
                "server_app": self.server.get("app", 0.0), "server_model": self.server.get("model", 0.0),
                "server_encode": self.server.get("encode", 0.0), "server_cpu": self.server.get("cpu", 0.0),
                "server_wait": self.server.get("wait", 0.0), "outside_app": self.outside_app,
                "client_decode": self.decode, "client_gc": self.client_gc, "client_cpu": self.client_cpu,
                "client_wait": self.client_wait}


class GCPauses:
    """Milliseconds this process spent in the cyclic GC since the last ``take``."""

    def __init__(self) -> None:
        self._t0 = 0.0
        self._ms = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self._ms += (time.perf_counter() - self._t0) * 1000

    def take(self) -> float:
        ms, self._ms = self._ms, 0.0
        return ms


def measure(
    client: httpx.Client, requests: Sequence[ForecastRequest], calls: int, pauses: GCPauses
) -> tuple[list[Call], str]:
    headers = {"content-type": "application/json"}
    out: list[Call] = []
    version = ""
    for i in range(calls):
        pauses.take()
        t0, cpu0, wait0 = time.perf_counter(), time.thread_time(), runqueue_wait_ms()
        body = encode_request(requests[i % len(requests)])
        t1 = time.perf_counter()
        resp = client.post("/forecast", content=body, headers=headers)
        t2 = time.perf_counter()
        resp.raise_for_status()
        answer = ForecastResponse.model_validate_json(resp.content)
        t3 = time.perf_counter()
        out.append(Call((t3 - t0) * 1000, (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000,
                        parse_timing(resp.headers.get("server-timing", "")), pauses.take(),
                        (time.thread_time() - cpu0) * 1000, runqueue_wait_ms() - wait0))
        version = answer.forecasts[0].model_version
    return out, version


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="fewer calls")
    ap.add_argument("--url", default=None, help="a running forecast service")
    ap.add_argument(
        "--model-name",
        default="novacron-forecaster-bench",
        help="registered model whose @champion a started server loads (bench.training's)",
    )
    args = ap.parse_args(argv)
    settings = get_settings()
    if args.url:
        settings = settings.model_copy(update={"serving_url": args.url})
    server = BentoServer(settings)
    started = False
    if not server.ready():
        settings = settings.model_copy(update={"serving_url": f"http://127.0.0.1:{_free_port()}"})
        server = BentoServer(settings, env={"NOVACRON_REGISTERED_MODEL": args.model_name})
        t0 = time.perf_counter()
        server.start()
        started = True
        log(f"started bentoml serve at {server.url} in {time.perf_counter() - t0:.1f} s")
    calls = 60 if args.quick else 400
    load_before = os.getloadavg()[0]
    try:
        bodies = payloads(settings, 8)
        champion_requests = [ForecastRequest.model_validate({**b, "model": "champion"}) for b in bodies]
        baseline_requests = [ForecastRequest.model_validate({**b, "model": "seasonal_naive"}) for b in bodies]
        # The harness's own heap (pandas, the data pool, the 16 requests of 28,800 floats it
        # sends again and again) is frozen, as the service freezes its own after loading: a
        # full collection of it took ~150 ms and landed in whichever call was running (2-3
        # per run, so in the p99). Collections of what the calls themselves allocate still
        # count, and are reported.
        gc.collect()
        gc.freeze()
        pauses = GCPauses()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            measure(client, champion_requests, 10, pauses)  # warm-up
            measure(client, baseline_requests, 10, pauses)
            champ: list[Call] = []
            base: list[Call] = []
            version = ""
            for _ in range(calls // 20):  # interleave blocks so both see the same load
                t, version = measure(client, champion_requests, 10, pauses)
                champ += t
                base += measure(client, baseline_requests, 10, pauses)[0]
    finally:
        if started:
            server.stop()
    c, b = np.array([x.total for x in champ]), np.array([x.total for x in base])
    app = np.array([x.server.get("app", np.nan) for x in champ])
    outside = np.array([x.outside_app for x in champ])
    waited = np.array([x.server.get("wait", np.nan) + x.client_wait for x in champ])
    load_after = os.getloadavg()[0]
    figures: dict[str, Any] = {
        "quick": args.quick,
        "model_version": version,
        "calls": int(c.size),
        "batch": BATCH,
        "points_per_series": POINTS,
        "p50_ms_batch100": round(float(np.percentile(c, 50)), 2),
        "p95_ms_batch100": round(float(np.percentile(c, 95)), 2),
        "p99_ms_batch100": round(float(np.percentile(c, 99)), 2),
        "max_ms_batch100": round(float(c.max()), 2),
        "calls_over_50ms": int(np.sum(c > 50.0)),
        "mean_ms_batch100": round(float(c.mean()), 2),
        "series_per_s": round(BATCH / (float(c.mean()) / 1000), 1),
        "load_avg_1m_before": round(load_before, 2),  # the machine is shared: context
        "load_avg_1m_after": round(load_after, 2),
        # Where the time goes: the service's own time per call (Server-Timing "app": body
        # read and parse, model, encode) and the rest of the round trip outside it.
        "server_app_p50_ms": round(float(np.percentile(app, 50)), 2),
        "server_app_p99_ms": round(float(np.percentile(app, 99)), 2),
        "outside_app_p50_ms": round(float(np.percentile(outside, 50)), 2),
        "outside_app_p99_ms": round(float(np.percentile(outside, 99)), 2),
        # Time the server's and the client's threads were runnable but had no core (the
        # 2 cores are shared): how much of a call was queueing rather than work.
        "waited_for_cpu_p50_ms": round(float(np.percentile(waited, 50)), 2),
        "waited_for_cpu_p99_ms": round(float(np.percentile(waited, 99)), 2),
        "client_gc_ms_max": round(max(x.client_gc for x in champ), 2),
        "slowest_calls": [{k: round(v, 2) for k, v in x.split().items()}
                          for x in sorted(champ, key=lambda x: -x.total)[:4]],
        "baseline_p50_ms_batch100": round(float(np.percentile(b, 50)), 2),
        "baseline_p99_ms_batch100": round(float(np.percentile(b, 99)), 2),
        "baseline_series_per_s": round(BATCH / (float(b.mean()) / 1000), 1),
    }
    figures["p50_ratio_to_baseline"] = round(
        figures["p50_ms_batch100"] / figures["baseline_p50_ms_batch100"], 2
    )
    figures["p99_ratio_to_baseline"] = round(
        figures["p99_ms_batch100"] / figures["baseline_p99_ms_batch100"], 2
    )
    write_results("forecast_serving", figures)
    print(
        f"forecast_serving: {version}, 100 series/call: p50 {figures['p50_ms_batch100']} ms, "
        f"p99 {figures['p99_ms_batch100']} ms (target <= 50), {figures['series_per_s']} series/s; "
        f"seasonal-naive baseline p50 {figures['baseline_p50_ms_batch100']} ms, "
        f"p99 {figures['baseline_p99_ms_batch100']} ms (ratio p50 {figures['p50_ratio_to_baseline']}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
