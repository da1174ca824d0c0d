"""One phase of a broker-restart scenario, in a process of its own: the Faust app is a
process-wide singleton bound to its settings at import, so a worker pointed at the test's own
broker needs its own process. Settings come from the environment the test sets; the phase's
observations go to stdout as one JSON line, and the test asserts on them.

Phases, each with its own event minutes of one VM's CPU: ``first`` (minutes 0-12, then the
worker stops), ``live`` (13-16, the broker restarted under the running worker, 17-20) and
``second`` (21-24, a new worker after the test restarted the broker).
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import logging
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from novacron.actuators import simfleet
from novacron.streams.worker import BackgroundWorker, build_runtime

from novacron import topics
from novacron.events import Decision, FeatureVector, MetricName, MetricSample, decode
from novacron.kafka_admin import ensure_topics
from novacron.services import start_all, stop_all
from novacron.settings import get_settings

VM, HOST = "vm-000-00", "host-000"
# Recent event time (the feature agent rejects samples far from the wall clock), the same in
# every phase of a test: it sets FAULTS_T0.
T0 = datetime.fromisoformat(os.environ["FAULTS_T0"])


async def send(bootstrap: str, minutes: range, value: float, backfill_below: int,
               pause_s: float = 0.0) -> None:
    """One sample a minute; ``pause_s`` apart, each lands in a batch (a table write) of its own."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in minutes:
            s = MetricSample(occurred_at=T0 + timedelta(minutes=i), vm_id=VM, host_id=HOST,
                             metric=MetricName.CPU, value=value, allocated=2,
                             backfill=i < backfill_below)
            await producer.send_and_wait(topics.METRICS_RAW.name, s.to_bytes(), key=VM.encode())
            await asyncio.sleep(pause_s)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str, done: Any, timeout_s: float) -> list[bytes]:
    """Every message of ``topic`` from its start until ``done(seen)`` or the timeout."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    seen: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not done(seen):
            batch = await consumer.getmany(timeout_ms=300)
            seen.extend(r.value for recs in batch.values() for r in recs if r.value is not None)
    finally:
        await consumer.stop()
    return seen


def features(raw: list[bytes]) -> list[tuple[int, int]]:
    """(minute, history length) of the VM's CPU features."""
    out = []
    for r in raw:
        fv = decode(FeatureVector, r)
        if fv.vm_id == VM and fv.metric is MetricName.CPU:
            out.append((int((fv.occurred_at - T0).total_seconds() // 60), len(fv.history)))
    return out


def decisions(raw: list[bytes]) -> list[int]:
    """Minutes of the VM's decisions."""
    out = []
    for r in raw:
        d = decode(Decision, r)
        if d.target_id == VM:
            out.append(int((d.occurred_at - T0).total_seconds() // 60))
    return out


def has_minute(at_least: int) -> Any:
    return lambda seen: any(m >= at_least for m, _ in features(seen))


class _Count(logging.Handler):
    """The warnings of streams.broker_watch: each says what the broker lost."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def main() -> None:
    phase = sys.argv[1]
    resets = _Count()
    logging.getLogger("novacron.streams.broker_watch").addHandler(resets)
    settings = get_settings()
    b = settings.kafka_bootstrap
    start_all(settings, ["broker"])
    asyncio.run(ensure_topics(settings))
    fleet = simfleet.build(Path(settings.state_dir) / f"fleet-{phase}", hosts=1, vms_per_host=2)
    build_runtime(settings, fleet)
    worker = BackgroundWorker()
    out: dict[str, Any] = {"phase": phase}
    try:
        worker.start()
        if phase == "first":
            # 13 changelog entries: the next worker restores up to offset 12
            asyncio.run(send(b, range(13), 97.0, backfill_below=12, pause_s=0.7))
            out["before"] = features(asyncio.run(
                read_all(b, topics.FEATURES.name, has_minute(12), 60)))
            time.sleep(3.0)  # offsets are committed every second (streams.app)
        if phase == "live":
            asyncio.run(send(b, range(13, 17), 97.0, backfill_below=0))
            out["before"] = features(asyncio.run(
                read_all(b, topics.FEATURES.name, has_minute(16), 60)))
            t = time.monotonic()
            stop_all(settings, ["broker"])
            start_all(settings, ["broker"])
            out["broker_restart_s"] = round(time.monotonic() - t, 2)
        if phase in ("live", "second"):
            minutes = range(17, 21) if phase == "live" else range(21, 25)
            t = time.monotonic()
            asyncio.run(send(b, minutes, 97.0, backfill_below=0))
            raw = asyncio.run(read_all(b, topics.FEATURES.name, has_minute(minutes[-1]), 120))
            out["after"] = features(raw)
            out["last_feature_s"] = round(time.monotonic() - t, 2)  # from the first send
            out["decisions"] = decisions(asyncio.run(read_all(
                b, topics.DECISIONS.name, lambda seen: any(m >= minutes[0] for m in decisions(seen)),
                60)))
        if phase == "live":  # the worker checks every few seconds (streams.broker_watch)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any("changelog" in x for x in resets.lines):
                time.sleep(0.2)
        out["resets_logged"] = resets.lines
        out["failure"] = worker.failure()
        out["ready"] = worker.ready()
    finally:
        stopped = worker.stop()
        fleet.close()
    out["stopped"] = stopped
    print(json.dumps(out), flush=True)
    if not stopped:  # Faust's consumer thread is no daemon: it would keep the process alive
        with (Path(settings.state_dir) / f"stacks-{phase}.txt").open("w") as f:
            faulthandler.dump_traceback(f, all_threads=True)
        os._exit(0)


if __name__ == "__main__":
    main()
