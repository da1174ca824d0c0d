"""The BentoML service that serves the champion forecaster.

At start a background thread looks up ``@champion`` of the registered model in the MLflow
registry (``NOVACRON_MLFLOW_URL``, ``NOVACRON_REGISTERED_MODEL``) and loads it; readiness
(``/readyz``) fails until that lookup has ended with a model: the champion, or, when there is
none or the registry is unreachable, the built-in seasonal-naive, which ``model_version``
then names (``builtin-seasonal-naive``). The thread keeps polling, so a newly promoted
champion is served without a restart.

A request costs no model fit: the champion's members forecast from the history they are
handed (one batched LSTM forward pass for all series of a step).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from typing import Any

import bentoml
import numpy as np
from bentoml.exceptions import InvalidArgument, ServiceUnavailable
from novacron.models.base import Forecast
from novacron.serving.schemas import ForecastOut, ForecastRequest, ForecastResponse, IntervalOut, SeriesIn

# One OpenMP/MKL thread per process thread, set before torch loads its runtimes: a request
# runs in a worker thread, where torch.set_num_threads from __init__ does not reach, and a
# 2-thread OpenMP team on a busy 2-core machine stalled requests for seconds.
# (models/lstm.pin_threads covers the worker thread; this covers the process default.)
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

log = logging.getLogger("novacron.serving")

BUILTIN_VERSION = "builtin-seasonal-naive"


@bentoml.service(name="novacron-forecaster", traffic={"timeout": 30})
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
        log.warning("serving the built-in seasonal-naive: %s", why)

    # -- the endpoint -------------------------------------------------------------------

    @bentoml.api
    def forecast(self, request: ForecastRequest) -> ForecastResponse:
        if not self._ready:
            raise ServiceUnavailable("no model loaded yet")
        histories = [np.asarray(s.history, dtype=np.float64) for s in request.series]
        for s, h in zip(request.series, histories, strict=True):
            self._validate(s, h)
        with self._lock:
            model, version = self.model, self.model_version
        ids = [s.series_id for s in request.series]
        if model is None or request.model == "seasonal_naive":
            served = version if model is None else BUILTIN_VERSION
            return ForecastResponse.model_construct(
                forecasts=_outs(ids, [_builtin(s) for s in request.series], served))
        from novacron.training.fastensemble import SeriesRequest

        items = [SeriesRequest(h, s.step_s, s.horizon, s.start_s, tuple(s.levels))
                 for s, h in zip(request.series, histories, strict=True)]
        return ForecastResponse.model_construct(forecasts=_outs(ids, model.predict_batch(items), version))

    def _validate(self, s: SeriesIn, history: np.ndarray) -> None:
        if len(s.history) < self.settings.min_history:
            raise InvalidArgument(f"series {s.series_id}: history has {len(s.history)} points; "
                                  f"at least {self.settings.min_history} are needed")
        for lv in s.levels:
            if not 0 < lv < 1:
                raise InvalidArgument(f"series {s.series_id}: level {lv} must be in (0, 1)")
        if not np.isfinite(history).all():
            raise InvalidArgument(f"series {s.series_id}: history contains NaN or inf")


def settle_heap() -> None:
    """Move everything alive now (torch, MLflow, the model: ~560k objects) out of the cyclic
    GC's reach. A full collection over that heap takes ~0.6 s on this machine, and request
    garbage triggers one every few hundred requests: a latency spike each time. Unfreezing
    first lets a replaced model's cycles be collected once, at the swap."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _rounded(paths: np.ndarray, significant: int = 7) -> np.ndarray:
    """``paths`` (series, paths, horizon) rounded to ``significant`` digits of each series'
    largest value: one decimal count per series, so lower <= point <= upper still holds.
    JSON floats of 7 digits instead of 17 halve the response (100 series x 5 paths), and with
    it the encode, send and client decode time; no forecast is that precise anyway. Rounding
    goes through an exact power of ten (multiply for decimals >= 0, divide otherwise) so each
    value is the double nearest its short decimal, which JSON then prints short."""
    top = np.max(np.abs(paths), axis=(1, 2))
    ok = np.isfinite(top) & (top > 0)
    dec = np.where(ok, significant - 1 - np.floor(np.log10(np.where(ok, top, 1.0))), 0.0)
    dec = np.clip(dec, -22, 22)[:, None, None]  # powers of ten up to 1e22 are exact doubles
    up = 10.0 ** np.abs(dec)
    out: np.ndarray = np.where(dec >= 0, np.round(paths * up) / up, np.round(paths / up) * up)
    return out


def _outs(
    series_ids: list[str], results: list[tuple[Forecast, dict[str, float]]], version: str
) -> list[ForecastOut]:
    """Response items for a batch: the arrays of all series with one horizon and one set of
    levels are rounded and converted to lists in one go (per-series numpy calls cost ~10 ms
    for 100 series)."""
    out: list[ForecastOut | None] = [None] * len(results)
    groups: dict[tuple[int, tuple[float, ...]], list[int]] = {}
    for i, (fc, _) in enumerate(results):
        groups.setdefault((fc.point.size, tuple(fc.intervals)), []).append(i)
    for (_, levels), idx in groups.items():
        stacked = np.array([[results[i][0].point]
                            + [b for lv in levels for b in (results[i][0].lower(lv), results[i][0].upper(lv))]
                            for i in idx])
        for i, rows in zip(idx, _rounded(stacked).tolist(), strict=True):
            fc, weights = results[i]
            # model_construct: the values come from our own arrays, so validating 100 x 5
            # float lists again would only cost time (~3 ms a call).
            out[i] = ForecastOut.model_construct(
                series_id=series_ids[i],
                point=rows[0],
                intervals=[IntervalOut.model_construct(level=lv, lower=rows[1 + 2 * k], upper=rows[2 + 2 * k])
                           for k, lv in enumerate(levels)],
                model=fc.model,
                model_version=version,
                member_weights=weights,
            )
    return [o for o in out if o is not None]


def _builtin(s: SeriesIn) -> tuple[Forecast, dict[str, float]]:
    from novacron.models.baselines import SeasonalNaive

    model = SeasonalNaive().fit(s.history, step_s=s.step_s, start_s=s.start_s)
    return model.predict(s.horizon, tuple(s.levels)), {"seasonal_naive": 1.0}
