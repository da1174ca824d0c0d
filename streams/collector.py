"""The metrics collector: real hosts feed novacron.metrics.raw.

Every interval it reads every host at once (libvirt's getAllDomainStats, or a host's
Prometheus exporters), turns the read and the host's previous one into samples
(``streams.collect_rates``) and publishes one MetricBatch per host, keyed by host, stamped
with the read's time. A host that stops answering costs its own samples only: the others
are read in parallel threads with a deadline each, and the collector says so once on
novacron.health (and once more when the host answers again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from aiokafka import AIOKafkaProducer
from novacron.actuators.connection import ActuatorError, Fleet, HostConnection
from novacron.actuators.deadline import ActuatorTimeout
from novacron.actuators.domain_stats import HostSnapshot, read_host
from novacron.streams.collect_rates import host_rates
from novacron.streams.prom_scrape import PromScrapeError, PromTarget, scrape

from novacron import topics
from novacron.events import MAX_BATCH_SAMPLES, HealthEvent, HealthState, MetricBatch, utcnow
from novacron.kafka_admin import ensure_topics
from novacron.settings import Settings

log = logging.getLogger(__name__)

# Reads in flight at once: enough for a rack per interval, few enough not to swamp the
# collector's own process with threads on a large fleet.
MAX_PARALLEL_READS = 16
# Kept per host for the operator (the full count is in HostStats.failures).
_ERRORS_KEPT = 20


class Source(Protocol):
    @property
    def host_id(self) -> str: ...

    @property
    def where(self) -> str: ...  # the URI or URLs, for messages

    def read(self, deadline_s: float) -> HostSnapshot: ...


@dataclass
class LibvirtSource:
    host: HostConnection

    @property
    def host_id(self) -> str:
        return self.host.host_id

    @property
    def where(self) -> str:
        return self.host.uri

    def read(self, deadline_s: float) -> HostSnapshot:
        return read_host(self.host, deadline_s)


@dataclass
class PromSource:
    target: PromTarget
    client: httpx.Client

    @property
    def host_id(self) -> str:
        return self.target.host_id

    @property
    def where(self) -> str:
        return ", ".join(self.target.urls)

    def read(self, deadline_s: float) -> HostSnapshot:
        return scrape(self.target, deadline_s, self.client)


@dataclass
class HostStats:
    reads: int = 0
    failures: int = 0
    batches: int = 0
    vm_samples: int = 0
    host_samples: int = 0
    running: int = 0  # running VMs at the last read
    reporting: int = 0  # of those, with a cpu sample at the last read
    state: HealthState = HealthState.HEALTHY
    errors: list[str] = field(default_factory=list)


@dataclass
class CollectorStats:
    hosts: dict[str, HostStats] = field(default_factory=dict)
    intervals: int = 0
    # Process CPU time of the intervals (reads, rates, encoding, publishing).
    cpu_s: float = 0.0
    # Over reads that had a previous read of their host: running VMs, and those with a cpu sample.
    running_seen: int = 0
    reporting_seen: int = 0
    health_events: list[HealthEvent] = field(default_factory=list)
    publish_errors: list[str] = field(default_factory=list)

    @property
    def vm_samples(self) -> int:
        return sum(h.vm_samples for h in self.hosts.values())

    @property
    def host_samples(self) -> int:
        return sum(h.host_samples for h in self.hosts.values())

    @property
    def collector_cpu_ms_per_vm_sample(self) -> float | None:
        return self.cpu_s * 1000 / self.vm_samples if self.vm_samples else None

    @property
    def reporting_share(self) -> float | None:
        return self.reporting_seen / self.running_seen if self.running_seen else None


def read_deadline(interval_s: float) -> float:
    """A read may take most of an interval, never so long that a hung host stalls the next."""
    return max(1.0, min(0.8 * interval_s, 30.0))


class Collector:
    """The loop's state between intervals; :func:`run_collector` drives it."""

    def __init__(self, sources: Sequence[Source], producer: AIOKafkaProducer, *,
                 vm_samples: bool = True, host_samples: bool = True) -> None:
        self.sources = list(sources)
        self.producer = producer
        self.vm_samples = vm_samples
        self.host_samples = host_samples
        self.stats = CollectorStats(hosts={s.host_id: HostStats() for s in self.sources})
        self.previous: dict[str, HostSnapshot] = {}
        self._warned: set[tuple[str, str]] = set()
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL_READS, len(self.sources))),
                                        thread_name_prefix="collector-read")

    def close(self) -> None:
        # Reads return by their deadline (a blocked libvirt call stays in its own daemon
        # thread), so waiting for the pool is bounded.
        self._pool.shutdown(wait=True)

    async def interval(self, deadline_s: float) -> None:
        """Read every host once and publish what the reads give."""
        cpu0 = time.process_time()
        loop = asyncio.get_running_loop()
        reads = [loop.run_in_executor(self._pool, s.read, deadline_s) for s in self.sources]
        results = await asyncio.gather(*reads, return_exceptions=True)
        sends: list[asyncio.Future[object]] = []
        for source, result in zip(self.sources, results, strict=True):
            if isinstance(result, BaseException):
                await self._failed(source, result)
            else:
                await self._answered(source)
                sends.extend(await self._publish(source, result))
        for outcome in await asyncio.gather(*sends, return_exceptions=True):
            if isinstance(outcome, BaseException):
                self._publish_error(f"publishing to {topics.METRICS_RAW.name}: {outcome!r}")
        self.stats.intervals += 1
        self.stats.cpu_s += time.process_time() - cpu0

    async def _publish(self, source: Source, snap: HostSnapshot) -> list[asyncio.Future[object]]:
        hs = self.stats.hosts[source.host_id]
        hs.reads += 1
        for item in snap.missing:
            self._warn_once(source.host_id, item, f"host {source.host_id} gives no {item}")
        prev = self.previous.get(source.host_id)
        self.previous[source.host_id] = snap
        rates = host_rates(prev, snap, vms=self.vm_samples, host=self.host_samples)
        for name in rates.unnamed:
            self._warn_once(source.host_id, f"name:{name}",
                            f"host {source.host_id}: domain {name!r} is not a valid VM id "
                            "(letters, digits, _ . : - only); its samples are not published")
        hs.vm_samples += rates.vm_samples
        hs.host_samples += rates.host_samples
        hs.running, hs.reporting = rates.running, rates.reporting
        if prev is not None:
            self.stats.running_seen += rates.running
            self.stats.reporting_seen += rates.reporting
        futures = []
        for i in range(0, len(rates.samples), MAX_BATCH_SAMPLES):
            batch = MetricBatch(occurred_at=snap.at, host_id=source.host_id, source="collector",
                                samples=rates.samples[i:i + MAX_BATCH_SAMPLES])
            try:
                futures.append(await self.producer.send(
                    topics.METRICS_RAW.name, batch.to_bytes(), key=batch.key.encode()))
            except Exception as exc:  # the broker refused it at once; the next interval retries
                self._publish_error(f"host {source.host_id}: publishing a batch: {exc!r}")
                continue
            hs.batches += 1
        return futures

    async def _failed(self, source: Source, exc: BaseException) -> None:
        hs = self.stats.hosts[source.host_id]
        hs.failures += 1
        hs.errors = [*hs.errors, str(exc)][-_ERRORS_KEPT:]
        # Rates across a gap would average over it: start again from the next good read.
        self.previous.pop(source.host_id, None)
        state = HealthState.UNKNOWN if isinstance(exc, ActuatorTimeout) else HealthState.FAILED
        if not isinstance(exc, ActuatorError | PromScrapeError):
            log.exception("host %s: reading statistics failed unexpectedly", source.host_id,
                          exc_info=exc)
        if hs.state is not HealthState.HEALTHY:
            return  # one event per transition
        hs.state = state
        why = "does not answer in time" if state is HealthState.UNKNOWN else "cannot be read"
        log.warning("host %s %s: %s", source.host_id, why, exc)
        await self._health(HealthEvent(
            occurred_at=utcnow(), subject_kind="host", subject_id=source.host_id, state=state,
            reason=f"host {source.host_id} {why} for the metrics collector: {exc}",
            evidence={"observer": "collector", "where": source.where, "error": str(exc),
                      "error_type": type(exc).__name__}))

    async def _answered(self, source: Source) -> None:
        hs = self.stats.hosts[source.host_id]
        if hs.state is HealthState.HEALTHY:
            return
        failed_reads = hs.failures
        hs.state = HealthState.HEALTHY
        log.warning("host %s answers the metrics collector again", source.host_id)
        await self._health(HealthEvent(
            occurred_at=utcnow(), subject_kind="host", subject_id=source.host_id,
            state=HealthState.HEALTHY,
            reason=f"host {source.host_id} answers the metrics collector again",
            evidence={"observer": "collector", "where": source.where,
                      "failed_reads": failed_reads}))

    async def _health(self, event: HealthEvent) -> None:
        try:
            await self.producer.send_and_wait(topics.HEALTH.name, event.to_bytes(),
                                              key=event.key.encode())
        except Exception as exc:
            self._publish_error(f"publishing a health event for {event.subject_id}: {exc!r}")
            return
        self.stats.health_events.append(event)

    def _publish_error(self, message: str) -> None:
        log.warning("%s", message)
        self.stats.publish_errors = [*self.stats.publish_errors, message][-_ERRORS_KEPT:]

    def _warn_once(self, host_id: str, key: str, message: str) -> None:
        if (host_id, key) not in self._warned:
            self._warned.add((host_id, key))
            log.warning("%s", message)


