"""Metric samples per second through the feature agents on the real broker.

Samples for ``--vms`` VMs are produced to novacron.metrics.raw as backfill, ``--batch`` per
message (MetricBatch, a host's scrape; ``--batch 1``: one MetricSample per message), so the
decision agent skips them and no forecast call is made; the stream worker turns them into features,
and we time from the first sample produced to the last feature out (a feature for every VM
covering its last sample). The producer is a separate process, as collectors are, so it does
not share the worker's interpreter lock. The baseline, in the same run, is a bare aiokafka
consumer reading the run's own messages (so the same samples): ``ratio_to_raw_consume``.
Lag is each feature's arrival minus the produce time of the newest sample it covers.
``--broker memory|s3`` measures on a Tansu of the run's own with that storage engine (results
in stream_throughput_<engine>.json); ``--broker memory,s3`` measures each in turn, in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# In the past: the worker dead-letters samples more than 5 minutes ahead of the wall clock.
T0 = datetime(2026, 1, 1, tzinfo=UTC)
VMS_PER_HOST = 100


def _say(what: str) -> None:
    print(f"stream_throughput: {what}", file=sys.stderr, flush=True)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _payloads(prefix: str, vms: int, per_vm: int, batch: int, metrics: int = 1,
              ) -> list[list[tuple[bytes, bytes]]]:
    """Per minute, the messages (value, key): one sample each when ``batch`` is 1 (keyed by
    VM, the old contract), else MetricBatches of ``batch`` samples ("hosts", keyed by host);
    each VM reports its first ``metrics`` metric kinds, side by side in one batch."""
    from novacron.events import MetricBatch, MetricName, MetricSample

    out = []
    for i in range(per_vm):
        at = T0 + timedelta(minutes=i)
        samples = [MetricSample(occurred_at=at, vm_id=f"{prefix}{v:05d}", metric=metric,
                                value=float((i * 7 + v + 13 * k) % 100), allocated=2, backfill=True)
                   for v in range(vms) for k, metric in enumerate(list(MetricName)[:metrics])]
        if batch == 1:
            out.append([(s.to_bytes(), s.vm_id.encode()) for s in samples])
            continue
        minute = []
        for h, first in enumerate(range(0, len(samples), batch)):
            host = f"{prefix}host-{h:04d}"
            mb = MetricBatch(occurred_at=at, host_id=host, source="bench",
                             samples=[s.model_copy(update={"host_id": host})
                                      for s in samples[first:first + batch]])
            minute.append((mb.to_bytes(), host.encode()))
        out.append(minute)
    return out


def _bench_fleet(prefix: str, vms: int, directory: Path) -> Any:
    """libvirt test-driver hosts defining the run's VMs: the worker processes metrics only of
    VMs its fleet knows (streams.ingest.screen)."""
    from novacron.actuators import simfleet
    from novacron.actuators.inventory_fleet import open_fleet
    from novacron.actuators.xml import DomainSpec, HostSpec, NumaCell, host_xml

    specs = []
    for h, first in enumerate(range(0, vms, VMS_PER_HOST)):
        domains = tuple(DomainSpec(name=f"{prefix}{v:05d}", vcpus=2, max_vcpus=8, memory_mib=64,
                                   max_memory_mib=128)
                        for v in range(first, min(vms, first + VMS_PER_HOST)))
        spec = HostSpec(name=f"{prefix}host-{h:04d}", cpus=256, memory_mib=65536,
                        numa=(NumaCell(256, 65536),), labels={"rack": "rack-0", "zone": "zone-0"},
                        domains=domains)
        (directory / f"{spec.name}.xml").write_text(host_xml(spec))
        specs.append(spec)
    return open_fleet(simfleet.inventory_of(directory, specs))


async def _produce(bootstrap: str, topic: str, prefix: str, vms: int, per_vm: int, batch: int,
                   metrics: int) -> dict[int, float]:
    """Produce minute by minute; the monotonic time (system-wide on Linux) each minute began."""
    from aiokafka import AIOKafkaProducer

    # Serialized before the clock starts: the producer measures the broker, not pydantic.
    payloads = _payloads(prefix, vms, per_vm, batch, metrics)
    produced: dict[int, float] = {}
    # Requests of up to 1 MB: a batch of 500 samples is ~130 KB.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=262_144,
                                max_request_size=1_048_576)
    await producer.start()
    try:
        for i, minute in enumerate(payloads):
            produced[i] = time.monotonic()
            for value, key in minute:
                await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()
    return produced


async def _produce_in_child(prefix: str, vms: int, per_vm: int, batch: int, metrics: int,
                            ) -> dict[int, float]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.stream_throughput", "--produce-only", prefix, "--vms",
        str(vms), "--per-vm", str(per_vm), "--batch", str(batch), "--metrics", str(metrics),
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the producer process failed with exit code {proc.returncode}")
    return {int(k): v for k, v in json.loads(out.decode().strip().splitlines()[-1]).items()}


async def _assigned(bootstrap: str, topic: str) -> Any:
    """A consumer of every partition of ``topic`` without a group: no group join, which
    Tansu can stall for minutes while it still holds an earlier run's members."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer.stop()
        raise RuntimeError(f"topic {topic} has no partitions (not created?)")
    consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
    return consumer


