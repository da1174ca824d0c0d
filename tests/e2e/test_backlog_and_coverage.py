"""Through the real worker: a backlog spanning several emit periods of one VM gives a feature
vector per period (a restarted worker loses no window), and a vector whose forecast cannot be
had (serving down) ends in an explicit fallback that is counted and written to the TSDB."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from e2e_support import Pipeline, Tap, new_vm
from novacron.serving.client import ForecastClient
from novacron.streams import coverage

from novacron import topics
from novacron.events import FeatureVector, MetricBatch, MetricName, MetricSample, decode

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def vectors_of(raw: list[bytes], vm: str) -> list[FeatureVector]:
    return [decode(FeatureVector, r) for r in raw if f'"vm_id":"{vm}"'.encode() in r]


async def test_a_backlog_of_n_emit_periods_gives_n_feature_vectors(
    pipeline: Pipeline, producer: AIOKafkaProducer
) -> None:
    vm = new_vm(pipeline, "host-001", "backlog")
    host = f"h{uuid.uuid4().hex[:6]}"  # a clock of its own (streams.ingest.screen)
    n = 6
    samples = [MetricSample(occurred_at=T0 + timedelta(minutes=m), vm_id=vm, host_id=host,
                            metric=MetricName.CPU, value=30.0 + m, allocated=2)
               for m in range(n)]  # what a worker that was down for six minutes reads at once
    batch = MetricBatch(occurred_at=T0 + timedelta(minutes=n - 1), host_id=host, samples=samples)
    async with Tap(pipeline.settings, topics.FEATURES.name) as feats:
        await producer.send_and_wait(topics.METRICS_RAW.name, batch.to_bytes(), key=host.encode())
        raw = await feats.collect(lambda seen: len(vectors_of(seen, vm)) >= n, 30)
        raw += await feats.collect(lambda seen: False, 1.5)  # and nothing more
    got = vectors_of(raw, vm)
    assert [fv.occurred_at for fv in got] == [T0 + timedelta(minutes=m) for m in range(n)]
    assert [fv.last for fv in got] == [30.0 + m for m in range(n)]
    assert [len(fv.history) for fv in got] == list(range(1, n + 1))  # each as of its minute


async def test_serving_down_gives_an_explicit_fallback_that_is_counted(
    pipeline: Pipeline, producer: AIOKafkaProducer
) -> None:
    vm = new_vm(pipeline, "host-002", "fallback")
    at = T0 + timedelta(hours=1)
    fv = FeatureVector(occurred_at=at, vm_id=vm, metric=MetricName.CPU, window_s=900, count=30,
                       last=40.0, mean=40.0, std=1.0, p95=41.0, ewma=40.0,
                       history=[40.0 + (i % 3) for i in range(30)], step_s=60.0, allocated=2,
                       host_id="host-002")
    key = ("fallback", "serving_down")
    before = coverage.COUNTS[key]
    served = pipeline.runtime.forecasts
    pipeline.runtime.forecasts = ForecastClient("http://127.0.0.1:9", 1.0)  # nothing listens
    try:
        await producer.send_and_wait(topics.FEATURES.name, fv.to_bytes(), key=fv.key.encode())
        for _ in range(200):
            if coverage.COUNTS[key] > before:
                break
            await asyncio.sleep(0.1)
    finally:
        pipeline.runtime.forecasts = served
    assert coverage.COUNTS[key] == before + 1
    # The outcome is in the TSDB too, at the vector's event time, with its reason.
    match = f'{coverage.MEASUREMENT}_n{{vm_id="{vm}"}}'
    rows: list[dict] = []
    async with httpx.AsyncClient(base_url=pipeline.settings.tsdb_url, timeout=5) as tsdb:
        for _ in range(60):
            resp = await tsdb.get("/api/v1/export", params={"match[]": match})
            rows = [json.loads(line) for line in resp.text.splitlines() if line.strip()]
            if rows:
                break
            await asyncio.sleep(0.5)
    assert [(r["metric"]["outcome"], r["metric"]["reason"], r["timestamps"]) for r in rows] == [
        ("fallback", "serving_down", [int(at.timestamp()) * 1000])]
