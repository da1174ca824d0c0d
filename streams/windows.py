"""Event-time windows of metric samples and the features computed over them (pure).

Kept apart from the Faust agent so it can be used and tested without an app or a loop.
A window is a plain JSON-able dict (it lives in a changelogged Faust table): ``t`` and ``v``
the event times (unix seconds, ascending) and values, ``alloc`` and ``host`` the last known
allocation and host, ``emitted`` the event time of the newest point of the last published
features (absent until the first publication). For the seasonal decomposition it also keeps
``hm``, the means of up to a week of complete event-time hours (NaN for an hour without
points), ``h_last`` the index (unix hour) of the newest of them, and ``stl``, the
decomposition at ``h_last`` once computed.
"""

from __future__ import annotations

import base64
import bisect
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from novacron.models.features import (
    anomaly_score,
    correlation,
    correlation_matrix,
    rolling_stats,
    stl_decompose,
)

from novacron.events import FeatureVector, MetricName, MetricSample

HOUR_S = 3600
HOURS_KEPT = 7 * 24
# Daily seasonality over hourly means; two periods at least (stl_decompose's own rule) and at
# most three: non-robust STL over 72 points costs ~1 ms, robust over a week ~40 ms, and every
# key of the fleet closes its hour in the same take.
STL_PERIOD_H = 24
STL_SPAN_H = 3 * STL_PERIOD_H
# Correlations between a VM's metrics use their last shared points (an hour at 1-minute steps).
CORRELATION_POINTS = 60
MIN_CORRELATION_POINTS = 10


def add_samples(window: dict[str, Any], samples: Iterable[MetricSample], keep: int) -> dict[str, Any]:
    """Insert samples (in arrival order) by event time and keep the last ``keep`` points.

    Pure: returns a new window. One copy of the lists per call, so a batch of samples for a
    key costs one copy, not one per sample; trimming once at the end keeps the same points
    as trimming after each insert (the newest ``keep`` distinct event times).
    """
    ts: list[float] = list(window.get("t", []))
    vs: list[float] = list(window.get("v", []))
    alloc = window.get("alloc")
    host = window.get("host")
    for sample in samples:
        t = sample.occurred_at.timestamp()
        i = bisect.bisect_right(ts, t)
        if i > 0 and ts[i - 1] == t:  # a redelivered sample: replace, don't duplicate
            vs[i - 1] = sample.value
        else:
            ts.insert(i, t)
            vs.insert(i, sample.value)
        if sample.allocated is not None:
            alloc = sample.allocated
        host = sample.host_id or host
    out: dict[str, Any] = {"t": ts[-keep:], "v": vs[-keep:], "alloc": alloc, "host": host}
    for carried in ("emitted", "hm", "h_last", "stl"):
        if carried in window:
            out[carried] = window[carried]
    if ts:
        _close_hours(out, ts, vs)
    return out


