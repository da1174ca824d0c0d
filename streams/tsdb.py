"""Write features to the time-series DB with influxdb-client (line protocol).

VictoriaMetrics (dev) and InfluxDB 2 (production option) both take it; VictoriaMetrics names
each series ``<measurement>_<field>``, e.g. ``novacron_features_p95{vm_id=..., metric="cpu"}``.
Writes are batched per stream batch and never block the agent: a failed write is logged and
dropped (the features are also on Kafka, which is the record).
"""

from __future__ import annotations

import logging

from influxdb_client import Point, WritePrecision
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from novacron.events import FeatureVector

log = logging.getLogger(__name__)
MEASUREMENT = "novacron_features"


def feature_point(fv: FeatureVector) -> Point:
    return (
        Point(MEASUREMENT)
        .tag("vm_id", fv.vm_id)
        .tag("metric", fv.metric.value)
        .tag("host_id", fv.host_id or "unknown")
        .field("last", fv.last).field("mean", fv.mean).field("std", fv.std)
        .field("p95", fv.p95).field("ewma", fv.ewma)
        .field("allocated", float(fv.allocated) if fv.allocated is not None else 0.0)
        .time(fv.occurred_at, WritePrecision.S)
    )


class FeatureWriter:
    def __init__(self, url: str, bucket: str = "novacron") -> None:
        self._client = InfluxDBClientAsync(url=url, token="", org="novacron", timeout=5_000)
        self._bucket = bucket
        self.failures = 0

    async def write(self, features: list[FeatureVector]) -> None:
        if not features:
            return
        try:
            await self._client.write_api().write(
                bucket=self._bucket, record=[feature_point(f) for f in features])
        except Exception as exc:
            self.failures += 1
            log.warning("writing %d features to the TSDB failed: %s", len(features), exc)

    async def close(self) -> None:
        await self._client.close()
