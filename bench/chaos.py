"""Chaos on a simulated fleet: inject faults across the catalogue into a discrete-event model
of a libvirt fleet driven by the real (pure) Healer, and measure detection, recovery, safety.

This is the simulated-fleet variant: hosts, guests, heartbeats, lifecycle events, fencing and
actuator outcomes are modelled, not executed on libvirt (bench.chaos_libvirt injects faults
into libvirt test-driver domains, bench.chaos_qemu into real QEMU guests).
The model is adversarial where it matters for safety: a host that stops answering keeps its
VMs running until it is fenced, a host cut off from the controller keeps serving, and a plan
that overruns its budget is cancelled by the actuator (it has no late effect).

Durations come from bench.measure_durations' file where libvirt and QEMU can be measured on
this machine (resampled from the measured values), from stated assumptions where they cannot
(a production guest's OS boot, a BMC, people), and from the former constants when the file is
missing, which the output then says. Each duration is also run at x0.5 and x2 (sensitivity).

Run: python -m bench.chaos [--quick] [--seed N] [--constants] [--no-sensitivity]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from novacron.healing import (
    CONTROLLER,
    FenceRequest,
    FenceResult,
    GuestHeartbeat,
    Healer,
    HealingAction,
    Hold,
    HoldKind,
    HostHeartbeat,
    HostRegistered,
    Lifecycle,
    LifecycleEvent,
    MetricSeen,
    Observation,
    RecoveryOutcome,
    RecoveryPlan,
    ResourceUsage,
    Rung,
    StorageFault,
    VmRegistered,
)
from novacron.healing.ladder import BOOTS, MOVES, STARTS_ELSEWHERE

from bench._common import RESULTS, write_and_show

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MONTH_S = 30 * 86400.0
MEASURED = RESULTS / "measured_durations.json"

# Fault catalogue and relative weights.
CATALOGUE: dict[str, float] = {
    "vm_crash": 26,
    "vm_crash_restart_fails": 5,  # the in-place restart fails: escalation must move it
    "vm_hang": 10,
    "vm_pause": 5,
    "guest_service_down": 14,
    "host_down": 9,
    "host_down_fence_flaky": 2,  # the first fence attempt does not confirm
    "management_link_loss": 10,
    "resource_exhaustion": 8,
    "storage_error": 8,
    "crash_loop": 3,  # keeps crashing after every restart: must end with an operator
}

SUCCESS_P: dict[Rung, float] = {
    Rung.RESTART_SERVICE: 0.9, Rung.RESTART_VM: 0.97, Rung.LIVE_MIGRATE: 0.95,
    Rung.COLD_MIGRATE: 0.97, Rung.SCALE: 0.95, Rung.FAILOVER: 0.98,
    Rung.DISASTER_RECOVERY: 0.99,
}


@dataclass(frozen=True)
class Duration:
    """One duration the model draws: resampled from measured values (an empirical
    distribution, no fit) or uniform on an assumed range; ``factor`` scales either (the
    sensitivity runs)."""

    name: str
    about: str
    uniform: tuple[float, float] = (0.0, 0.0)
    samples: tuple[float, ...] = ()
    factor: float = 1.0

    def draw(self, rng: random.Random) -> float:
        if self.samples:
            return rng.choice(self.samples) * self.factor
        return rng.uniform(*self.uniform) * self.factor

    @property
    def measured(self) -> bool:
        return bool(self.samples)

    def describe(self) -> str:
        if self.samples:
            xs = sorted(self.samples)
            return (f"measured, resampled from {len(xs)} values (median "
                    f"{statistics.median(xs):.4g} s, {xs[0]:.4g}-{xs[-1]:.4g} s): {self.about}")
        lo, hi = self.uniform
        spread = f"{lo:g} s" if lo == hi else f"uniform {lo:g}-{hi:g} s"
        return f"assumed, {spread}: {self.about}"


# Durations of the libvirt/QEMU machinery: measured by bench.measure_durations (the file's
# kind in brackets); the range is the fallback when the file is missing, the model's former
# constants (0 where a former constant folded the part into another, as the guest boot).
MACHINERY: dict[str, tuple[str, tuple[float, float], str]] = {
    "crash_event": ("crash_detect", (0.05, 0.5),
                    "a guest's QEMU dies -> libvirt's lifecycle event reaches the healer (also "
                    "the delay of a pause's and a failed boot's events)"),
    "restart": ("restart", (0.0, 0.0),
                "libvirt's part of an in-place restart: start the stopped guest, polled to "
                "RUNNING (the guest's OS boot is guest_os_boot)"),
    "cold_migrate": ("cold_migrate", (0.5, 1.5),
                     "libvirt's part of a cold migration of a fenced guest: define on the "
                     "target, start there, undefine on the source (then guest_os_boot)"),
    "fence_vm": ("fence_vm", (0.0, 0.0),
                 "fencing one guest: libvirt destroy and a read that it is off; the recovery "
                 "that needs the fence waits for it"),
    "live_migrate": ("live_migrate", (8.0, 30.0),
                     "a live migration's call, an idle 64 MiB guest (a production guest's "
                     "memory copy is live_memory_copy)"),
}

# Durations nothing here can measure: a production guest's OS, its services, a BMC, people.
ASSUMED: dict[str, tuple[tuple[float, float], str]] = {
    "guest_os_boot": ((6.0, 15.0),
                      "a production guest's OS boot to serving, after libvirt started it"),
    "live_memory_copy": ((4.0, 16.0),
                         "copying a production guest's memory (4-16 GiB at ~1 GB/s) on top of "
                         "the measured migration of a 64 MiB guest (0 without measurements: the "
                         "live_migrate constant includes it)"),
    "graceful_stop": ((2.0, 20.0),
                      "a running guest's ACPI shutdown before a cold migration (the actuator "
                      "destroys it at 20 s)"),
    "fence_host": ((2.0, 10.0),
                   "a BMC's (IPMI/Redfish) power-off and a status read showing it off; no BMC "
                   "here (the local hosts' power switch, a namespace kill, takes ms)"),
    "restart_service": ((2.0, 8.0), "a guest agent restarting a service in the guest"),
    "scale": ((5.0, 20.0), "scaling a VM up in place or out (a replica placed and booted)"),
    "failover": ((4.0, 12.0), "a standby taking over"),
    "disaster_recovery": ((120.0, 400.0), "a restart in another zone from replicated storage"),
    "reboot_crash": ((1.0, 4.0),
                     "how far into its boot a guest whose restart is made to fail dies again"),
    "crash_loop_recrash": ((5.0, 20.0), "how long a crash-looping guest runs before it dies"),
    "operator_response": ((1800.0, 1800.0), "a human answering a page"),
    "host_repair": ((1800.0, 3600.0), "a dead host repaired and back (empty)"),
    "link_loss": ((30.0, 300.0), "a host's management link down (its guests keep serving)"),
}

# Measured kinds the model does not draw from, reported with its inputs: detection of a host's
# loss is the healer's host timeout and quorum (settings), not the close callback's delay.
INFORMATIVE = ("host_loss_detect", "define", "start", "define_start", "destroy",
               "live_migrate_downtime", "live_migrate_elapsed", "boot_to_agent")


@dataclass(frozen=True)
class Durations:
    table: dict[str, Duration]
    source: str  # "measured: <file, date, machine>" or "constants: <why>"
    measured_info: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Duration:
        return self.table[name]

    def scaled(self, name: str, factor: float) -> Durations:
        table = dict(self.table)
        table[name] = replace(table[name], factor=factor)
        return Durations(table, self.source, self.measured_info)


def load_durations(path: Path = MEASURED) -> Durations:
    """The model's durations: measured where ``path`` has samples, else the constants."""
    data: dict[str, Any] | None = None
    why = ""
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            why = f"{path} unreadable ({exc})"
    else:
        why = f"{path} missing (run python -m bench.measure_durations)"
    table: dict[str, Duration] = {}
    missing = []
    for name, (kind, fallback, about) in MACHINERY.items():
        values = tuple(float(x) for x in (data or {}).get(f"{kind}_samples_s", []))
        if data is not None and not values:
            missing.append(kind)
        table[name] = Duration(name, about, fallback, values)
    for name, (rng, about) in ASSUMED.items():
        table[name] = Duration(name, about, rng)
    if data is None:
        table["live_memory_copy"] = replace(table["live_memory_copy"], uniform=(0.0, 0.0))
        return Durations(table, f"constants: {why}")
    if not table["live_migrate"].measured:
        table["live_memory_copy"] = replace(table["live_memory_copy"], uniform=(0.0, 0.0))
    info = {kind: f"median {data[f'{kind}_median_s']:.4g} s over {data[f'{kind}_n']}"
            for kind in INFORMATIVE if f"{kind}_median_s" in data}
    source = (f"measured: {path.name} ({data.get('command', '?')}, {data.get('date', '?')}, "
              f"{data.get('machine', '?')}, libvirt {data.get('libvirt_daemon', '?')}, QEMU "
              f"{data.get('qemu', '?')}, {data.get('samples_per_kind', '?')} samples per kind)")
    if missing:
        source += f"; constants for {', '.join(missing)} (not in the file)"
    return Durations(table, source, info)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def secs(d: datetime) -> float:
    return (d - T0).total_seconds()


