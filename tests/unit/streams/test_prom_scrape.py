"""The Prometheus input: a host's libvirt exporter and node_exporter, scraped over real HTTP,
give the same samples a libvirt read gives, on the real broker."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import pytest
from collector_support import TopicReader, batches_of, health_of
from novacron.actuators.connection import Fleet
from novacron.streams.collect_rates import host_rates, host_vm_id
from novacron.streams.collector import run_collector
from novacron.streams.prom_scrape import group_targets, parse_exposition, parse_target
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from novacron import topics
from novacron.events import HealthState, MetricName, utcnow
from novacron.kafka_admin import ensure_topics
from novacron.services import start_all
from novacron.settings import Settings

GiB = 1 << 30
T0 = datetime(2026, 4, 1, tzinfo=UTC)

# As prometheus-libvirt-exporter and node_exporter write it (HELP/TYPE, labels, exponents).
EXPOSITION = """\
# HELP libvirt_domain_info_cpu_time_seconds_total Amount of CPU time used by the domain, in seconds.
# TYPE libvirt_domain_info_cpu_time_seconds_total counter
libvirt_domain_info_cpu_time_seconds_total{domain="instance-00000a1b"} 5120.25
# HELP libvirt_domain_info_virtual_cpus Number of virtual CPUs for the domain.
# TYPE libvirt_domain_info_virtual_cpus gauge
libvirt_domain_info_virtual_cpus{domain="instance-00000a1b"} 4
# TYPE libvirt_domain_info_memory_usage_bytes gauge
libvirt_domain_info_memory_usage_bytes{domain="instance-00000a1b"} 8.589934592e+09
# TYPE libvirt_domain_info_state gauge
libvirt_domain_info_state{domain="instance-00000a1b",state_desc="the domain is running"} 1
libvirt_domain_info_state{domain="stopped-one",state_desc="the domain is shut off"} 5
# TYPE libvirt_domain_memory_stats_available_bytes gauge
libvirt_domain_memory_stats_available_bytes{domain="instance-00000a1b"} 8e+09
# TYPE libvirt_domain_memory_stats_usable_bytes gauge
libvirt_domain_memory_stats_usable_bytes{domain="instance-00000a1b"} 2e+09
# TYPE libvirt_domain_block_stats_read_bytes_total counter
libvirt_domain_block_stats_read_bytes_total{domain="instance-00000a1b",source_file="",target_device="vda"} 1.5e+09
libvirt_domain_block_stats_read_bytes_total{domain="instance-00000a1b",source_file="",target_device="vdb"} 5e+08
# TYPE libvirt_domain_interface_stats_receive_bytes_total counter
libvirt_domain_interface_stats_receive_bytes_total{domain="instance-00000a1b",source_bridge="br0",target_device="tap1"} 1e+06
# TYPE libvirt_domain_openstack_info gauge
libvirt_domain_openstack_info{domain="instance-00000a1b",flavor_name="m1.large",instance_id="x"} 1
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 1000
node_cpu_seconds_total{cpu="0",mode="user"} 200
node_cpu_seconds_total{cpu="1",mode="idle"} 1100
node_cpu_seconds_total{cpu="1",mode="system"} 100
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 1.7179869184e+10
# TYPE node_memory_MemAvailable_bytes gauge
node_memory_MemAvailable_bytes 4.294967296e+09
"""


def test_exporter_text_reads_as_a_host_snapshot() -> None:
    snap = parse_exposition([EXPOSITION], "kvm-07", 10.0, T0)
    d = snap.domains["instance-00000a1b"]
    assert d.state == "running" and d.cpu_time_ns == 5_120_250_000_000 and d.vcpus == 4
    assert d.balloon_current_kib == 8 * 1024 * 1024 and d.block_rd_bytes == 2_000_000_000  # both disks
    assert d.net_rx_bytes == 1_000_000 and d.net_tx_bytes is None
    assert snap.domains["stopped-one"].state == "shutoff"
    assert snap.node.cpus == 2 and snap.node.cpu_ns == {"idle": 2100 * 10**9, "user": 200 * 10**9,
                                                         "system": 100 * 10**9}
    assert snap.node.memory_kib == {"total": 16 * 1024 * 1024, "available": 4 * 1024 * 1024}
    assert snap.missing == () and snap.at == T0
    [mem, host_mem] = host_rates(None, snap).samples
    assert (mem.vm_id, mem.value, mem.allocated) == ("instance-00000a1b", 75.0, 8192)
    assert (host_mem.vm_id, host_mem.value) == ("host:kvm-07", 75.0)


def test_what_an_exporter_does_not_give_is_named() -> None:
    snap = parse_exposition(["# TYPE up gauge\nup 1\n"], "h", 0.0, T0)
    assert snap.domains == {} and len(snap.missing) == 3
    with pytest.raises(ValueError):
        parse_exposition(['node_cpu_seconds_total{cpu="0" 1\n'], "h", 0.0, T0)


def test_targets_default_to_the_urls_host_and_group_per_host() -> None:
    assert parse_target("http://kvm-01:9177/metrics") == ("kvm-01", "http://kvm-01:9177/metrics")
    assert parse_target("rack1-07=http://10.0.0.7:9100/metrics") == ("rack1-07", "http://10.0.0.7:9100/metrics")
    [t] = group_targets(["http://kvm-01:9177/metrics", "http://kvm-01:9100/metrics"])
    assert t.host_id == "kvm-01" and len(t.urls) == 2
    with pytest.raises(ValueError, match="expected"):
        parse_target("kvm-01:9177")


class Exporter:
    """Counters that run with the clock, as a libvirt exporter's and node_exporter's do."""

    def __init__(self, families: str, domain: str) -> None:
        self.families, self.domain, self.t0 = families, domain, time.monotonic()

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        t = time.monotonic() - self.t0
        if self.families == "libvirt":
            cpu = CounterMetricFamily("libvirt_domain_info_cpu_time_seconds",
                                      "Amount of CPU time used by the domain", labels=["domain"])
            cpu.add_metric([self.domain], 300.0 + 1.0 * t)  # one of its two vCPUs' worth: 50 %
            yield cpu
            vcpus = GaugeMetricFamily("libvirt_domain_info_virtual_cpus", "vCPUs", labels=["domain"])
            vcpus.add_metric([self.domain], 2)
            yield vcpus
            mem = GaugeMetricFamily("libvirt_domain_info_memory_usage_bytes", "memory", labels=["domain"])
            mem.add_metric([self.domain], GiB)
            yield mem
            rss = GaugeMetricFamily("libvirt_domain_memory_stats_rss_bytes", "rss", labels=["domain"])
            rss.add_metric([self.domain], 0.25 * GiB)
            yield rss
        else:
            node = CounterMetricFamily("node_cpu_seconds", "Seconds the CPUs spent", labels=["cpu", "mode"])
            node.add_metric(["0", "idle"], 1000 + 0.75 * t)
            node.add_metric(["0", "user"], 100 + 0.25 * t)  # 25 % busy
            yield node
            total = GaugeMetricFamily("node_memory_MemTotal_bytes", "total")
            total.add_metric([], 8 * GiB)
            yield total
            avail = GaugeMetricFamily("node_memory_MemAvailable_bytes", "available")
            avail.add_metric([], 2 * GiB)
            yield avail


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def exporters() -> Iterator[tuple[str, list[str]]]:
    domain = f"instance-{uuid.uuid4().hex[:8]}"
    urls, servers = [], []
    for families in ("libvirt", "node"):
        registry = CollectorRegistry()
        registry.register(Exporter(families, domain))
        port = _free_port()
        server, thread = start_http_server(port, "127.0.0.1", registry)
        servers.append((server, thread))
        urls.append(f"http://127.0.0.1:{port}/metrics")
    yield domain, urls
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.slow
async def test_scraped_exporters_reach_the_broker_as_a_hosts_batch(
        settings: Settings, exporters: tuple[str, list[str]]) -> None:
    start_all(settings, ["broker"])
    await ensure_topics(settings)
    domain, urls = exporters
    run = uuid.uuid4().hex[:6]
    host, down = f"prom-{run}", f"prom-down-{run}"
    targets = group_targets([f"{host}={u}" for u in urls] + [f"{down}=http://127.0.0.1:{_free_port()}/metrics"])
    metrics, health = TopicReader(settings, topics.METRICS_RAW.name), TopicReader(settings, topics.HEALTH.name)
    await metrics.start()
    await health.start()
    try:
        before = utcnow()
        stats = await run_collector(settings, Fleet([]), asyncio.Event(), interval_s=0.5,
                                    prometheus=targets, reads=3, host_samples=True)
        after = utcnow()
        raw = await metrics.read_until(lambda r: len(batches_of(r, host)) >= 3, 20)
        events = await health.read_until(lambda r: bool(health_of(r, down)), 10)
    finally:
        await metrics.stop()
        await health.stop()
    batches = batches_of(raw, host)
    assert len(batches) == 3
    for batch, decoded in batches[1:]:
        assert before <= batch.occurred_at <= after
        got = {(s.vm_id, s.metric): s for s in decoded.samples}
        assert {s.occurred_at for s in decoded.samples} == {batch.occurred_at}
        cpu = got[(domain, MetricName.CPU)]
        assert cpu.value == pytest.approx(50.0, abs=6) and cpu.allocated == 2
        assert got[(domain, MetricName.MEMORY)].value == pytest.approx(25.0)  # rss of 1 GiB
        assert got[(domain, MetricName.MEMORY)].source == "collector-rss"
        assert got[(host_vm_id(host), MetricName.CPU)].value == pytest.approx(25.0, abs=6)
        assert got[(host_vm_id(host), MetricName.MEMORY)].value == pytest.approx(75.0)
        assert got[(host_vm_id(host), MetricName.MEMORY)].allocated == 8192
    [event] = health_of(events, down)
    assert event.state == HealthState.FAILED and down in event.reason and "ConnectError" in event.reason
    assert stats.hosts[host].reads == 3 and stats.hosts[down].failures == 3
