"""Measure, on real libvirt daemons and real QEMU guests on this machine, the durations the
simulated chaos model (bench.chaos) draws from: crash detection, host-loss detection, define,
start, in-place restart, fence (destroy), live and cold migration.

The hosts are actuators.local_hosts (system-mode libvirtd daemons, one per host, in private
mount namespaces); guests are tiny (64 MiB, diskless: SeaBIOS looking for a boot device).
Every operation goes through the project's own actuators (lifecycle, fencing, migrate) and
watchers (events.LifecycleWatcher, host_watch.HostWatcher), so a sample is what the runtime
would wait for. Samples are written with their source (command, machine, date, versions) to
bench/results/measured_durations.json, which bench.chaos reads.

Run: python -m bench.measure_durations [--quick] [--samples N] (as root)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import statistics
import sys
import time
import uuid
from collections import defaultdict
from typing import Any

import libvirt
from novacron.actuators import lifecycle
from novacron.actuators.connection import ActuatorError, Fleet
from novacron.actuators.deadline import Deadline
from novacron.actuators.events import LifecycleWatcher
from novacron.actuators.fencing import LibvirtDestroyFencer
from novacron.actuators.host_watch import HostLost, HostWatcher
from novacron.actuators.local_hosts import LocalHost, LocalHosts, tiny_guest
from novacron.actuators.migrate import cold_migrate, live_migrate
from novacron.actuators.placement_state import domain_type
from novacron.actuators.xml import domain_xml
from novacron.healing import FenceRequest, Lifecycle, LifecycleEvent

from bench._common import write_and_show
from novacron.events import utcnow

RUN = uuid.uuid4().hex[:6]
MEMORY_MIB = 64
STEP_TIMEOUT_S = 60.0

# What each kind is, for the results file and for bench.chaos's report of its inputs.
KINDS: dict[str, str] = {
    "crash_detect": "SIGKILL of a guest's QEMU process -> libvirt lifecycle event "
                    "(stopped/failed, read as crashed) delivered to LifecycleWatcher's sink",
    "host_loss_detect": "SIGKILL of a host's libvirtd and QEMU processes (LocalHost.crash) -> "
                        "the connection's close callback (HostWatcher.on_lost)",
    "define": "defineXML of a tiny guest on a host",
    "start": "lifecycle.start of a defined guest (create, then polled until RUNNING): a "
             "diskless guest's boot to a running state",
    "define_start": "define + start on one host: a restart elsewhere",
    "restart": "lifecycle.restart of a guest whose QEMU was killed (in place: start again)",
    "fence_vm": "LibvirtDestroyFencer.fence of a running guest: destroy and read it off",
    "destroy": "lifecycle.destroy of a running guest",
    "live_migrate": "actuators.migrate.live_migrate (peer to peer, persistent, undefine "
                    "source) of an idle 64 MiB guest, wall time of the call",
    "live_migrate_elapsed": "libvirt's completed-job time_elapsed of that migration",
    "live_migrate_downtime": "libvirt's completed-job downtime of that migration",
    "cold_migrate": "actuators.migrate.cold_migrate of a fenced (shut off) guest: define on "
                    "the target, start there, undefine on the source",
    "host_restart": "LocalHost.restart: the host's libvirtd back and answering after a crash",
}


class Samples:
    def __init__(self) -> None:
        self.values: dict[str, list[float]] = defaultdict(list)

    def add(self, kind: str, seconds: float) -> None:
        self.values[kind].append(seconds)

    def timed(self, kind: str) -> _Timer:
        return _Timer(self, kind)


class _Timer:
    def __init__(self, samples: Samples, kind: str) -> None:
        self.samples, self.kind = samples, kind

    def __enter__(self) -> _Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.samples.add(self.kind, time.perf_counter() - self.t0)


def _version(v: int) -> str:
    return f"{v // 1_000_000}.{v // 1000 % 1000}.{v % 1000}"


def _qemu_pid(host: LocalHost, name: str) -> int:
    """The guest's QEMU pid, from its host's libvirt pid file (/run/libvirt/qemu inside the
    host's namespace is this directory outside it)."""
    path = host.root / "run" / "qemu" / f"{name}.pid"
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise ActuatorError(f"{name}: no QEMU pid at {path}: {exc}") from exc


def _wait_event(events: queue.Queue[tuple[float, LifecycleEvent]], name: str,
                kind: Lifecycle, timeout_s: float = 10.0) -> float:
    """Arrival time (time.monotonic) of the next ``kind`` event of ``name``."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ActuatorError(f"{name}: no {kind.value} event within {timeout_s:.0f} s")
        arrived, ev = events.get(timeout=left)
        if ev.vm_id == name and ev.kind == kind:
            return arrived


def _drain(q: queue.Queue[Any]) -> None:
    with contextlib.suppress(queue.Empty):
        while True:
            q.get_nowait()


def _guest_cycle(i: int, hosts: LocalHosts, fleet: Fleet, samples: Samples,
                 events: queue.Queue[tuple[float, LifecycleEvent]]) -> None:
    """One guest through every operation: define and start on A, live-migrate to B, crash
    it there (its QEMU killed), restart it in place, fence it, cold-migrate it back to A,
    destroy it and remove it."""
    a, b = (hosts[0], hosts[1]) if i % 2 == 0 else (hosts[1], hosts[0])
    name = f"md-{RUN}-{i}"
    spec = tiny_guest(name, a.id, MEMORY_MIB)
    fleet.specs[name] = spec
    conn = fleet.host(a.id).get()
    try:
        t0 = time.perf_counter()
        with samples.timed("define"):
            dom = conn.defineXML(domain_xml(spec, domain_type(conn)))
        with samples.timed("start"):
            lifecycle.start(dom, Deadline(STEP_TIMEOUT_S))
        samples.add("define_start", time.perf_counter() - t0)

        t0 = time.perf_counter()
        moved = live_migrate(fleet, name, a.id, b.id, Deadline(STEP_TIMEOUT_S))
        samples.add("live_migrate", time.perf_counter() - t0)
        if "elapsed_ms" in moved.stats:
            samples.add("live_migrate_elapsed", moved.stats["elapsed_ms"] / 1000)
        if "downtime_ms" in moved.stats:
            samples.add("live_migrate_downtime", moved.stats["downtime_ms"] / 1000)

        dom_b = fleet.lookup(b.id, name)
        if dom_b is None or not lifecycle.is_running(dom_b):
            raise ActuatorError(f"{name}: not running on {b.id} after the live migration")
        _drain(events)
        pid = _qemu_pid(b, name)
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        samples.add("crash_detect", _wait_event(events, name, Lifecycle.CRASHED) - killed)

        with samples.timed("restart"):
            lifecycle.restart(dom_b, Deadline(STEP_TIMEOUT_S))

        fencer = LibvirtDestroyFencer(fleet)
        t0 = time.perf_counter()
        result = fencer.fence(FenceRequest("vm", name, b.id, "measure", utcnow()))
        if not result.fenced:
            raise ActuatorError(f"{name}: fence on {b.id} failed: {result.detail}")
        samples.add("fence_vm", time.perf_counter() - t0)

        with samples.timed("cold_migrate"):
            cold_migrate(fleet, name, b.id, a.id, Deadline(STEP_TIMEOUT_S))
        dom_a = fleet.lookup(a.id, name)
        if dom_a is None or not lifecycle.is_running(dom_a):
            raise ActuatorError(f"{name}: not running on {a.id} after the cold migration")
        with samples.timed("destroy"):
            lifecycle.destroy(dom_a, Deadline(STEP_TIMEOUT_S))
    finally:
        _remove(fleet, name)


def _remove(fleet: Fleet, name: str) -> None:
    for host_id in fleet.hosts:
        with contextlib.suppress(ActuatorError, libvirt.libvirtError):
            dom = fleet.lookup(host_id, name)
            if dom is not None:
                if dom.isActive():
                    dom.destroy()
                dom.undefine()


def _host_loss(i: int, hosts: LocalHosts, fleet: Fleet, samples: Samples,
               watcher: HostWatcher, lost: queue.Queue[HostLost]) -> None:
    """A host with a running guest crashes (its daemon and QEMU killed at once): the close
    callback's delay; then the host restarted, and the time until it answers again."""
    host = hosts[2]
    name = f"md-{RUN}-h{i}"
    conn = fleet.host(host.id).get()
    dom = conn.defineXML(domain_xml(tiny_guest(name, host.id, MEMORY_MIB), domain_type(conn)))
    lifecycle.start(dom, Deadline(STEP_TIMEOUT_S))
    _drain(lost)
    crashed = host.crash()
    seen = lost.get(timeout=10)
    if seen.host_id != host.id:
        raise ActuatorError(f"close callback for {seen.host_id}, expected {host.id}")
    samples.add("host_loss_detect", seen.at - crashed)
    with samples.timed("host_restart"):
        host.restart()
    if host.id not in watcher.poll():
        raise ActuatorError(f"{host.id}: back after a restart, but not re-armed")
    _remove(fleet, name)


def summarize(values: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in KINDS:
        xs = values.get(kind, [])
        if not xs:
            continue
        ys = sorted(xs)
        out[f"{kind}_n"] = len(xs)
        out[f"{kind}_median_s"] = round(statistics.median(ys), 6)
        out[f"{kind}_p95_s"] = round(ys[max(0, round(0.95 * len(ys)) - 1)], 6)
        out[f"{kind}_min_s"] = round(ys[0], 6)
        out[f"{kind}_max_s"] = round(ys[-1], 6)
    for kind in KINDS:
        if kind in values:
            out[f"{kind}_samples_s"] = [round(x, 6) for x in values[kind]]
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 samples per kind (under a minute)")
    ap.add_argument("--samples", type=int, default=None, help="samples per kind (default 20)")
    args = ap.parse_args(argv)
    n = args.samples or (3 if args.quick else 20)
    started = time.perf_counter()
    samples = Samples()
    events: queue.Queue[tuple[float, LifecycleEvent]] = queue.Queue()
    lost: queue.Queue[HostLost] = queue.Queue()
    with LocalHosts(3, prefix=f"md{RUN}", zone="zone-md") as hosts:
        fleet = hosts.fleet()
        conn = fleet.host(hosts[0].id).get()
        versions = {"libvirt_daemon": _version(conn.getLibVersion()),
                    "libvirt_python": _version(libvirt.getVersion()),
                    "qemu": _version(conn.getVersion())}
        watcher = LifecycleWatcher(fleet, lambda ev: events.put((time.monotonic(), ev)))
        host_watch = HostWatcher(fleet, on_lost=lost.put)
        watcher.start()
        host_watch.start()
        try:
            # One warm-up cycle, not recorded: a host's first guest start pays one-off costs.
            _guest_cycle(-1, hosts, fleet, Samples(), events)
            for i in range(n):
                _guest_cycle(i, hosts, fleet, samples, events)
                print(f"guest cycle {i + 1}/{n}: start {samples.values['start'][-1]:.3f} s, "
                      f"crash event {samples.values['crash_detect'][-1] * 1000:.1f} ms, live "
                      f"{samples.values['live_migrate'][-1]:.3f} s", file=sys.stderr)
            for i in range(n):
                _host_loss(i, hosts, fleet, samples, host_watch, lost)
        finally:
            watcher.stop()
            host_watch.stop()
            fleet.close()
    figures: dict[str, Any] = {
        "command": "python -m bench.measure_durations" + "".join(
            f" {a}" for a in (argv if argv is not None else sys.argv[1:])),
        "hosts": "3 actuators.local_hosts (system-mode libvirtd, private mount namespaces)",
        "guest": f"diskless {MEMORY_MIB} MiB, 1 vCPU (SeaBIOS, no OS), TCG",
        **versions,
        "samples_per_kind": n,
        "quick": args.quick,
        "boot_to_agent": "not measured: the guests have no OS (on this machine kind a 4 MB Linux "
                         "initramfs with qemu-ga answered guest-ping ~3.6 s after start at 128 "
                         "MiB under TCG; a production guest's boot is chaos's guest_os_boot "
                         "assumption)",
        "load_avg_1m": round(os.getloadavg()[0], 2),
        **{f"about_{k}": v for k, v in KINDS.items()},
        **summarize(samples.values),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    write_and_show("measured_durations", figures)
    print(f"measure_durations: {n} samples per kind on libvirt {versions['libvirt_daemon']} / "
          f"QEMU {versions['qemu']}: crash event median "
          f"{figures['crash_detect_median_s'] * 1000:.1f} ms, host loss "
          f"{figures['host_loss_detect_median_s'] * 1000:.1f} ms, define+start "
          f"{figures['define_start_median_s']:.3f} s, fence {figures['fence_vm_median_s']:.3f} s,"
          f" live migration {figures['live_migrate_median_s']:.2f} s (downtime "
          f"{figures.get('live_migrate_downtime_median_s', float('nan')) * 1000:.0f} ms), cold "
          f"{figures['cold_migrate_median_s']:.3f} s")


if __name__ == "__main__":
    main()
