"""The BentoML service that serves the champion forecaster.

At start a background thread looks up ``@champion`` of the registered model in the MLflow
registry (``NOVACRON_MLFLOW_URL``, ``NOVACRON_REGISTERED_MODEL``) and loads it; readiness
(``/readyz``) fails until that lookup has ended with a model: the champion, or, when there is
none or the registry is unreachable, the built-in naive model (the last value with empirical
intervals: the level path the autoscaler is measured with), which ``model_version`` then
names (``builtin-naive``). A request may also ask for a built-in baseline by name
(``"model": "naive"`` or ``"seasonal_naive"``). The thread keeps polling, so a newly promoted
champion is served without a restart.

A request costs no model fit: the champion's members forecast from the history they are
handed (one batched LSTM forward pass for all series of a step).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from typing import Any, cast

import anyio
import anyio.to_thread
import bentoml
from bentoml.exceptions import InvalidArgument, ServiceUnavailable
from novacron.models.base import FloatArray, Forecast
from novacron.serving.schemas import ForecastRequest, ForecastResponse, SeriesIn
from novacron.serving.timing import ServerTiming, add_stage
from novacron.serving.wire import first_problem, forecasts_json, histories
from starlette.responses import Response

# One OpenMP/MKL thread per process thread, set before torch loads its runtimes: a request
# runs in a worker thread, where torch.set_num_threads from __init__ does not reach, and a
# 2-thread OpenMP team on a busy 2-core machine stalled requests for seconds.
# (models/lstm.pin_threads covers the worker thread; this covers the process default.)
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

log = logging.getLogger("novacron.serving")

BUILTIN_VERSION = "builtin-naive"  # served until a champion exists
BASELINE_VERSIONS = {"naive": BUILTIN_VERSION, "seasonal_naive": "builtin-seasonal-naive"}


# Per-call BentoML work that buys nothing here, left off for the forecast route only: an
# access-log line (the service logs what goes wrong itself) and an OpenTelemetry span (no
# exporter is configured). Together ~1.5 ms of a ~20 ms call on the shared cores. The
# Prometheus metrics stay: deploy/prometheus scrapes them.
_SKIP_PER_CALL = ["/forecast"]


@bentoml.service(
    name="novacron-forecaster",
    traffic={"timeout": 30},
    logging={"access": {"skip_paths": ["/metrics", "/healthz", "/livez", "/readyz", *_SKIP_PER_CALL]}},
    tracing={"excluded_urls": _SKIP_PER_CALL},
)
class ForecastService:
    def __init__(self) -> None:
        import torch
        from novacron.serving.config import ServingSettings

        torch.set_num_threads(1)  # tiny forward passes: a thread pool only adds latency
        self.settings = ServingSettings()
        self.model: Any = None  # a FastEnsemble once a champion is loaded
        self.model_version = ""
        self._ready = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._http: Any = None  # the loader thread's HTTP client (created there, lazily)
        self._limiter: anyio.CapacityLimiter | None = None  # for calls too big to run inline
        self._thread = threading.Thread(target=self._watch, name="champion-loader", daemon=True)
        self._thread.start()

    def __is_ready__(self) -> bool:
        return self._ready

    # -- the champion -------------------------------------------------------------------

    def _watch(self) -> None:
        while True:
            try:
                self._refresh()
            except Exception:  # keep serving what is loaded; the log says why
                log.exception("champion lookup failed")
            if not self._ready:  # the lookup ended without a model: serve the baseline
                self._use_builtin("champion lookup failed")
            poll = self.settings.champion_poll_s
            if poll <= 0 or self._stop.wait(poll):
                return

    def _refresh(self) -> None:
        name, url = self.settings.registered_model, self.settings.mlflow_url
        if not self._mlflow_up(url.rstrip("/") + "/health"):
            if not self._ready:
                self._use_builtin(f"MLflow at {url} is unreachable")
            return
        from novacron.training.registry import CHAMPION, alias_version, configure, load_version

        found = alias_version(configure(url), name, CHAMPION)
        if found is None:
            if self.model_version != BUILTIN_VERSION:
                self._use_builtin(f"{name} has no @{CHAMPION}")
            return
        label = f"{name}/{found[0]}"
        if label == self.model_version:
            return
        model = load_version(name, found[0])
        with self._lock:
            self.model, self.model_version = model, label
        settle_heap()
        self._ready = True
        log.info("serving champion %s", label)

    def _mlflow_up(self, health_url: str) -> bool:
        # One client for the service's life: httpx.get builds a new SSL context per call,
        # ~40 ms of CPU holding the GIL, which every poll added to a request in flight.
        import httpx

        if self._http is None:
            self._http = httpx.Client(timeout=1.0)
        try:
            status: int = self._http.get(health_url).status_code
        except httpx.HTTPError:
            return False
        return status < 500

    def _use_builtin(self, why: str) -> None:
        with self._lock:
            self.model, self.model_version = None, BUILTIN_VERSION
        settle_heap()
        self._ready = True
        log.warning("serving the built-in naive model: %s", why)

    # -- the endpoint -------------------------------------------------------------------

    # output_spec keeps ForecastResponse as the documented answer; the method returns the
    # bytes of exactly that JSON (serving/wire.py), so no response models are built per call.
    @bentoml.api(output_spec=ForecastResponse)
    async def forecast(self, request: ForecastRequest) -> Response:
        """Async so a usual call (up to ``inline_max_series`` series, ~10 ms of CPU) runs on
        the event loop: a hand-off to BentoML's worker thread and back cost two wake-ups,
        each a chance to be preempted on the shared cores. Bigger calls go to a thread so
        they do not hold the loop."""
        if not self._ready:
            raise ServiceUnavailable("no model loaded yet")
        if len(request.series) <= self.settings.inline_max_series:
            return self._answer(request)
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)  # one big call at a time, as before
        return await anyio.to_thread.run_sync(self._answer, request, limiter=self._limiter)

    def _answer(self, request: ForecastRequest) -> Response:
        t0, cpu0 = time.perf_counter(), time.thread_time()
        arrays = histories(request.series)
        problem = first_problem(request.series, arrays, self.settings.min_history)
        if problem is not None:
            raise InvalidArgument(problem)
        with self._lock:
            model, version = self.model, self.model_version
        if model is None or request.model != "champion":
            name = "naive" if request.model == "champion" else request.model
            version = BASELINE_VERSIONS[name]
            results = [_builtin(name, s, h) for s, h in zip(request.series, arrays, strict=True)]
        else:
            from novacron.training.fastensemble import SeriesRequest

            results = model.predict_batch([SeriesRequest(h, s.step_s, s.horizon, s.start_s, tuple(s.levels))
                                           for s, h in zip(request.series, arrays, strict=True)])
        t1 = time.perf_counter()
        body = forecasts_json([s.series_id for s in request.series], results, version)
        t2 = time.perf_counter()
        timing = add_stage(add_stage(b"", "model", (t1 - t0) * 1000), "encode", (t2 - t1) * 1000)
        # CPU this thread used for both: far below model + encode means it waited for a core.
        timing = add_stage(timing, "cpu", (time.thread_time() - cpu0) * 1000)
        return Response(body, media_type="application/json", headers={"server-timing": timing.decode()})


# The decorator returns a bentoml.Service at run time; its stubs say the class.
cast("bentoml.Service[Any]", ForecastService).add_asgi_middleware(ServerTiming)


def settle_heap() -> None:
    """Move everything alive now (torch, MLflow, the model: ~560k objects) out of the cyclic
    GC's reach. A full collection over that heap takes ~0.6 s on this machine, and request
    garbage triggers one every few hundred requests: a latency spike each time. Unfreezing
    first lets a replaced model's cycles be collected once, at the swap."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _builtin(name: str, s: SeriesIn, history: FloatArray) -> tuple[Forecast, dict[str, float]]:
    from novacron.models.baselines import Naive, SeasonalNaive

    model = (Naive() if name == "naive" else SeasonalNaive()).fit(history, step_s=s.step_s, start_s=s.start_s)
    return model.predict(s.horizon, tuple(s.levels)), {name: 1.0}