async def run_collector(settings: Settings, fleet: Fleet, stop: asyncio.Event,
                        interval_s: float = 10.0, vm_samples: bool = True, *,
                        host_samples: bool = True,
                        prometheus: Sequence[PromTarget] = (),
                        reads: int | None = None) -> CollectorStats:
    """Read every host of ``fleet`` (and every Prometheus target) each ``interval_s`` and
    publish their samples until ``stop`` is set, or after ``reads`` reads per host. Rates
    need two reads, so the first read of a host gives gauges (memory) only.

    ``host_samples`` adds each host's own cpu and memory (``collect_rates.is_host_sample``),
    as ``vm_id`` ``host:<host id>``: the feature agent keeps their windows and features (the
    TSDB and the dashboards read them), while the decision agent never resizes them and the
    healer never watches them as VMs."""
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    if not vm_samples and not host_samples:
        raise ValueError("nothing to publish: neither VM nor host samples")
    ids = [*fleet.hosts, *(t.host_id for t in prometheus)]
    if dup := sorted({h for h in ids if ids.count(h) > 1}):
        raise ValueError(f"host ids read twice (a libvirt host and a Prometheus target?): {dup}")
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
    await producer.start()
    client = httpx.Client(follow_redirects=True)
    sources: list[Source] = [LibvirtSource(h) for h in fleet.hosts.values()]
    sources += [PromSource(t, client) for t in prometheus]
    collector = Collector(sources, producer, vm_samples=vm_samples, host_samples=host_samples)
    deadline = read_deadline(interval_s)
    try:
        start = time.monotonic()
        while not stop.is_set():
            await collector.interval(deadline)
            if reads is not None and collector.stats.intervals >= reads:
                break
            # The next tick on the schedule; a slow interval skips ticks, never bunches reads.
            elapsed = time.monotonic() - start
            wait = interval_s - elapsed % interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
        await producer.flush()
    finally:
        await producer.stop()
        client.close()
        await asyncio.to_thread(collector.close)
    return collector.stats
