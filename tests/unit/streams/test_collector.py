"""The collector against real hosts and the real broker: a real QEMU guest's cpu.time becomes a
cpu sample in its host's batch on novacron.metrics.raw, stamped with the read's time; a host
that refuses or hangs costs one health event and nothing else; a host that comes back is
announced once and served again."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from collector_support import SilentDaemon, TopicReader, batches_of, health_of
from novacron.actuators.connection import ActuatorError, Fleet, HostConnection
from novacron.actuators.deadline import ActuatorTimeout
from novacron.actuators.domain_stats import read_host
from novacron.actuators.guest_images import write_image
from novacron.actuators.qemu_session import SessionDaemon, guest_spec, remove_guests
from novacron.actuators.xml import domain_xml
from novacron.streams.collect_rates import HOST_SOURCE, host_vm_id
from novacron.streams.collector import run_collector

from novacron import topics
from novacron.events import HealthState, MetricName, utcnow
from novacron.kafka_admin import ensure_topics
from novacron.services import start_all
from novacron.settings import Settings

pytestmark = pytest.mark.slow
RUN = uuid.uuid4().hex[:6]
VM = f"nc-collect-{RUN}"


@pytest.fixture(scope="module")
def daemon(settings: Settings) -> Iterator[SessionDaemon]:
    start_all(settings, ["broker"])
    asyncio.run(ensure_topics(settings))
    with SessionDaemon() as d:
        fleet = d.fleet("setup")
        try:
            # 32 MiB, booting a sector that spins: one vCPU busy, so its rate is unmistakable.
            disk = write_image(Path(d.root) / "images" / "busy.img", "busy")
            spec = guest_spec(VM, "setup").model_copy(update={"disks": (disk,)})
            fleet.host("setup").get().defineXML(domain_xml(spec, "qemu")).create()
            yield d
        finally:
            remove_guests(fleet, "setup", [VM])
            fleet.close()


@pytest.fixture
def silent(tmp_path: Path) -> Iterator[SilentDaemon]:
    s = SilentDaemon(tmp_path / "silent-sock")
    yield s
    s.close()  # the blocked read then fails and its thread ends


async def test_a_real_guests_cpu_reaches_the_broker_and_bad_hosts_cost_one_event_each(
        settings: Settings, daemon: SessionDaemon, silent: SilentDaemon) -> None:
    good, refused, hung = f"good-{RUN}", f"refused-{RUN}", f"hung-{RUN}"
    fleet = Fleet([HostConnection(good, daemon.uri),
                   HostConnection(refused, "qemu+unix:///system?socket=/nonexistent/libvirt-sock"),
                   HostConnection(hung, silent.uri)])
    metrics, health = TopicReader(settings, topics.METRICS_RAW.name), TopicReader(settings, topics.HEALTH.name)
    await metrics.start()
    await health.start()
    try:
        before = utcnow()
        stats = await run_collector(settings, fleet, asyncio.Event(), interval_s=1.0, reads=4,
                                    host_samples=True)
        after = utcnow()
        raw = await metrics.read_until(lambda r: len(batches_of(r, good)) >= 4, 20)
        events = await health.read_until(lambda r: bool(health_of(r, refused) and health_of(r, hung)), 10)
    finally:
        await metrics.stop()
        await health.stop()
        # First the wedged daemon: closing its host waits for the open still blocked on it.
        silent.close()
        fleet.close()

    batches = batches_of(raw, good)
    assert len(batches) == 4  # one per interval, the hung host's reads notwithstanding
    times = [b.occurred_at for b, _ in batches]
    assert times == sorted(times) and before <= times[0] and times[-1] <= after
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(0.5 < g < 2.5 for g in gaps), gaps
    cpu = []
    for batch, decoded in batches:
        assert batch.host_id == good and decoded.bad == []
        # Event time = the read's time: every sample of a read carries it.
        assert {s.occurred_at for s in decoded.samples} == {batch.occurred_at}
        assert all(s.host_id == good for s in decoded.samples)
        cpu += [s for s in decoded.samples if s.vm_id == VM and s.metric == MetricName.CPU]
        host = {s.metric for s in decoded.samples if s.vm_id == host_vm_id(good)}
        assert MetricName.MEMORY in host  # a gauge: from the first read on
        assert all(s.source == HOST_SOURCE for s in decoded.samples if s.vm_id == host_vm_id(good))
    assert len(cpu) == 3  # rates from the second read on
    # A spinning vCPU, on a machine whose two cores are shared: well above idle.
    assert all(s.value > 20 and s.allocated == 1 for s in cpu), [s.value for s in cpu]
    disk = [s for _, d in batches for s in d.samples if s.vm_id == VM and s.metric == MetricName.DISK_IO]
    assert len(disk) == 3 and all(s.value >= 0 for s in disk)  # its boot disk, read once
    mem = [s for _, d in batches for s in d.samples if s.vm_id == VM and s.metric == MetricName.MEMORY]
    assert len(mem) == 4 and all(s.allocated == 32 for s in mem)
    assert any(s.metric == MetricName.CPU for _, d in batches[1:] for s in d.samples
               if s.vm_id == host_vm_id(good))

    [refused_event] = health_of(events, refused)
    assert refused_event.state == HealthState.FAILED and refused_event.subject_kind == "host"
    assert refused in refused_event.reason and "connect" in refused_event.reason.lower()
    [hung_event] = health_of(events, hung)
    assert hung_event.state == HealthState.UNKNOWN and "did not answer within" in hung_event.reason
    assert stats.hosts[good].reads == 4 and stats.hosts[good].failures == 0
    assert stats.hosts[refused].failures == 4 and stats.hosts[hung].failures == 4
    assert stats.reporting_share == 1.0
    assert stats.collector_cpu_ms_per_vm_sample is not None


async def test_a_host_that_comes_back_is_announced_once_and_served_again(
        settings: Settings, daemon: SessionDaemon, tmp_path: Path) -> None:
    flapping = f"flap-{RUN}"
    link = tmp_path / "libvirt-sock"  # nothing there yet: the host refuses
    fleet = Fleet([HostConnection(flapping, f"qemu+unix:///session?socket={link}")])
    real_socket = daemon.uri.split("socket=", 1)[1]
    health, metrics = TopicReader(settings, topics.HEALTH.name), TopicReader(settings, topics.METRICS_RAW.name)
    await health.start()
    await metrics.start()
    stop = asyncio.Event()
    try:
        run = asyncio.create_task(run_collector(settings, fleet, stop, interval_s=0.5))
        await health.read_until(lambda r: bool(health_of(r, flapping)), 15)
        os.symlink(real_socket, link)  # the daemon is back
        await health.read_until(lambda r: len(health_of(r, flapping)) >= 2, 15)
        raw = await metrics.read_until(
            lambda r: any(s.metric == MetricName.CPU and s.vm_id == VM
                          for _, d in batches_of(r, flapping) for s in d.samples), 15)
        await asyncio.sleep(1.0)  # more intervals: no further event while it stays up
        events = await health.read_until(lambda r: False, 0.5)
        stop.set()
        stats = await asyncio.wait_for(run, 15)
    finally:
        stop.set()
        await health.stop()
        await metrics.stop()
        fleet.close()
    states = [e.state for e in health_of(events, flapping)]
    assert states == [HealthState.FAILED, HealthState.HEALTHY]
    back = health_of(events, flapping)[1]
    assert "again" in back.reason and back.evidence["failed_reads"] >= 1
    assert batches_of(raw, flapping) and stats.hosts[flapping].state == HealthState.HEALTHY
    # Host samples are on by default: the host's own cpu comes with its VMs' once it is back.
    sent = [d for _, d in batches_of(raw, flapping)]
    assert any(s.vm_id == host_vm_id(flapping) for d in sent for s in d.samples)
    assert back.occurred_at - health_of(events, flapping)[0].occurred_at < timedelta(seconds=30)


def test_a_hung_host_costs_its_caller_the_deadline_only(silent: SilentDaemon) -> None:
    host = HostConnection(f"hung-{uuid.uuid4().hex[:6]}", silent.uri)
    t0 = time.monotonic()
    with pytest.raises(ActuatorTimeout, match=f"{host.host_id}.*connecting.*within 0.5s"):
        read_host(host, 0.5)
    assert time.monotonic() - t0 < 1.5
    # Its read is still blocked in libvirt: no second thread piles up behind it.
    t1 = time.monotonic()
    with pytest.raises(ActuatorTimeout, match="still blocked in connecting"):
        read_host(host, 0.5)
    assert time.monotonic() - t1 < 0.2
    silent.close()  # the daemon goes away: the blocked call returns with an error ...
    deadline = time.monotonic() + 10
    while True:  # ... and the host is asked again (and fails on its own merits)
        try:
            read_host(host, 2.0)
        except ActuatorTimeout as exc:
            assert "still blocked" in str(exc)
            assert time.monotonic() < deadline, "the blocked read never returned"
            time.sleep(0.05)
            continue
        except ActuatorError as exc:
            assert host.host_id in str(exc)
            break
