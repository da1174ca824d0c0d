"""The running worker heals a host crash on real hosts: three system-mode libvirt daemons with
real QEMU guests, the worker's runtime holding their power switch. A host's daemon and guests
are killed: the heal agent sees the loss, fences the host by power after its host timeout,
and its guests run on the other hosts, once each; when the host comes back, the copies it
still lists are undefined there. Runs in a child process (heal_real_hosts_child.py): the
Faust app is a process-wide singleton and this worker's fleet is its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CHILD = Path(__file__).with_name("heal_real_hosts_child.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.geteuid() != 0, reason="system-mode libvirt daemons need root")
def test_a_crashed_host_fails_over_under_the_running_worker_and_returns_clean() -> None:
    env = {**os.environ, "NOVACRON_CONSUMER_GROUP": f"heal-real-{uuid.uuid4().hex[:8]}",
           "NOVACRON_CONSUMER_OFFSET_RESET": "latest"}
    proc = subprocess.run([sys.executable, str(CHILD)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]
    last = proc.stdout.strip().splitlines()[-1]
    seen = json.loads(last[last.index("{"):])
    victim, vms = seen["victim"], seen["vms"]

    # Fenced by power, with the host-level proof, before anything was restarted.
    fences = [f for f in seen["fences"] if f["host"] == victim]
    assert fences and fences[-1]["fenced"] and fences[-1]["method"] == "power-off", seen["fences"]
    assert "no process left" in fences[-1]["detail"]
    assert seen["lost_seen"] == [victim]  # the close callback, not only missed heartbeats
    # Every guest of the crashed host runs elsewhere, once; the bystander was not touched.
    for v in vms:
        placed = seen["placed"][v]
        assert len(placed["running_on"]) == 1 and placed["running_on"] != [victim], placed
        assert placed["copies"][victim] == "unreachable"
    bystander = next(v for v in seen["placed"] if v not in vms)
    assert seen["placed"][bystander]["running_on"] == [seen["bystander_host"]]
    assert seen["recovery_s"] <= 30, seen["recovery_s"]
    # Back: the stale copies are gone from the returned host, each VM still runs once.
    for v in vms:
        after = seen["after_return"][v]
        assert victim not in after["copies"] and len(after["running_on"]) == 1, after
    kinds = seen["fleet_events"]
    assert ["host-lost", None] in kinds and ["host-back", None] in kinds
    assert sorted(vm for kind, vm in kinds if kind == "stale-copy-undefined") == sorted(vms)
    print(f"\nhost_failure_recovery_s {seen['recovery_s']:.2f} (host timeout 6 s), stale copies "
          f"cleared {seen['stale_cleared_after_s']:.2f} s after the restart")
