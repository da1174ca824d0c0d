"""Rates from two reads of a host (pure): counters become per-second rates and utilisation,
never negative, never without a previous read of the same run of the guest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from novacron.actuators.domain_stats import DomainStats, HostSnapshot, NodeStats, parse_domain_stats
from novacron.streams.collect_rates import (
    HOST_SOURCE,
    VM_RSS_SOURCE,
    host_rates,
    host_vm_id,
    is_host_sample,
    is_host_subject,
    memory_percent,
)

from novacron.events import MetricName, MetricSample

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
GiB_KIB = 1024 * 1024


def dom(name: str = "vm-a", *, run_id: int = 7, cpu_s: float = 100.0, vcpus: int = 2,
        state: str = "running", **kw: int | None) -> DomainStats:
    fields: dict[str, int | None] = {"balloon_current_kib": 4 * GiB_KIB, "rss_kib": GiB_KIB}
    fields.update(kw)
    return DomainStats(name=name, state=state, run_id=run_id, cpu_time_ns=round(cpu_s * 1e9),
                       vcpus=vcpus, **fields)  # type: ignore[arg-type]


def snap(at_s: float, *domains: DomainStats, node: NodeStats | None = None,
         host: str = "kvm-01") -> HostSnapshot:
    return HostSnapshot(host_id=host, mono_s=1000.0 + at_s, at=T0 + timedelta(seconds=at_s),
                        domains={d.name: d for d in domains}, node=node or NodeStats())


def by(samples: list[MetricSample], vm: str, metric: MetricName) -> MetricSample | None:
    found = [s for s in samples if s.vm_id == vm and s.metric == metric]
    assert len(found) <= 1
    return found[0] if found else None


def test_cpu_is_the_share_of_the_vcpus_over_the_interval_at_the_reads_time() -> None:
    # 10 s apart, 2 vCPUs, 5 s of CPU time: a quarter of what 2 vCPUs could do.
    r = host_rates(snap(0, dom(cpu_s=100)), snap(10, dom(cpu_s=105)))
    cpu = by(r.samples, "vm-a", MetricName.CPU)
    assert cpu is not None and cpu.value == pytest.approx(25.0) and cpu.allocated == 2
    assert cpu.occurred_at == T0 + timedelta(seconds=10) and cpu.host_id == "kvm-01"
    assert r.running == 1 and r.reporting == 1


def test_the_emulators_own_threads_never_lift_cpu_above_100() -> None:
    r = host_rates(snap(0, dom(cpu_s=0, vcpus=1)), snap(1, dom(cpu_s=1.2, vcpus=1)))
    assert by(r.samples, "vm-a", MetricName.CPU).value == 100.0  # type: ignore[union-attr]


def test_a_first_read_gives_gauges_but_no_rates() -> None:
    r = host_rates(None, snap(0, dom(block_rd_bytes=5, block_wr_bytes=5, net_rx_bytes=1, net_tx_bytes=1)))
    assert {s.metric for s in r.samples} == {MetricName.MEMORY}
    assert r.reporting == 0 and r.running == 1


def test_a_counter_that_went_back_gives_no_rate_not_a_negative_one() -> None:
    prev = dom(cpu_s=500, block_rd_bytes=10_000, block_wr_bytes=0, net_rx_bytes=9_000, net_tx_bytes=9_000)
    cur = dom(cpu_s=2, block_rd_bytes=100, block_wr_bytes=0, net_rx_bytes=50, net_tx_bytes=9_500)
    r = host_rates(snap(0, prev), snap(10, cur))
    metrics = {s.metric: s.value for s in r.samples}
    assert MetricName.CPU not in metrics and MetricName.DISK_IO not in metrics
    assert MetricName.NET_IN not in metrics
    assert metrics[MetricName.NET_OUT] == pytest.approx(50.0)  # this counter did not reset
    assert all(v >= 0 for v in metrics.values())


def test_a_restarted_guest_gives_no_rate_even_when_its_counter_grew() -> None:
    # Stopped and started between the reads (new libvirt domain id): its new cpu.time
    # happens to exceed the old one, but the two runs' counters are unrelated.
    r = host_rates(snap(0, dom(run_id=7, cpu_s=1)), snap(10, dom(run_id=8, cpu_s=9)))
    assert by(r.samples, "vm-a", MetricName.CPU) is None
    assert by(r.samples, "vm-a", MetricName.MEMORY) is not None


def test_new_and_vanished_domains() -> None:
    prev = snap(0, dom("old", cpu_s=1), dom("stays", cpu_s=1))
    cur = snap(10, dom("stays", cpu_s=2), dom("new", cpu_s=50))
    r = host_rates(prev, cur)
    assert {s.vm_id for s in r.samples if s.metric == MetricName.CPU} == {"stays"}
    assert "old" not in {s.vm_id for s in r.samples}  # gone: nothing invented for it
    assert r.running == 2 and r.reporting == 1


def test_only_running_domains_report() -> None:
    r = host_rates(snap(0, dom(state="paused", cpu_s=1)), snap(10, dom(state="paused", cpu_s=1)))
    assert r.samples == [] and r.running == 0


def test_disk_and_network_rates_in_bytes_per_second() -> None:
    prev = dom(block_rd_bytes=1_000, block_wr_bytes=1_000, net_rx_bytes=0, net_tx_bytes=100)
    cur = dom(block_rd_bytes=21_000, block_wr_bytes=11_000, net_rx_bytes=4_000, net_tx_bytes=100)
    r = host_rates(snap(0, prev), snap(4, cur))
    assert by(r.samples, "vm-a", MetricName.DISK_IO).value == pytest.approx(7_500.0)  # type: ignore[union-attr]
    assert by(r.samples, "vm-a", MetricName.NET_IN).value == pytest.approx(1_000.0)  # type: ignore[union-attr]
    assert by(r.samples, "vm-a", MetricName.NET_OUT).value == 0.0  # type: ignore[union-attr]


def test_memory_from_the_guests_balloon_figures() -> None:
    # The guest sees 3.8 GiB, 1.9 GiB of it usable (MemAvailable): 50 % used; 4 GiB allocated.
    d = dom(available_kib=3_800_000, usable_kib=1_900_000, unused_kib=500_000)
    r = host_rates(None, snap(0, d))
    mem = by(r.samples, "vm-a", MetricName.MEMORY)
    assert mem is not None and mem.value == pytest.approx(50.0) and mem.allocated == 4096
    assert mem.source == "collector"
    # Without usable (older guests), unused is what is free.
    assert memory_percent(dom(available_kib=1000, unused_kib=250)) == (75.0, "collector")


def test_memory_without_balloon_figures_is_the_qemu_rss_share_and_says_so() -> None:
    mem = by(host_rates(None, snap(0, dom(rss_kib=GiB_KIB))).samples, "vm-a", MetricName.MEMORY)
    assert mem is not None and mem.value == pytest.approx(25.0) and mem.source == VM_RSS_SOURCE
    # A tiny guest's QEMU overhead exceeds its memory: capped, not 121 %.
    assert memory_percent(dom(rss_kib=39_816, balloon_current_kib=32_768)) == (100.0, VM_RSS_SOURCE)
    assert memory_percent(dom(rss_kib=None)) is None


def test_host_samples_carry_the_host_under_a_prefixed_id() -> None:
    n0 = NodeStats(cpus=4, memory_mib=16_384, cpu_ns={"user": 100, "kernel": 100, "idle": 700, "iowait": 100},
                   memory_kib={"total": 16 * GiB_KIB, "free": 4 * GiB_KIB, "buffers": 0, "cached": 4 * GiB_KIB})
    n1 = NodeStats(cpus=4, memory_mib=16_384, cpu_ns={"user": 400, "kernel": 200, "idle": 1300, "iowait": 100},
                   memory_kib=n0.memory_kib)
    r = host_rates(snap(0, node=n0), snap(10, node=n1), vms=False)
    vm_id = host_vm_id("kvm-01")
    cpu, mem = by(r.samples, vm_id, MetricName.CPU), by(r.samples, vm_id, MetricName.MEMORY)
    assert cpu is not None and cpu.value == pytest.approx(40.0) and cpu.allocated == 4  # 400 of 1000 busy
    assert mem is not None and mem.value == pytest.approx(50.0) and mem.allocated == 16_384
    assert all(is_host_sample(s) and s.source == HOST_SOURCE and s.host_id == "kvm-01" for s in r.samples)
    assert vm_id == "host:kvm-01" and r.vm_samples == 0 and r.host_samples == 2
    assert is_host_subject(vm_id) and not is_host_subject("kvm-01")


def test_frozen_node_counters_give_no_host_cpu() -> None:
    # libvirt's test driver answers getCPUStats with the same figures every time.
    n = NodeStats(cpus=2, cpu_ns={"user": 5, "kernel": 5, "idle": 5, "iowait": 5})
    assert host_rates(snap(0, node=n), snap(10, node=n)).samples == []


def test_node_memory_from_node_exporters_available() -> None:
    n = NodeStats(memory_kib={"total": 1000, "available": 900, "free": 10})
    [mem] = host_rates(None, snap(0, node=n)).samples
    assert mem.value == pytest.approx(10.0)


def test_a_domain_name_that_cannot_be_a_vm_id_is_skipped_and_named() -> None:
    r = host_rates(snap(0, dom("bad name", cpu_s=1)), snap(10, dom("bad name", cpu_s=2)))
    assert r.samples == [] and r.unnamed == ["bad name"]


def test_reads_of_two_hosts_are_refused() -> None:
    with pytest.raises(ValueError, match="two hosts"):
        host_rates(snap(0, host="a"), snap(10, host="b"))


def test_libvirts_flat_stats_dict_is_read_and_devices_summed() -> None:
    d = parse_domain_stats("vm-x", 3, {
        "state.state": 1, "cpu.time": 260_000_000, "vcpu.current": 1, "vcpu.maximum": 2,
        "balloon.current": 32768, "balloon.maximum": 65536, "balloon.rss": 39816,
        "block.count": 2, "block.0.rd.bytes": 10, "block.1.rd.bytes": 5, "block.0.wr.bytes": 1,
        "block.1.wr.bytes": 2, "block.0.rd.reqs": 1, "block.1.rd.reqs": 1,
        "net.count": 0})
    assert (d.state, d.run_id, d.cpu_time_ns, d.vcpus, d.vcpus_max) == ("running", 3, 260_000_000, 1, 2)
    assert (d.block_rd_bytes, d.block_wr_bytes, d.block_rd_reqs, d.block_wr_reqs) == (15, 3, 2, None)
    assert d.net_rx_bytes is None and d.available_kib is None
    assert parse_domain_stats("t", 1, {"state.state": 1}).cpu_time_ns is None