def _close_hours(window: dict[str, Any], ts: list[float], vs: list[float]) -> None:
    """Append the mean of every hour that ended before the newest point's hour (in place).

    An hour is closed once a point of a later hour arrives; a sample arriving after its hour
    closed is in the window's points but not in the hour's mean (documented, like a late
    sample that no longer moves ``emitted``). Hours before the first point are unknown.
    """
    newest = int(ts[-1] // HOUR_S)
    last = window.get("h_last")
    if last is None:
        last = int(ts[0] // HOUR_S) - 1
    if newest - 1 <= last:
        return
    means: list[float] = list(window.get("hm", []))
    first = max(last + 1, newest - HOURS_KEPT)
    if first > last + 1:
        means = []  # a gap longer than what is kept
    for hour in range(first, newest):
        lo = bisect.bisect_left(ts, hour * HOUR_S)
        hi = bisect.bisect_left(ts, (hour + 1) * HOUR_S, lo)
        means.append(sum(vs[lo:hi]) / (hi - lo) if hi > lo else float("nan"))
    window["hm"] = means[-HOURS_KEPT:]
    window["h_last"] = newest - 1


def seasonal_parts(window: dict[str, Any]) -> tuple[float, float, float] | None:
    """(trend, seasonal, remainder) at the newest complete hour, from the shared STL over the
    hourly means (daily period); None until two days of consecutive hours are kept. Cached in
    the window (``stl``) so each key decomposes once per event-time hour. Pure apart from that
    cache entry, which it sets on the dict it is given."""
    last = window.get("h_last")
    if last is None:
        return None
    cached = window.get("stl")
    if cached is not None and cached[0] == last:
        return (cached[1], cached[2], cached[3]) if len(cached) == 4 else None
    means: list[float] = window.get("hm", [])[-STL_SPAN_H:]
    start = len(means)
    while start > 0 and means[start - 1] == means[start - 1]:  # the NaN-free suffix
        start -= 1
    span = means[start:]
    parts: tuple[float, float, float] | None = None
    if len(span) >= 2 * STL_PERIOD_H:
        dec = stl_decompose(span, STL_PERIOD_H, robust=False)
        parts = (float(dec.trend[-1]), float(dec.seasonal[-1]), float(dec.resid[-1]))
    window["stl"] = [last, *parts] if parts is not None else [last]
    return parts


def metric_correlations(windows: dict[MetricName, dict[str, Any]],
                        ) -> dict[MetricName, dict[MetricName, float]]:
    """For each of a VM's metric windows, its correlation with each of the others over their
    last ``CORRELATION_POINTS`` shared event times; a pair with fewer shared points, or a flat
    series, is left out (undefined is not "uncorrelated"). Metrics scraped together share
    their event times, and then one matrix covers them all (~25 us for six metrics)."""
    if len(windows) < 2:
        return {}
    metrics = list(windows)
    tails = [windows[m]["t"][-CORRELATION_POINTS:] for m in metrics]
    out: dict[MetricName, dict[MetricName, float]] = {m: {} for m in metrics}
    if len(tails[0]) >= MIN_CORRELATION_POINTS and all(t == tails[0] for t in tails[1:]):
        matrix = correlation_matrix([windows[m]["v"][-len(tails[0]):] for m in metrics])
        for i, a in enumerate(metrics):
            for j, b in enumerate(metrics):
                if i != j and matrix[i, j] == matrix[i, j]:
                    out[a][b] = float(matrix[i, j])
        return out
    for i, a in enumerate(metrics):  # different cadences: align each pair on shared times
        for b in metrics[i + 1:]:
            r = _aligned_correlation(windows[a], windows[b])
            if r is not None:
                out[a][b] = out[b][a] = r
    return out


def _aligned_correlation(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    ts: list[float] = a["t"][-CORRELATION_POINTS:]
    vs: list[float] = a["v"][-CORRELATION_POINTS:]
    at = dict(zip(b["t"][-2 * CORRELATION_POINTS:], b["v"][-2 * CORRELATION_POINTS:], strict=True))
    pairs = [(v, at[t]) for t, v in zip(ts, vs, strict=True) if t in at]
    if len(pairs) < MIN_CORRELATION_POINTS:
        return None
    return correlation([p[0] for p in pairs], [p[1] for p in pairs])


def add_sample(window: dict[str, Any], sample: MetricSample, keep: int) -> dict[str, Any]:
    """Insert one sample in event-time order and keep the last ``keep`` points (pure)."""
    return add_samples(window, (sample,), keep)


def due(window: dict[str, Any], every_s: float) -> bool:
    """Whether the window's features should be published: never published yet, or its newest
    event time is ``every_s`` past the last publication (a late sample does not move it)."""
    emitted = window.get("emitted")
    return emitted is None or window["t"][-1] - emitted >= every_s


def mark_emitted(window: dict[str, Any]) -> dict[str, Any]:
    return {**window, "emitted": window["t"][-1]}


Emission = tuple[MetricSample, dict[str, Any]]  # the sample that made it due, the window then


def advance(window: dict[str, Any], samples: list[MetricSample], keep: int, every_s: float,
            ) -> tuple[dict[str, Any], list[Emission]]:
    """Add one batch's samples of a key to its window; the new window and its emissions.

    Live samples give one emission per emit period they complete, each with the window as it
    stood at that period's end in event time: exactly what feeding the batch's samples one at
    a time in event-time order would give, so a backlog (a worker restarted behind the
    stream) yields every period's features, not only its newest. A batch of one sample, the
    steady case, costs what it always did. A batch of backfill only (history loaded for
    warm-up, which no agent decides on) gives at most one emission, its newest, so loading a
    day of history publishes one vector per key and not 1,440.
    Pure: the window given is not changed.
    """
    if len(samples) == 1 or all(s.backfill for s in samples):
        out = add_samples(window, samples, keep)
        if due(out, every_s):
            out = mark_emitted(out)
            return out, [(samples[-1], out)]
        return out, []
    ordered = sorted(samples, key=lambda s: s.occurred_at)  # stable: arrival order within a time
    emitted = window.get("emitted")
    ts = window.get("t")
    newest = ts[-1] if ts else None
    cuts: list[int] = []  # index in ``ordered`` of each sample that makes the window due
    for i, sample in enumerate(ordered):
        t = sample.occurred_at.timestamp()
        if newest is not None and t <= newest:
            continue  # late (or a repeat): in the window, but it does not move its clock
        newest = t
        if emitted is None or t - emitted >= every_s:
            cuts.append(i)
            emitted = t
    out, start, emissions = window, 0, []
    for i in cuts:
        out = mark_emitted(add_samples(out, ordered[start:i + 1], keep))
        emissions.append((ordered[i], out))
        start = i + 1
    if start < len(ordered) or not cuts:
        out = add_samples(out, ordered[start:], keep)
    return out, emissions


def as_of(window: dict[str, Any], t: float) -> dict[str, Any]:
    """The window's points up to event time ``t`` (only ``t`` and ``v``: what correlations
    read)."""
    ts: list[float] = window.get("t", [])
    end = bisect.bisect_right(ts, t)
    return {"t": ts[:end], "v": window.get("v", [])[:end]}


def features_of(sample: MetricSample, window: dict[str, Any], window_s: float,
                correlations: dict[MetricName, float] | None = None) -> FeatureVector:
    ts: list[float] = window["t"]
    vs: list[float] = window["v"]
    end = ts[-1]
    start = bisect.bisect_left(ts, end - window_s)
    stats = rolling_stats(vs[start:])
    step_s = _median_step(ts)
    stl = seasonal_parts(window)
    return FeatureVector(
        occurred_at=datetime.fromtimestamp(end, UTC), vm_id=sample.vm_id, metric=sample.metric,
        window_s=window_s, count=stats.count, last=stats.last, mean=stats.mean, std=stats.std,
        p95=stats.p95, ewma=stats.ewma, anomaly=anomaly_score(vs[start:]), history=list(vs),
        step_s=step_s, correlations=correlations,
        stl_trend=stl[0] if stl else None, stl_seasonal=stl[1] if stl else None,
        stl_resid=stl[2] if stl else None,
        allocated=window.get("alloc"), host_id=window.get("host"), backfill=sample.backfill,
    )


def _median_step(ts: list[float]) -> float:
    """The upper median of the positive spacings (60 s when there are none)."""
    diffs = np.diff(np.asarray(ts, dtype=float))
    steps = diffs[diffs > 0]
    if steps.size == 0:
        return 60.0
    k = steps.size // 2
    return float(np.partition(steps, k)[k])


# The table stores the window with its series packed as little-endian float64 in base64:
# JSON of a few hundred floats cost ~90 us per write (one per key per batch), this ~5 us,
# and the round trip is exact. Windows written as plain lists (older workers) still load.
_PACKED = 2


def _pack(values: list[float]) -> str:
    return base64.b64encode(np.asarray(values, dtype="<f8").tobytes()).decode("ascii")


def _unpack(text: str) -> list[float]:
    out: list[float] = np.frombuffer(base64.b64decode(text), dtype="<f8").tolist()
    return out


def to_stored(window: dict[str, Any]) -> dict[str, Any]:
    """The window as the table keeps it (see :func:`from_stored`)."""
    out = {**window, "t": _pack(window["t"]), "v": _pack(window["v"]), "fmt": _PACKED}
    if "hm" in window:
        out["hm"] = _pack(window["hm"])  # NaN (an hour without points) survives packing
    return out


def from_stored(stored: dict[str, Any]) -> dict[str, Any]:
    if stored.get("fmt") != _PACKED:
        return stored  # empty, or lists as older workers wrote them
    window = {k: v for k, v in stored.items() if k != "fmt"}
    window["t"] = _unpack(stored["t"])
    window["v"] = _unpack(stored["v"])
    if "hm" in stored:
        window["hm"] = _unpack(stored["hm"])
    return window