@dataclass
class SimVm:
    vm_id: str
    host: str  # where the controller believes it runs (last placement)
    agent: bool
    copies: set[str] = field(default_factory=set)
    hung: bool = False
    paused: bool = False
    services_down: frozenset[str] = frozenset()
    storage_bad: bool = False
    exhausted: bool = False
    restart_fails: bool = False
    crash_loop: int = 0
    operator_stopped: bool = False
    down_since: float | None = None
    downtime_s: float = 0.0


@dataclass
class SimHost:
    host_id: str
    zone: str
    dead: bool = False
    cut: bool = False
    fence_flaky: int = 0  # fence attempts that will still fail


@dataclass
class Fault:
    fid: int
    kind: str
    at: float
    vms: list[str]
    host: str | None = None
    detected_at: float | None = None
    resolved_at: float | None = None
    operator: bool = False
    fenced: bool = False


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    xs = sorted(values)
    k = max(0, min(len(xs) - 1, math.ceil(q * len(xs)) - 1))
    return xs[k]


class Sim:
    def __init__(self, *, seed: int, hosts: int, vms_per_host: int, faults: int,
                 durations: Durations) -> None:
        self.rng = random.Random(seed)
        self.d = durations
        # When a fence of a host or a VM is done: what it guards waits for it.
        self.fenced_at: dict[str, float] = {}
        self.healer = Healer(fencer=self, rng=random.Random(seed + 1))
        self.t = 0.0
        self._seq = itertools.count()
        self.queue: list[tuple[float, int, Callable[[], None]]] = []
        self.hosts = {f"h{i:02d}": SimHost(f"h{i:02d}", "zone-a" if i % 2 else "zone-b")
                      for i in range(hosts)}
        self.vms: dict[str, SimVm] = {}
        self.faults: list[Fault] = []
        self.open_faults: list[Fault] = []
        self.n_faults = faults
        self.plan_fault: dict[str, list[Fault]] = defaultdict(list)
        self.double_running: set[str] = set()
        self.link_loss_evacuations = 0
        self.boots: dict[str, list[float]] = defaultdict(list)
        self.fence_records = 0
        self.operator_interventions = 0
        self.operator_shutdowns = 0
        self.operator_violations = 0
        self.rounds = 0
        self.first_rungs: Counter[str] = Counter()
        self.holds: Counter[str] = Counter()
        batch: list[Observation] = []
        for h in self.hosts.values():
            batch.append(HostRegistered(h.host_id, at(0), zone=h.zone, capacity=16))
        for h in self.hosts:
            for j in range(vms_per_host):
                vm_id = f"vm-{h}-{j}"
                agent = self.rng.random() < 0.7
                self.vms[vm_id] = SimVm(vm_id, h, agent, {h})
                batch.append(VmRegistered(vm_id, h, at(0), has_guest_agent=agent,
                                          priority=self.rng.choice((0, 0, 1, 5)),
                                          size=self.rng.choice((1, 1, 2)), scalable=True))
        self.healer.observe_all(batch)

    # ------------------------------------------------------------ the Fencer protocol
    def fence(self, request: FenceRequest) -> FenceResult:
        host = self.hosts[request.host_id]
        # The Fencer protocol answers at once; the time a fence takes is charged to the
        # recovery that waits for it (see _execute).
        if request.scope == "host":
            self.fenced_at[host.host_id] = self.t + self.draw("fence_host")
            if host.cut and not host.dead:
                self.link_loss_evacuations += 1
            if host.fence_flaky > 0:
                host.fence_flaky -= 1
                return FenceResult(request, False, "sim-ipmi", "no power-off confirmation")
            host.dead = True  # powered off: whatever ran there is gone
            for f in self.open_faults:
                if f.host == host.host_id and f.kind.startswith("host_down"):
                    f.fenced = True
            for vm in self.vms.values():
                vm.copies.discard(host.host_id)
                self._refresh(vm)
            self.fence_records += 1
            return FenceResult(request, True, "sim-ipmi", "chassis power off confirmed")
        if host.dead or host.cut:
            return FenceResult(request, False, "sim-libvirt", "host unreachable")
        vm = self.vms[request.target_id]
        self.fenced_at[vm.vm_id] = self.t + self.draw("fence_vm")
        vm.copies.discard(host.host_id)
        self._refresh(vm)
        self.fence_records += 1
        return FenceResult(request, True, "sim-libvirt", "domain destroyed")

    # ------------------------------------------------------------ plumbing
    def draw(self, name: str) -> float:
        return self.d[name].draw(self.rng)

    def schedule(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self.queue, (when, next(self._seq), fn))

    def send(self, obs: Observation) -> None:
        self.handle(self.healer.observe(obs))

    def available(self, vm: SimVm) -> bool:
        live = [h for h in vm.copies if not self.hosts[h].dead]
        return bool(live) and not (vm.hung or vm.paused or vm.services_down or vm.storage_bad)

    def _refresh(self, vm: SimVm) -> None:
        if len(vm.copies) > 1:
            self.double_running.add(vm.vm_id)
        up = vm.operator_stopped or self.available(vm)
        if not up and vm.down_since is None:
            vm.down_since = self.t
        elif up and vm.down_since is not None:
            vm.downtime_s += self.t - vm.down_since
            vm.down_since = None
        for f in list(self.open_faults):
            if all(self._resolved(self.vms[v], f) for v in f.vms) and self._host_ok(f):
                f.resolved_at = self.t
                self.open_faults.remove(f)

    def _resolved(self, vm: SimVm, f: Fault) -> bool:
        if vm.operator_stopped:
            return True
        if f.kind == "resource_exhaustion":
            return not vm.exhausted
        return self.available(vm) and vm.crash_loop == 0

    def _host_ok(self, f: Fault) -> bool:
        return f.kind != "management_link_loss" or (f.host is not None
                                                    and not self.hosts[f.host].cut)

    # ------------------------------------------------------------ healer actions
    def handle(self, actions: list[HealingAction]) -> None:
        for a in actions:
            if isinstance(a, Hold):
                self.holds[a.kind.value] += 1
                self._detect(a.subject_id, a.subject_kind)
                if a.kind == HoldKind.NEEDS_OPERATOR:
                    self.schedule(self.t + self.draw("operator_response"),
                                  lambda a=a: self._operator(a))  # type: ignore[misc]
            else:
                self._execute(a)

    def _detect(self, subject: str, kind: str) -> None:
        for f in self.open_faults:
            if f.detected_at is None and (subject in f.vms or subject == f.host):
                f.detected_at = self.t

    def _execute(self, plan: RecoveryPlan) -> None:
        self._detect(plan.vm_id, "vm")
        if plan.attempt == 1:
            self.first_rungs[f"{plan.diagnosis.failure.value}:{plan.rung.value}"] += 1
        src = self.hosts[plan.source_host]
        if src.cut and not src.dead and plan.rung in (MOVES | STARTS_ELSEWHERE):
            self.link_loss_evacuations += 1
        if plan.rung in BOOTS:
            self.boots[plan.vm_id].append(self.t)
        vm = self.vms[plan.vm_id]
        # A recovery that needed a fence starts when the fence is done.
        begin = max(self.t, self.fenced_at.get(plan.source_host, 0.0),
                    self.fenced_at.get(plan.vm_id, 0.0))
        done = begin + self.duration(plan, vm)
        self.schedule(done, lambda: self._complete(plan))
        if plan.rung == Rung.RESTART_VM and vm.restart_fails:
            died = begin + self.draw("restart") + self.draw("reboot_crash")
            host = plan.source_host
            self.schedule(died + self.draw("crash_event"), lambda: self._reboot_crash(
                plan, host))

    def duration(self, plan: RecoveryPlan, vm: SimVm) -> float:
        """How long the plan's rung takes: libvirt's part (measured) plus the guest's."""
        r = plan.rung
        if r == Rung.RESTART_VM:
            return self.draw("restart") + self.draw("guest_os_boot")
        if r == Rung.COLD_MIGRATE:
            # A running source copy is shut down first; one that no longer runs (it crashed,
            # or the healer fenced it, as it always does before a start elsewhere) is not.
            running = any(not self.hosts[h].dead for h in vm.copies)
            stop = self.draw("graceful_stop") if running else 0.0
            return stop + self.draw("cold_migrate") + self.draw("guest_os_boot")
        if r == Rung.LIVE_MIGRATE:
            return self.draw("live_migrate") + self.draw("live_memory_copy")
        name = {Rung.RESTART_SERVICE: "restart_service", Rung.SCALE: "scale",
                Rung.FAILOVER: "failover", Rung.DISASTER_RECOVERY: "disaster_recovery"}[r]
        return self.draw(name)

    def _reboot_crash(self, plan: RecoveryPlan, host: str) -> None:
        if plan.status.value == "issued" and not self.hosts[host].cut:
            self.send(LifecycleEvent(plan.vm_id, host, Lifecycle.CRASHED, at(self.t)))

    def _complete(self, plan: RecoveryPlan) -> None:
        if plan.status.value != "issued":
            return  # timed out: the actuator cancelled it, no late effect
        vm = self.vms[plan.vm_id]
        target = self.hosts[plan.target_host or plan.source_host]
        ok = self.rng.random() < SUCCESS_P[plan.rung] and not target.dead and not target.cut
        if plan.rung == Rung.RESTART_VM and vm.restart_fails:
            ok = False
        if vm.operator_stopped:
            ok = False
        if ok:
            self._apply(plan, vm)
        self.handle(self.healer.report(RecoveryOutcome(plan.plan_id, ok, at(self.t),
                                                       "" if ok else "sim failure")))

    def _apply(self, plan: RecoveryPlan, vm: SimVm) -> None:
        target = plan.target_host or plan.source_host
        r = plan.rung
        if r == Rung.RESTART_SERVICE:
            vm.services_down = frozenset()
        elif r == Rung.SCALE:
            vm.exhausted = False
        elif r == Rung.RESTART_VM:
            vm.copies = {target}
            vm.hung = vm.paused = False
            vm.services_down = frozenset()
            vm.exhausted = False
        elif r == Rung.LIVE_MIGRATE:
            vm.copies = {target}
            vm.storage_bad = vm.exhausted = False
        else:  # starts a new copy elsewhere: the fence must already have killed the old one
            vm.copies.add(target)
            vm.hung = vm.paused = vm.storage_bad = vm.exhausted = False
            vm.services_down = frozenset()
        vm.host = target
        if r in BOOTS and vm.crash_loop > 0:
            vm.crash_loop -= 1
            self.schedule(self.t + self.draw("crash_loop_recrash"),
                          lambda: self._crash(vm.vm_id))
        self._refresh(vm)

    def _operator(self, hold: Hold) -> None:
        """A human fixes what the healer handed over, and clears it."""
        self.operator_interventions += 1
        vm_ids = [hold.subject_id] if hold.subject_kind == "vm" else \
            [v.vm_id for v in self.vms.values() if v.host == hold.subject_id]
        for vm_id in vm_ids:
            vm = self.vms[vm_id]
            for f in self.open_faults:
                if vm_id in f.vms:
                    f.operator = True
            vm.crash_loop, vm.restart_fails = 0, False
            vm.hung = vm.paused = vm.storage_bad = vm.exhausted = False
            vm.services_down = frozenset()
            host = self.hosts[vm.host]
            if host.dead or host.cut:
                host = next(h for h in self.hosts.values() if not h.dead and not h.cut)
            vm.copies, vm.host = {host.host_id}, host.host_id
            self.healer.operator_clear(vm_id, at(self.t))
            self.send(LifecycleEvent(vm_id, host.host_id, Lifecycle.STARTED, at(self.t)))
            self._refresh(vm)

    # ------------------------------------------------------------ faults
    def _pick_vm(self, agent: bool = False) -> SimVm | None:
        ok = [v for v in self.vms.values()
              if self.available(v) and not v.operator_stopped and not v.exhausted
              and not self.hosts[v.host].cut and v.vm_id not in self.healer.incidents
              and v.vm_id not in self.healer.needs_operator and (v.agent or not agent)
              and not any(v.vm_id in f.vms for f in self.open_faults)]
        return self.rng.choice(ok) if ok else None

    def _pick_host(self) -> SimHost | None:
        busy = {f.host for f in self.open_faults}
        ok = [h for h in self.hosts.values() if not h.dead and not h.cut and h.host_id not in busy]
        # Keep at least 3 hosts whole: beyond that the fleet is not a fleet any more.
        return self.rng.choice(ok) if len(ok) > 3 else None

    def _crash(self, vm_id: str) -> None:
        vm = self.vms[vm_id]
        if vm.operator_stopped or not vm.copies:
            return
        host = vm.host
        vm.copies.clear()
        self._refresh(vm)
        delay = self.draw("crash_event")
        if not self.hosts[host].cut:
            self.schedule(self.t + delay, lambda: self.send(
                LifecycleEvent(vm_id, host, Lifecycle.CRASHED, at(self.t))))

    def inject(self, kind: str) -> None:
        if kind in ("host_down", "host_down_fence_flaky", "management_link_loss"):
            host = self._pick_host()
            if host is None:
                return
            vms = [v.vm_id for v in self.vms.values() if v.host == host.host_id and
                   host.host_id in v.copies and not v.operator_stopped]
            f = Fault(len(self.faults), kind, self.t, vms, host.host_id)
            self.faults.append(f)
            self.open_faults.append(f)
            if kind == "management_link_loss":
                f.vms = []  # nothing to recover: the VMs keep serving
                host.cut = True
                self.schedule(self.t + self.draw("link_loss"), lambda: self._uncut(host, f))
            else:
                host.dead = True
                host.fence_flaky = 1 if kind == "host_down_fence_flaky" else 0
                for vm_id in vms:  # power loss: everything on it stops (no event arrives)
                    self._refresh(self.vms[vm_id])
                self.schedule(self.t + self.draw("host_repair"),
                              lambda: self._repair(host))
            self._refresh_all()
            return
        vm = self._pick_vm(agent=kind == "guest_service_down")
        if vm is None:
            return
        f = Fault(len(self.faults), kind, self.t, [vm.vm_id], vm.host)
        self.faults.append(f)
        self.open_faults.append(f)
        if kind in ("vm_crash", "vm_crash_restart_fails", "crash_loop"):
            vm.restart_fails = kind == "vm_crash_restart_fails"
            vm.crash_loop = 6 if kind == "crash_loop" else 0
            self._crash(vm.vm_id)
        elif kind == "vm_hang":
            vm.hung = True
        elif kind == "vm_pause":
            vm.paused = True
            host = vm.host
            self.schedule(self.t + self.draw("crash_event"), lambda: self.send(
                LifecycleEvent(vm.vm_id, host, Lifecycle.PAUSED, at(self.t))))
        elif kind == "guest_service_down":
            vm.services_down = frozenset({"app"})
        elif kind == "resource_exhaustion":
            vm.exhausted = True
        elif kind == "storage_error":
            vm.storage_bad = True
        self._refresh(vm)

    def _uncut(self, host: SimHost, f: Fault) -> None:
        host.cut = False
        self._refresh_all()

    def _repair(self, host: SimHost) -> None:
        host.dead = False  # back, empty: whatever ran there was fenced or moved
        for vm in self.vms.values():
            if vm.vm_id in self.healer.incidents:
                continue
            vm.restart_fails = False if host.host_id in vm.copies else vm.restart_fails
        self._refresh_all()

    def _refresh_all(self) -> None:
        for vm in self.vms.values():
            self._refresh(vm)

    def _operator_shutdown(self) -> None:
        vm = self._pick_vm()
        if vm is None:
            return
        self.operator_shutdowns += 1
        vm.operator_stopped = True
        vm.copies.clear()
        self.send(LifecycleEvent(vm.vm_id, vm.host, Lifecycle.OPERATOR_SHUTDOWN, at(self.t)))
        self._refresh(vm)

        def check_later() -> None:
            if vm.copies:
                self.operator_violations += 1
        self.schedule(self.t + 3600, check_later)

    # ------------------------------------------------------------ heartbeats
    def beat(self) -> None:
        self.rounds += 1
        now = at(self.t)
        batch: list[Observation] = []
        reporters = [p for p, ph in self.hosts.items() if not ph.dead and not ph.cut]
        for h, host in self.hosts.items():
            if host.dead:
                continue
            if not host.cut:
                batch.append(HostHeartbeat(h, CONTROLLER, now))
            batch.extend(HostHeartbeat(h, p, now) for p in reporters if p != h)
        for vm in self.vms.values():
            live = [h for h in vm.copies if not self.hosts[h].dead and not self.hosts[h].cut]
            if not live:
                continue
            if not (vm.hung or vm.paused):
                batch.append(GuestHeartbeat(vm.vm_id, now, vm.services_down) if vm.agent
                             else MetricSeen(vm.vm_id, now))
            if vm.exhausted:
                batch.append(ResourceUsage("vm", vm.vm_id, "memory", 0.98, now))
            if vm.storage_bad and self.rounds % 5 == 0:
                batch.append(StorageFault("vm", vm.vm_id, now, "EIO on vda"))
        self.handle(self.healer.observe_all(batch))

    def unsettled(self) -> bool:
        return bool(self.open_faults or self.healer.in_flight() or self.healer.incidents)

    def run(self) -> None:
        kinds, weights = zip(*CATALOGUE.items(), strict=True)
        times = sorted(self.rng.uniform(3600, MONTH_S - 7200) for _ in range(self.n_faults))
        for when in times:
            kind = self.rng.choices(kinds, weights)[0]
            self.schedule(when, lambda k=kind: self.inject(k))  # type: ignore[misc]
        for _ in range(max(3, self.n_faults // 20)):
            self.schedule(self.rng.uniform(3600, MONTH_S - 7200), self._operator_shutdown)
        self.beat()
        while self.t < MONTH_S:
            busy = self.unsettled() or any(h.dead or h.cut for h in self.hosts.values())
            if not busy and not self.queue:
                break
            if busy:
                # 1 s rounds while something is wrong, 5 s while only waiting for a repair.
                step = 1.0 if self.unsettled() else 5.0
                horizon = self.t + step
                while self.queue and self.queue[0][0] <= horizon:
                    when, _, fn = heapq.heappop(self.queue)
                    self.t = max(self.t, when)
                    fn()
                self.t = horizon
                self.beat()
            else:
                # Quiet fleet: jump to the next event; one fresh round so nothing looks silent.
                when = self.queue[0][0]
                self.t = max(self.t, when - 0.5)
                self.beat()
                when, _, fn = heapq.heappop(self.queue)
                self.t = max(self.t, when)
                fn()
        self.t = MONTH_S
        self._refresh_all()
        for vm in self.vms.values():
            if vm.down_since is not None:
                vm.downtime_s += self.t - vm.down_since
                vm.down_since = None

    # ------------------------------------------------------------ figures
    def figures(self) -> dict[str, float | int | str]:
        crash = [f for f in self.faults if f.kind in ("vm_crash", "vm_crash_restart_fails")]
        detect = [f.detected_at - f.at for f in crash if f.detected_at is not None]
        recover = [f.resolved_at - f.at for f in crash if f.resolved_at is not None]
        plain = [f.resolved_at - f.at for f in crash
                 if f.kind == "vm_crash" and f.resolved_at is not None]
        refail = [f.resolved_at - f.at for f in crash
                  if f.kind == "vm_crash_restart_fails" and f.resolved_at is not None]
        hostf = [f for f in self.faults if f.kind.startswith("host_down")]
        host_rec = [f.resolved_at - f.at for f in hostf if f.resolved_at is not None]
        needing = [f for f in self.faults if f.kind != "management_link_loss"]
        autonomous = [f for f in needing if f.resolved_at is not None and not f.operator]
        storms = 0
        cap = self.healer.s.restarts
        for ts in self.boots.values():
            if any(sum(1 for u in ts if s <= u < s + cap.window_s) > cap.max_restarts
                   for s in ts):
                storms += 1
        vm_seconds = len(self.vms) * MONTH_S
        downtime = sum(v.downtime_s for v in self.vms.values())
        by_kind = Counter(f.kind for f in self.faults)
        unresolved = sum(1 for f in self.faults if f.resolved_at is None)
        return {
            "variant": "simulated fleet (discrete-event model, not libvirt)",
            "simulated_figures": "all (the discrete-event model's; measured durations are "
                                 "its inputs, not its outputs)",
            "durations_source": self.d.source,
            "hosts": len(self.hosts),
            "vms": len(self.vms),
            "simulated_days": MONTH_S / 86400,
            "faults_injected": len(self.faults),
            "faults_by_kind": ", ".join(f"{k}={n}" for k, n in sorted(by_kind.items())),
            "vm_crash_detect_p95_s": round(pct(detect, 0.95), 3),
            "vm_crash_recovery_p95_s": round(pct(recover, 0.95), 2),
            "vm_crash_recovery_p50_s": round(pct(recover, 0.5), 2),
            # without the injected "in-place restart fails" crashes, which must escalate
            "vm_crash_recovery_p95_plain_s": round(pct(plain, 0.95), 2),
            # only those: crash, failed in-place restart, escalation to a start elsewhere
            "vm_crash_recovery_p95_restart_fails_s": round(pct(refail, 0.95), 2),
            "host_failure_recovery_p95_s": round(pct(host_rec, 0.95), 2),
            "host_failures": len(hostf),
            "host_failures_recovered_without_fence": sum(
                1 for f in hostf if f.resolved_at is not None and f.vms and not f.fenced),
            "fence_records": self.fence_records,
            "autonomous_recovery_pct": round(100 * len(autonomous) / max(1, len(needing)), 2),
            "double_running_vms": len(self.double_running),
            "evacuations_on_management_link_loss": self.link_loss_evacuations,
            "restart_storms": storms,
            "availability_pct": round(100 * (1 - downtime / vm_seconds), 4),
            "operator_interventions": self.operator_interventions,
            "operator_shutdowns_honoured": self.operator_shutdowns - self.operator_violations,
            "operator_shutdowns_violated": self.operator_violations,
            "unresolved_faults": unresolved,
            "first_rungs": ", ".join(f"{k}={n}" for k, n in sorted(self.first_rungs.items())),
            "holds": ", ".join(f"{k}={n}" for k, n in sorted(self.holds.items())),
            "heartbeat_rounds": self.rounds,
            **{f"duration_{name}": d.describe() for name, d in self.d.table.items()},
            "assumptions": ", ".join(n for n, d in self.d.table.items() if not d.measured),
            **{f"measured_not_drawn_{k}": v for k, v in self.d.measured_info.items()},
        }


# The figures each sensitivity run reports, and the fleet it runs on (the --quick fleet: 36
# runs of the full one would take two hours).
SENS_FIGURES = ("vm_crash_recovery_p95_s", "host_failure_recovery_p95_s",
                "autonomous_recovery_pct")
SENS_FLEET = (8, 6, 120)  # hosts, VMs per host, faults
SENS_FACTORS = ((0.5, "x0.5"), (2.0, "x2"))
# --quick varies only these (the ones the MTTR figures hang on).
QUICK_SENSITIVITY = ("crash_event", "restart", "guest_os_boot", "fence_host")


def simulate(durations: Durations, seed: int, hosts: int, per_host: int,
             faults: int) -> dict[str, Any]:
    sim = Sim(seed=seed, hosts=hosts, vms_per_host=per_host, faults=faults, durations=durations)
    sim.run()
    return sim.figures()


def sensitivity(durations: Durations, seed: int, names: tuple[str, ...],
                base: dict[str, Any] | None = None,
                fleet: tuple[int, int, int] = SENS_FLEET) -> dict[str, Any]:
    """Each named duration x0.5 and x2, the others unchanged, on ``fleet`` (hosts, VMs per
    host, faults) with the same seed: ``sens_<name>_<x0.5|x2>_<figure>``, the base run's
    ``sens_base_<figure>``, and per figure the change that moved it most."""
    base = base or simulate(durations, seed, *fleet)
    out: dict[str, Any] = {
        "sens_fleet": f"{fleet[0]} hosts, {fleet[0] * fleet[1]} VMs, {fleet[2]} faults, "
                      f"seed {seed} (simulated)",
        "sens_varied": ", ".join(names),
        **{f"sens_base_{k}": base[k] for k in SENS_FIGURES}}
    moves: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for name in names:
        for factor, tag in SENS_FACTORS:
            fig = simulate(durations.scaled(name, factor), seed, *fleet)
            for k in SENS_FIGURES:
                out[f"sens_{name}_{tag}_{k}"] = fig[k]
                if not (math.isnan(fig[k]) or math.isnan(base[k])):
                    moves[k].append((fig[k] - base[k], f"{name} {tag}"))
    for k in SENS_FIGURES:
        if moves[k]:
            delta, what = max(moves[k], key=lambda m: abs(m[0]))
            out[f"sens_largest_{k}"] = f"{what}: {delta:+.2f}" if delta else "none moved it"
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="120 faults, 8 hosts (under a minute)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--durations", type=Path, default=MEASURED,
                    help="measured durations (bench.measure_durations' file)")
    ap.add_argument("--constants", action="store_true",
                    help="ignore the measured file: the model's constants")
    ap.add_argument("--no-sensitivity", action="store_true")
    args = ap.parse_args(argv)
    hosts, per_host, faults = SENS_FLEET if args.quick else (16, 8, 400)
    durations = load_durations(Path("/nonexistent") if args.constants else args.durations)
    if args.constants:
        durations = replace(durations, source="constants: --constants given")
    if not durations.source.startswith("measured"):
        print(f"WARNING: chaos runs on its CONSTANT durations, not measured ones: "
              f"{durations.source}", file=sys.stderr)
    started = time.perf_counter()
    figures = simulate(durations, args.seed, hosts, per_host, faults)
    figures.update(quick=args.quick, seed=args.seed,
                   main_run_wall_s=round(time.perf_counter() - started, 2))
    if not args.no_sensitivity:
        names = QUICK_SENSITIVITY if args.quick else tuple(durations.table)
        figures.update(sensitivity(durations, args.seed, names,
                                   base=figures if args.quick else None))
    figures["wall_s"] = round(time.perf_counter() - started, 2)
    write_and_show("chaos", figures)
    source = "MEASURED durations" if durations.source.startswith("measured") else \
        "CONSTANT durations (no measured file)"
    print(
        f"chaos (simulated fleet, {source}): {figures['faults_injected']} faults, crash detect "
        f"p95 {figures['vm_crash_detect_p95_s']}s, crash recovery p95 "
        f"{figures['vm_crash_recovery_p95_s']}s, host recovery p95 "
        f"{figures['host_failure_recovery_p95_s']}s, autonomous "
        f"{figures['autonomous_recovery_pct']}%, double-running {figures['double_running_vms']},"
        f" link-loss evacuations {figures['evacuations_on_management_link_loss']}, storms "
        f"{figures['restart_storms']}, availability {figures['availability_pct']}%"
        + (f"; largest sensitivity: crash MTTR {figures.get('sens_largest_vm_crash_recovery_p95_s')}"
           f" s, host MTTR {figures.get('sens_largest_host_failure_recovery_p95_s')} s"
           if "sens_varied" in figures else "")
        + " (all figures simulated)"
    )


if __name__ == "__main__":
    main()
