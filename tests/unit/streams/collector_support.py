"""Shared by the collector tests: read what the collector published on the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from novacron.events import DecodedMetrics, HealthEvent, MetricBatch, decode, decode_metrics
from novacron.settings import Settings


class TopicReader:
    """Reads a topic from its end at ``start()``: only what is published afterwards."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                         enable_auto_commit=False)
        self.records: list[tuple[bytes | None, bytes | None]] = []

    async def start(self) -> None:
        await self.consumer.start()
        parts = self.consumer.partitions_for_topic(self.topic)
        for _ in range(50):
            if parts:
                break
            await asyncio.sleep(0.1)
            await self.consumer._client.force_metadata_update()
            parts = self.consumer.partitions_for_topic(self.topic)
        assert parts, f"topic {self.topic} does not exist on the broker"
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)

    async def stop(self) -> None:
        await self.consumer.stop()

    async def read_until(self, done: Callable[[list[tuple[bytes | None, bytes | None]]], bool],
                         timeout_s: float) -> list[tuple[bytes | None, bytes | None]]:
        end = time.monotonic() + timeout_s
        while not done(self.records) and time.monotonic() < end:
            for recs in (await self.consumer.getmany(timeout_ms=200)).values():
                self.records.extend((r.key, r.value) for r in recs)
        return self.records


def batches_of(records: list[tuple[bytes | None, bytes | None]], host_id: str,
               ) -> list[tuple[MetricBatch, DecodedMetrics]]:
    """The host's messages, each as the envelope and as the stream's decoder reads it."""
    out = []
    for key, value in records:
        if key == host_id.encode():
            assert value is not None
            out.append((MetricBatch.model_validate_json(value), decode_metrics(value)))
    return out


def health_of(records: list[tuple[bytes | None, bytes | None]], host_id: str) -> list[HealthEvent]:
    return [decode(HealthEvent, v) for k, v in records if k == host_id.encode()]


class SilentDaemon:
    """A unix socket that accepts connections and never answers: a wedged libvirtd."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(8)
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(conn)

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={self.path}"

    def close(self) -> None:
        # Shut down first: close() alone does not wake the thread blocked in accept().
        for s in (self.server, *self.accepted):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