async def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = await _assigned(bootstrap, topic)
    try:
        ends = await consumer.end_offsets(list(consumer.assignment()))
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def _raw_consume(bootstrap: str, topic: str, start_at: dict[int, int], expected: int,
                       timeout_s: float) -> float:
    """Read this run's messages (from the offsets before it produced): the same samples."""
    consumer = await _assigned(bootstrap, topic)
    try:
        for tp in consumer.assignment():
            consumer.seek(tp, start_at[tp.partition])
        seen = 0
        start = time.monotonic()
        while seen < expected:
            if time.monotonic() - start > timeout_s:
                raise TimeoutError(f"the bare consumer read {seen} of {expected} in {timeout_s}s")
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            seen += sum(len(r) for r in batch.values())
        return time.monotonic() - start
    finally:
        await consumer.stop()


class _Watch:
    """Features out, as they arrive: count, lag, and which (VM, metric) keys have their last one."""

    def __init__(self, prefix: str, keys: int, last_at: datetime) -> None:
        self.prefix = prefix
        self.keys = keys
        self.last_at = last_at
        self.produced: dict[int, float] = {}
        self.pending: list[tuple[float, int]] = []  # (arrival, minute) until produce times are known
        self.done: set[str] = set()
        self.features = 0
        self.end = 0.0
        self.cpu_s = 0.0  # this process (worker thread, its consumer thread, the watcher)

    def lags(self) -> list[float]:
        return [t - self.produced[m] for t, m in self.pending if m in self.produced]


_HEAD = re.compile(rb'"occurred_at":"([^"]+)","vm_id":"([^"]+)","metric":"([^"]+)"')


def _head(raw: bytes) -> tuple[str, str]:
    """"vm_id|metric" and occurred_at of a feature message. The watcher shares the worker's process
    (and interpreter lock): parsing each feature's full history would slow what it measures."""
    m = _HEAD.search(raw[:300])
    if m is not None:
        return f"{m.group(2).decode()}|{m.group(3).decode()}", m.group(1).decode()
    fv = json.loads(raw)
    return f"{fv['vm_id']}|{fv['metric']}", str(fv["occurred_at"])


