"""One read of a host's counters: what libvirt's test driver gives (and what it does not), and
a refusing host's error (a hung host's deadline: tests/unit/streams/test_collector.py)."""

from __future__ import annotations

import time
import uuid

import pytest
from novacron.actuators.connection import ActuatorError, HostConnection
from novacron.actuators.deadline import ActuatorTimeout
from novacron.actuators.domain_stats import read_host


def test_the_test_driver_gives_state_only_and_the_read_says_what_is_missing() -> None:
    host = HostConnection(f"t-{uuid.uuid4().hex[:6]}", "test:///default")
    try:
        snap = read_host(host, 5.0)
    finally:
        host.close()
    assert snap.host_id == host.host_id and snap.read_s < 5.0
    d = snap.domains["test"]  # the test driver's built-in running domain
    assert d.state == "running" and d.run_id >= 1 and d.cpu_time_ns is None
    assert snap.node.cpus == 16 and snap.node.memory_mib is not None
    assert snap.node.cpu_ns  # the test driver answers getCPUStats
    assert snap.node.memory_kib == {}
    assert "cpu.time (no cpu samples)" in snap.missing
    assert any(m.startswith("getMemoryStats") for m in snap.missing)
    assert abs(time.time() - snap.at.timestamp()) < 5 and snap.at.tzinfo is not None


def test_a_host_that_refuses_fails_at_once_naming_the_host() -> None:
    host = HostConnection("gone-01", "qemu+unix:///system?socket=/nonexistent/libvirt-sock")
    t0 = time.monotonic()
    with pytest.raises(ActuatorError, match="gone-01") as info:
        read_host(host, 5.0)
    assert not isinstance(info.value, ActuatorTimeout)
    assert time.monotonic() - t0 < 5.0
