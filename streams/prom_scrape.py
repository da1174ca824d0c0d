"""Prometheus input: scrape a host's prometheus-libvirt-exporter and node_exporter and read
them as the same host snapshot a libvirt read gives, so the same rate core
(``streams.collect_rates``) turns them into the same samples.

Scraping (pull) rather than a remote-write receiver: these exporters are pull endpoints
already running on the hosts, a scrape needs no Prometheus server in between, and a failed
scrape is noticed by the collector at once, as a silent libvirt host is.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from novacron.actuators.domain_stats import DomainStats, HostSnapshot, NodeStats
from prometheus_client.parser import text_string_to_metric_families

# prometheus-libvirt-exporter (inovex / kumina lineage): metric -> DomainStats field, scale.
_DOMAIN_GAUGES = {
    "libvirt_domain_info_cpu_time_seconds_total": ("cpu_time_ns", 1e9),
    "libvirt_domain_info_virtual_cpus": ("vcpus", 1.0),
    "libvirt_domain_info_memory_usage_bytes": ("balloon_current_kib", 1 / 1024),
    "libvirt_domain_info_maximum_memory_bytes": ("balloon_maximum_kib", 1 / 1024),
    "libvirt_domain_memory_stats_rss_bytes": ("rss_kib", 1 / 1024),
    "libvirt_domain_memory_stats_available_bytes": ("available_kib", 1 / 1024),
    "libvirt_domain_memory_stats_unused_bytes": ("unused_kib", 1 / 1024),
    "libvirt_domain_memory_stats_usable_bytes": ("usable_kib", 1 / 1024),
}
# Per device; summed over the domain's disks / NICs.
_DOMAIN_DEVICES = {
    "libvirt_domain_block_stats_read_bytes_total": "block_rd_bytes",
    "libvirt_domain_block_stats_write_bytes_total": "block_wr_bytes",
    "libvirt_domain_block_stats_read_requests_total": "block_rd_reqs",
    "libvirt_domain_block_stats_write_requests_total": "block_wr_reqs",
    "libvirt_domain_interface_stats_receive_bytes_total": "net_rx_bytes",
    "libvirt_domain_interface_stats_transmit_bytes_total": "net_tx_bytes",
}
_STATE = "libvirt_domain_info_state"
# virDomainState codes, as the exporter publishes them.
_STATES = {0: "unknown", 1: "running", 2: "blocked", 3: "paused", 4: "shutting-down",
           5: "shutoff", 6: "crashed", 7: "suspended"}
# node_exporter's /proc/meminfo gauges -> the keys of NodeStats.memory_kib.
_NODE_MEMORY = {"node_memory_MemTotal_bytes": "total", "node_memory_MemAvailable_bytes": "available",
                "node_memory_MemFree_bytes": "free", "node_memory_Buffers_bytes": "buffers",
                "node_memory_Cached_bytes": "cached"}
ACCEPT = "text/plain;version=0.0.4"


class PromScrapeError(RuntimeError):
    """A target did not answer with Prometheus text; the message names the host and URL."""


@dataclass(frozen=True, slots=True)
class PromTarget:
    """One host's exporters (e.g. its libvirt exporter on :9177 and node_exporter on :9100)."""

    host_id: str
    urls: tuple[str, ...]


def parse_target(spec: str) -> tuple[str, str]:
    """``[HOST_ID=]URL`` -> (host id, URL); the host id defaults to the URL's host name, so
    two exporters of one machine land on the same host."""
    host_id, sep, url = spec.partition("=")
    if not sep or "://" in host_id:
        host_id, url = "", spec
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{spec!r}: expected [HOST_ID=]http(s)://HOST:PORT/metrics")
    return host_id or parts.hostname, url


def group_targets(specs: list[str]) -> list[PromTarget]:
    urls: dict[str, list[str]] = defaultdict(list)
    for spec in specs:
        host_id, url = parse_target(spec)
        urls[host_id].append(url)
    return [PromTarget(h, tuple(u)) for h, u in urls.items()]


@dataclass
class _Domain:
    values: dict[str, float] = field(default_factory=dict)
    state: str | None = None