async def _watch_features(bootstrap: str, watch: _Watch, assigned: asyncio.Event,
                          timeout_s: float) -> None:

    from novacron import topics

    consumer = await _assigned(bootstrap, topics.FEATURES.name)
    deadline = time.monotonic() + timeout_s
    try:
        # Positioned at the end before anything is produced, so no feature is skipped.
        await consumer.seek_to_end()
        for tp in consumer.assignment():
            await consumer.position(tp)
        assigned.set()
        while len(watch.done) < watch.keys:
            if time.monotonic() > deadline:
                raise TimeoutError(f"features for {len(watch.done)} of {watch.keys} keys in {timeout_s}s")
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            now = time.monotonic()
            for records in batch.values():
                for rec in records:
                    key, occurred_at = _head(rec.value)
                    if not key.startswith(watch.prefix):
                        continue
                    watch.features += 1
                    at = datetime.fromisoformat(occurred_at)
                    watch.pending.append((now, int((at - T0).total_seconds() // 60)))
                    if at >= watch.last_at:
                        watch.done.add(key)
        watch.end = time.monotonic()
    finally:
        await consumer.stop()


ENGINES = ("memory", "s3")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _own_broker(engine: str) -> Path:
    """Point this run (and its producer process) at a Tansu of its own with ``engine``, before
    anything reads the settings; its state folder, removed by the caller."""
    state = Path(tempfile.mkdtemp(prefix=f"bench-broker-{engine}-"))
    os.environ.update(NOVACRON_KAFKA_BOOTSTRAP=f"127.0.0.1:{_free_port()}",
                      NOVACRON_BROKER_S3_URL=f"http://127.0.0.1:{_free_port()}",
                      NOVACRON_BROKER_ENGINE=engine, NOVACRON_STATE_DIR=str(state))
    return state


def _each_engine(engines: list[str]) -> None:
    """One child run per engine, one after the other, with the same arguments otherwise."""
    argv = sys.argv[1:]
    at = argv.index("--broker")
    for engine in engines:
        _say(f"measuring on a broker of its own with the {engine} engine")
        subprocess.run([sys.executable, "-m", "bench.stream_throughput",
                        *argv[:at], "--broker", engine, *argv[at + 2:]], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run, under a minute")
    parser.add_argument("--vms", type=int, default=None)
    parser.add_argument("--per-vm", type=int, default=None)
    parser.add_argument("--metrics", type=int, default=1,
                        help="metric kinds per VM (cpu, memory, net_in, ...); with more than one "
                             "the agent also correlates each VM's metrics")
    parser.add_argument("--batch", type=int, default=100,
                        help="samples per message: a MetricBatch of this many VMs (a host's "
                             "scrape); 1 sends single samples, the old one-per-message contract")
    parser.add_argument("--broker", default="configured",
                        help="'configured' (NOVACRON_KAFKA_BOOTSTRAP), or a Tansu of the run's own "
                             "with the 'memory' or 's3' storage engine; 'memory,s3' runs both")
    parser.add_argument("--produce-only", metavar="PREFIX", help=argparse.SUPPRESS)
    args = parser.parse_args()
    engines = [] if args.broker == "configured" else args.broker.split(",")
    if any(e not in ENGINES for e in engines):
        parser.error(f"--broker takes 'configured' or engines among {ENGINES}, got {args.broker!r}")
    if len(engines) > 1 and not args.produce_only:
        _each_engine(engines)
        return
    vms = args.vms or (200 if args.quick else 1000)
    per_vm = args.per_vm or (50 if args.quick else 200)
    if not 1 <= args.batch <= 5_000:
        parser.error("--batch must be between 1 and 5000 (events.MAX_BATCH_SAMPLES)")
    if not 1 <= args.metrics <= 6:
        parser.error("--metrics must be between 1 and 6 (the metric kinds)")
    total = vms * per_vm * args.metrics
    messages = per_vm * -(-vms * args.metrics // args.batch)

    if args.produce_only:
        from novacron import topics
        from novacron.settings import get_settings

        produced = asyncio.run(_produce(get_settings().kafka_bootstrap, topics.METRICS_RAW.name,
                                        args.produce_only, vms, per_vm, args.batch, args.metrics))
        print(json.dumps(produced))
        return

    own_state = _own_broker(engines[0]) if engines else None
    # A fresh group at the latest offsets, and a topic of the run's own for the raw baseline.
    os.environ["NOVACRON_CONSUMER_GROUP"] = f"bench-stream-{uuid.uuid4().hex[:8]}"
    os.environ["NOVACRON_CONSUMER_OFFSET_RESET"] = "latest"
    from novacron.streams.worker import BackgroundWorker, build_runtime

    from novacron.kafka_admin import ensure_topics
    from novacron.services import start_all, stop_all
    from novacron.settings import get_settings

    settings = get_settings()
    start_all(settings, ["postgres", "broker", "tsdb"])
    asyncio.run(ensure_topics(settings))
    # VM names of this run only: features of earlier runs' VMs (from any worker) don't count.
    prefix = f"bench-{uuid.uuid4().hex[:6]}-"
    fleet_dir = Path(tempfile.mkdtemp(prefix="stream-throughput-"))
    rt = build_runtime(settings, _bench_fleet(prefix, vms, fleet_dir))
    worker = BackgroundWorker()
    worker.start()
    watch = _Watch(prefix, vms * args.metrics, T0 + timedelta(minutes=per_vm - 1))
    try:
        async def run() -> tuple[float, float]:
            from novacron import topics

            assigned = asyncio.Event()
            watcher = asyncio.create_task(
                _watch_features(settings.kafka_bootstrap, watch, assigned, 600))
            _say("positioning the feature watcher")
            await asyncio.wait({watcher, asyncio.create_task(assigned.wait())}, timeout=60,
                               return_when=asyncio.FIRST_COMPLETED)
            if watcher.done():
                watcher.result()  # raises why it stopped
            if not assigned.is_set():
                watcher.cancel()
                raise TimeoutError("the feature watcher was not positioned within 60 s")
            start_at = await _end_offsets(settings.kafka_bootstrap, topics.METRICS_RAW.name)
            _say("producing")
            cpu_at = time.process_time()
            watch.produced.update(await _produce_in_child(prefix, vms, per_vm, args.batch,
                                                          args.metrics))
            _say("produced; waiting for the last features")
            await watcher
            _say("baseline: a bare consumer")
            watch.cpu_s = time.process_time() - cpu_at
            raw_s = await _raw_consume(settings.kafka_bootstrap, topics.METRICS_RAW.name, start_at,
                                       messages, 300)
            return watch.end - min(watch.produced.values()), raw_s

        pipeline_s, raw_s = asyncio.run(run())
    finally:
        worker.stop()
        rt.fleet.close()
        shutil.rmtree(fleet_dir, ignore_errors=True)
        if own_state is not None:
            stop_all(settings, ["broker", "broker-store"])
            shutil.rmtree(own_state, ignore_errors=True)
    from bench._common import write_results

    lags = watch.lags()
    load = os.getloadavg()[0]
    rate = total / pipeline_s
    raw_rate = total / raw_s
    figures = {
        "quick": args.quick, "vms": vms, "metrics_per_vm": args.metrics, "samples": total,
        "samples_per_message": args.batch,
        "messages": messages, "seconds": round(pipeline_s, 2),
        "samples_per_s": round(rate, 1), "messages_per_s": round(messages / pipeline_s, 1),
        # The bare consumer reads the same messages, so it carries the same samples.
        "raw_consume_samples_per_s": round(raw_rate, 1),
        "raw_consume_messages_per_s": round(messages / raw_s, 1),
        "ratio_to_raw_consume": round(rate / raw_rate, 3),
        "features_out": watch.features,
        # How long the producer took to hand every message to the broker: the pipeline
        # cannot finish before it, whatever the worker does.
        "produce_s": round(max(watch.produced.values()) - min(watch.produced.values()), 2),
        # The machine is shared: the CPU the worker's process spent, and the load around it,
        # tell a slow run on a busy machine from a slow pipeline.
        "process_cpu_s": round(watch.cpu_s, 2),
        "samples_per_cpu_s": round(total / watch.cpu_s, 1) if watch.cpu_s else None,
        "load_avg_1m": round(load, 2), "cpus": os.cpu_count(),
        "feature_emit_every_s": rt.feature_emit_every_s,
        "p50_lag_s": round(statistics.median(lags), 3) if lags else None,
        "p99_lag_s": round(_percentile(lags, 0.99), 3) if lags else None,
        "target_samples_per_s": 20_000,
        "broker": args.broker if engines else f"configured ({settings.kafka_bootstrap})",
    }
    path = write_results(f"stream_throughput_{engines[0]}" if engines else "stream_throughput",
                         figures)
    print(f"stream_throughput: {rate:,.0f} samples/s through the feature agents "
          f"({rate / raw_rate:.2f}x a bare consumer at {raw_rate:,.0f}/s), p99 lag "
          f"{figures['p99_lag_s']} s, {watch.features} features out, "
          f"{figures['samples_per_cpu_s']} samples per CPU-second, load {load:.1f}; "
          f"{total} samples in {messages} messages ({args.batch} per message, "
          f"{messages / pipeline_s:,.0f} messages/s), {vms} VMs x {args.metrics} metrics "
          f"-> {Path(path).name}")


if __name__ == "__main__":
    main()
