"""Write features, forecasts and decisions to the time-series DB with influxdb-client.

VictoriaMetrics (dev) and InfluxDB 2 (production option) both take it; VictoriaMetrics names
each series ``<measurement>_<field>``, e.g. ``novacron_features_p95{vm_id=..., metric="cpu"}``.
Writes are batched per stream batch and never block the agent: a failed write is logged and
dropped (the features are also on Kafka, which is the record). The feature agent hands its
lines to :meth:`TSDBWriter.submit`, which writes in the background, one request in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from novacron.events import Decision, FeatureVector, Forecast

log = logging.getLogger(__name__)
MEASUREMENT = "novacron_features"
# Names as autoscaler/metrics_names.py lists them for the dashboards.
FORECAST_MEASUREMENT = "novacron_forecast"
SCALING_MEASUREMENT = "novacron_scaling"
GROUP_MEASUREMENT = "novacron_group_features"


def _extra_fields(fv: FeatureVector) -> list[tuple[str, float]]:
    """The optional fields: decomposition and correlations, when the vector has them."""
    out = [(name, value) for name, value in (("stl_trend", fv.stl_trend),
                                               ("stl_seasonal", fv.stl_seasonal),
                                               ("stl_resid", fv.stl_resid)) if value is not None]
    out.extend((f"corr_{metric.value}", r) for metric, r in (fv.correlations or {}).items())
    return out


def feature_point(fv: FeatureVector) -> Point:
    point = (
        Point(MEASUREMENT)
        .tag("vm_id", fv.vm_id)
        .tag("metric", fv.metric.value)
        .tag("host_id", fv.host_id or "unknown")
        .field("last", fv.last).field("mean", fv.mean).field("std", fv.std)
        .field("p95", fv.p95).field("ewma", fv.ewma)
        .field("allocated", float(fv.allocated) if fv.allocated is not None else 0.0)
        .field("anomaly", fv.anomaly if fv.anomaly is not None else 0.0)
        .time(fv.occurred_at, WritePrecision.S)
    )
    for name, value in _extra_fields(fv):
        point = point.field(name, value)
    return point


def _field(value: float) -> str:
    s = str(value)
    return s[:-2] if s.endswith(".0") else s  # as influxdb-client writes whole floats


def feature_line(fv: FeatureVector) -> str:
    """``feature_point(fv).to_line_protocol()`` without building a Point (~10x cheaper; the
    feature agent writes one per published feature). Identifiers and metric names need no
    escaping (their pattern excludes space, comma, equals); a fractional-second time or a
    non-finite field takes the Point path, so the two never differ (tested)."""
    anomaly = fv.anomaly if fv.anomaly is not None else 0.0
    alloc = float(fv.allocated) if fv.allocated is not None else 0.0
    fields = [("allocated", alloc), ("anomaly", anomaly), ("ewma", fv.ewma), ("last", fv.last),
              ("mean", fv.mean), ("p95", fv.p95), ("std", fv.std), *_extra_fields(fv)]
    if fv.occurred_at.microsecond or not all(math.isfinite(v) for _, v in fields):
        return str(feature_point(fv).to_line_protocol())
    fields.sort()  # the client writes fields by name
    body = ",".join(f"{name}={_field(value)}" for name, value in fields)
    return (f"{MEASUREMENT},host_id={fv.host_id or 'unknown'},metric={fv.metric.value},"
            f"vm_id={fv.vm_id} {body} {int(fv.occurred_at.timestamp())}")


def forecast_points(fc: Forecast) -> list[Point]:
    """One point per forecast step, stamped with the time it forecasts (for forecast vs actual)."""
    return [
        Point(FORECAST_MEASUREMENT)
        .tag("vm_id", fc.vm_id).tag("metric", fc.metric.value).tag("model", fc.model)
        .tag("level", f"{fc.level:g}")
        .field("point", p).field("lower", lo).field("upper", up)
        .time(fc.occurred_at + timedelta(seconds=fc.step_s * (k + 1)), WritePrecision.S)
        for k, (p, lo, up) in enumerate(zip(fc.point, fc.lower, fc.upper, strict=True))
    ]


_SIZES = ("vcpus", "memory_mib", "replicas")  # what a scaling decision sizes, by action


def decision_point(d: Decision) -> Point:
    """A scaling decision as a point: its new size in its own unit (vCPUs, MiB or replicas;
    the ``action`` tag says which) and the change."""
    key = next((k for k in _SIZES if k in d.params), None)
    desired = float(d.params[key]) if key else 0.0
    previous = float(d.params.get(f"previous_{key}", desired)) if key else 0.0
    return (
        Point(SCALING_MEASUREMENT)
        .tag("vm_id", d.target_id).tag("action", d.action.value)
        .tag("rule", str(d.trigger.get("rule", d.decided_by)))
        .tag("policy", d.policy).tag("direction", "up" if desired > previous else "down")
        .field("decision", desired - previous).field("desired", desired)
        .time(d.occurred_at, WritePrecision.S)
    )


def outcome_point(fv: FeatureVector, measurement: str, outcome: str, reason: str) -> Point:
    """What became of a feature vector (streams.coverage), one point (``n=1``) at its event time."""
    return (
        Point(measurement)
        .tag("vm_id", fv.vm_id).tag("metric", fv.metric.value)
        .tag("outcome", outcome).tag("reason", reason or "none")
        .field("n", 1)
        .time(fv.occurred_at, WritePrecision.S)
    )


def group_correlation_point(group_id: str, at: datetime, correlations: Mapping[str, float]) -> Point:
    """A group's CPU correlation with each other metric (``corr_<metric>``), at event time."""
    point = Point(GROUP_MEASUREMENT).tag("group_id", group_id)
    for metric, r in sorted(correlations.items()):
        point = point.field(f"corr_{metric}", float(r))
    return point.time(at, WritePrecision.S)


