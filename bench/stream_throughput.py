"""Metric samples per second through the feature agents on the real broker.

Samples for ``--vms`` VMs are produced to novacron.metrics.raw as backfill (so the decision
agent skips them and no forecast call is made), the stream worker turns them into features,
and we time from the first sample produced to the last feature out. The baseline, in the same
run, is a bare aiokafka consumer reading the same messages: ``ratio_to_raw_consume``.
Lag is each feature's arrival minus the produce time of the newest sample it covers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _produce(bootstrap: str, topic: str, vms: int, per_vm: int) -> dict[datetime, float]:
    from aiokafka import AIOKafkaProducer

    from novacron.events import MetricName, MetricSample

    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    produced: dict[datetime, float] = {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=262_144)
    await producer.start()
    try:
        for i in range(per_vm):
            at = t0 + timedelta(minutes=i)
            produced[at] = time.monotonic()
            for v in range(vms):
                s = MetricSample(occurred_at=at, vm_id=f"bench-vm-{v:05d}", metric=MetricName.CPU,
                                 value=float((i * 7 + v) % 100), allocated=2, backfill=True)
                await producer.send(topic, s.to_bytes(), key=s.vm_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return produced


async def _raw_consume(bootstrap: str, topic: str, expected: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-raw-{uuid.uuid4()}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        seen = 0
        start = time.monotonic()
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            seen += sum(len(r) for r in batch.values())
        return time.monotonic() - start
    finally:
        await consumer.stop()


async def _watch_features(bootstrap: str, vms: int, last_at: datetime, produced: dict[datetime, float],
                          lags: list[float], timeout_s: float) -> float:
    from aiokafka import AIOKafkaConsumer

    from novacron import topics
    from novacron.events import FeatureVector, decode

    consumer = AIOKafkaConsumer(topics.FEATURES.name, bootstrap_servers=bootstrap,
                                group_id=f"bench-features-{uuid.uuid4()}", auto_offset_reset="latest")
    await consumer.start()
    done: set[str] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(done) < vms and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            now = time.monotonic()
            for records in batch.values():
                for rec in records:
                    fv = decode(FeatureVector, rec.value)
                    if not fv.vm_id.startswith("bench-vm-"):
                        continue
                    if fv.occurred_at in produced:
                        lags.append(now - produced[fv.occurred_at])
                    if fv.occurred_at >= last_at:
                        done.add(fv.vm_id)
        return time.monotonic()
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run, under a minute")
    parser.add_argument("--vms", type=int, default=None)
    parser.add_argument("--per-vm", type=int, default=None)
    args = parser.parse_args()
    vms = args.vms or (200 if args.quick else 1000)
    per_vm = args.per_vm or (50 if args.quick else 200)
    total = vms * per_vm

    # A fresh group at the latest offsets, and a topic of the run's own for the raw baseline.
    os.environ["NOVACRON_CONSUMER_GROUP"] = f"bench-stream-{uuid.uuid4().hex[:8]}"
    os.environ["NOVACRON_CONSUMER_OFFSET_RESET"] = "latest"
    from novacron.actuators.connection import Fleet
    from novacron.streams.worker import BackgroundWorker, build_runtime

    from novacron.kafka_admin import ensure_topics
    from novacron.services import start_all
    from novacron.settings import get_settings

    settings = get_settings()
    start_all(settings, ["postgres", "broker", "tsdb"])
    asyncio.run(ensure_topics(settings))
    build_runtime(settings, Fleet([]))
    worker = BackgroundWorker()
    worker.start()
    try:
        async def run() -> tuple[float, float, list[float]]:
            from novacron import topics

            lags: list[float] = []
            last_at = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=per_vm - 1)
            produced: dict[datetime, float] = {}
            start = time.monotonic()
            watcher = asyncio.create_task(
                _watch_features(settings.kafka_bootstrap, vms, last_at, produced, lags, 600))
            produced.update(await _produce(settings.kafka_bootstrap, topics.METRICS_RAW.name,
                                           vms, per_vm))
            end = await watcher
            raw_s = await _raw_consume(settings.kafka_bootstrap, topics.METRICS_RAW.name, total)
            return end - start, raw_s, lags

        pipeline_s, raw_s, lags = asyncio.run(run())
    finally:
        worker.stop()
    from bench._common import write_results

    rate = total / pipeline_s
    raw_rate = total / raw_s
    figures = {
        "quick": args.quick, "vms": vms, "samples": total, "seconds": round(pipeline_s, 2),
        "samples_per_s": round(rate, 1), "raw_consume_samples_per_s": round(raw_rate, 1),
        "ratio_to_raw_consume": round(rate / raw_rate, 3),
        "p50_lag_s": round(statistics.median(lags), 3) if lags else None,
        "p99_lag_s": round(_percentile(lags, 0.99), 3) if lags else None,
        "target_samples_per_s": 20_000,
    }
    path = write_results("stream_throughput", figures)
    print(f"stream_throughput: {rate:,.0f} samples/s through the feature agents "
          f"({rate / raw_rate:.2f}x a bare consumer at {raw_rate:,.0f}/s), p99 lag "
          f"{figures['p99_lag_s']} s; {total} samples, {vms} VMs -> {Path(path).name}")


if __name__ == "__main__":
    main()