def parse_exposition(texts: list[str], host_id: str, mono_s: float, at: datetime) -> HostSnapshot:
    """Exposition texts of one host (pure). Raises ValueError on text that is not the
    Prometheus format."""
    domains: dict[str, _Domain] = defaultdict(_Domain)
    cpu_s: dict[str, float] = defaultdict(float)
    cpus: set[str] = set()
    memory: dict[str, int] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                name, labels, value = s.name, s.labels, float(s.value)
                if name.startswith("libvirt_domain_") and "domain" in labels:
                    d = domains[labels["domain"]]
                    if name in _DOMAIN_GAUGES:
                        attr, scale = _DOMAIN_GAUGES[name]
                        d.values[attr] = value * scale
                    elif name in _DOMAIN_DEVICES:
                        attr = _DOMAIN_DEVICES[name]
                        d.values[attr] = d.values.get(attr, 0.0) + value
                    elif name == _STATE:
                        d.state = _STATES.get(int(value), f"state-{int(value)}")
                elif name == "node_cpu_seconds_total" and "mode" in labels:
                    cpu_s[labels["mode"]] += value
                    cpus.add(labels.get("cpu", ""))
                elif name in _NODE_MEMORY:
                    memory[_NODE_MEMORY[name]] = int(value // 1024)
    out: dict[str, DomainStats] = {}
    for dom_name, d in domains.items():
        if not d.values and d.state is None:
            continue  # only info labels (libvirt_domain_info, openstack metadata)
        ints = {k: round(v) for k, v in d.values.items()}
        # An exporter without a state metric lists what it can read: running domains.
        state = d.state or ("running" if "cpu_time_ns" in ints else "unknown")
        # The exporters give no domain id: a restart shows only as counters going back.
        out[dom_name] = DomainStats(name=dom_name, state=state, **ints)  # type: ignore[arg-type]
    missing = []
    if not out:
        missing.append("libvirt exporter metrics libvirt_domain_* (no VM samples)")
    if not cpu_s:
        missing.append("node_exporter's node_cpu_seconds_total (no host cpu sample)")
    if "total" not in memory:
        missing.append("node_exporter's node_memory_MemTotal_bytes (no host memory sample)")
    total_kib = memory.get("total")
    node = NodeStats(cpus=len(cpus) or None, memory_mib=total_kib // 1024 if total_kib else None,
                     cpu_ns={m: round(v * 1e9) for m, v in cpu_s.items()}, memory_kib=memory)
    return HostSnapshot(host_id=host_id, mono_s=mono_s, at=at, domains=out, node=node,
                        missing=tuple(missing))


def scrape(target: PromTarget, deadline_s: float, client: httpx.Client) -> HostSnapshot:
    """GET every URL of the target within ``deadline_s`` in all, then parse them together.
    The snapshot's time is the middle of the scrape: exporters read libvirt on request."""
    t0, w0 = time.monotonic(), time.time()
    texts = []
    for url in target.urls:
        left = deadline_s - (time.monotonic() - t0)
        if left <= 0:
            raise PromScrapeError(f"host {target.host_id}: {url}: no time left of the "
                                  f"{deadline_s:.1f}s deadline")
        try:
            resp = client.get(url, timeout=left, headers={"Accept": ACCEPT})
        except httpx.HTTPError as exc:
            raise PromScrapeError(f"host {target.host_id}: {url}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code != 200:
            raise PromScrapeError(f"host {target.host_id}: {url} answered HTTP {resp.status_code}")
        texts.append(resp.text)
    t1, w1 = time.monotonic(), time.time()
    try:
        snap = parse_exposition(texts, target.host_id, (t0 + t1) / 2,
                                datetime.fromtimestamp((w0 + w1) / 2, UTC))
    except ValueError as exc:
        raise PromScrapeError(f"host {target.host_id}: {', '.join(target.urls)}: not Prometheus "
                              f"text exposition: {exc}") from exc
    return HostSnapshot(snap.host_id, snap.mono_s, snap.at, snap.domains, snap.node, snap.missing,
                        read_s=time.monotonic() - t0)