class TSDBWriter:
    """Batched line-protocol writes; a no-op without a URL. The client opens on first use
    (it needs the running event loop)."""

    # Lines waiting while the TSDB is slow or down; beyond this the oldest are dropped (the
    # TSDB is a view, Kafka holds the features).
    MAX_PENDING = 200_000

    def __init__(self, url: str, bucket: str = "novacron") -> None:
        self._url = url
        self._client: InfluxDBClientAsync | None = None
        self._bucket = bucket
        self.failures = 0
        self.dropped = 0
        self._pending: list[str] = []
        self._flusher: asyncio.Task[None] | None = None

    def submit(self, lines: list[str]) -> None:
        """Queue line-protocol lines and return at once; a background task writes them, all
        that queued up during the previous request in one request."""
        if not lines or not self._url:
            return
        self._pending.extend(lines)
        if len(self._pending) > self.MAX_PENDING:
            excess = len(self._pending) - self.MAX_PENDING
            del self._pending[:excess]
            self.dropped += excess
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            lines, self._pending = self._pending, []
            await self._send(lines)

    async def write(self, features: list[FeatureVector]) -> None:
        await self.write_points([feature_point(f) for f in features])

    async def write_points(self, points: list[Point]) -> None:
        if not points or not self._url:
            return
        await self._send(points)

    async def _send(self, records: list[Point] | list[str]) -> None:
        if self._client is None:
            self._client = InfluxDBClientAsync(url=self._url, token="", org="novacron",
                                               timeout=5_000)
        try:
            # Every line and Point here is stamped in whole seconds; a line string carries no
            # precision of its own, and the client's default (ns) would put it in 1970.
            await self._client.write_api().write(
                bucket=self._bucket,
                record=records,
                # The client annotates the enum's own string constants as the class.
                write_precision=WritePrecision.S,  # type: ignore[arg-type]
            )
        except Exception as exc:  # the TSDB is a view, not the record: log and go on
            self.failures += 1
            log.warning("writing %d points to the TSDB failed: %s", len(records), exc)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued (within ``timeout_s``), then close the client."""
        if self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._flusher), timeout_s)
            self._flusher.cancel()
        self._flusher = None
        if self._client is not None:
            await self._client.close()
            self._client = None
