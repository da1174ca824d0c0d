"""Chaos on a simulated fleet: inject faults across the catalogue into a discrete-event model
of a libvirt fleet driven by the real (pure) Healer, and measure detection, recovery, safety.

This is the simulated-fleet variant: hosts, guests, heartbeats, lifecycle events, fencing and
actuator outcomes are modelled, not executed on libvirt (bench.chaos_libvirt injects faults
into libvirt test-driver domains, bench.chaos_qemu into real QEMU guests).
The model is adversarial where it matters for safety: a host that stops answering keeps its
VMs running until it is fenced, a host cut off from the controller keeps serving, and a plan
that overruns its budget is cancelled by the actuator (it has no late effect).

Run: python -m bench.chaos [--quick] [--seed N]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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

from bench._common import write_and_show

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MONTH_S = 30 * 86400.0
OPERATOR_RESPONSE_S = 1800.0  # a human answers a page in ~30 min
HOST_REPAIR_S = (1800.0, 3600.0)

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

# Actuator durations (uniform range, seconds) and success probability per rung.
# COLD_MIGRATE's range includes a graceful stop of a running source copy (the actuator waits
# up to 20 s); when no copy runs any more (it crashed, or the healer fenced it, which it
# always does before starting a copy elsewhere) the actuator only defines the VM on the
# target and boots it there: DEFINE_S plus a RESTART_VM boot. Shared storage is assumed, as
# in actuators/migrate.py, which copies no disk.
DEFINE_S = (0.5, 1.5)
# A VM whose in-place restart is made to fail comes up and dies again this long into the
# boot; libvirt reports it as a crash (a lifecycle event), the actuator only at its end.
REBOOT_CRASH_S = (1.0, 4.0)
DURATION_S: dict[Rung, tuple[float, float]] = {
    Rung.RESTART_SERVICE: (2, 8),
    Rung.RESTART_VM: (6, 15),
    Rung.LIVE_MIGRATE: (8, 30),
    Rung.COLD_MIGRATE: (10, 30),
    Rung.SCALE: (5, 20),
    Rung.FAILOVER: (4, 12),
    Rung.DISASTER_RECOVERY: (120, 400),
}
SUCCESS_P: dict[Rung, float] = {
    Rung.RESTART_SERVICE: 0.9, Rung.RESTART_VM: 0.97, Rung.LIVE_MIGRATE: 0.95,
    Rung.COLD_MIGRATE: 0.97, Rung.SCALE: 0.95, Rung.FAILOVER: 0.98,
    Rung.DISASTER_RECOVERY: 0.99,
}


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
    def __init__(self, *, seed: int, hosts: int, vms_per_host: int, faults: int) -> None:
        self.rng = random.Random(seed)
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
        if request.scope == "host":
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
        vm.copies.discard(host.host_id)
        self._refresh(vm)
        self.fence_records += 1
        return FenceResult(request, True, "sim-libvirt", "domain destroyed")

    # ------------------------------------------------------------ plumbing
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
                    self.schedule(self.t + OPERATOR_RESPONSE_S,
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
        lo, hi = DURATION_S[plan.rung]
        vm = self.vms[plan.vm_id]
        running = any(not self.hosts[h].dead for h in vm.copies)
        if plan.rung == Rung.COLD_MIGRATE and not running:
            lo, hi = DURATION_S[Rung.RESTART_VM]
            lo, hi = lo + DEFINE_S[0], hi + DEFINE_S[1]
        done = self.t + self.rng.uniform(lo, hi)
        self.schedule(done, lambda: self._complete(plan))
        if plan.rung == Rung.RESTART_VM and vm.restart_fails:
            died = self.t + self.rng.uniform(*REBOOT_CRASH_S)
            host = plan.source_host
            self.schedule(died + self.rng.uniform(0.05, 0.5), lambda: self._reboot_crash(
                plan, host))

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
            self.schedule(self.t + self.rng.uniform(5, 20), lambda: self._crash(vm.vm_id))
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
        delay = self.rng.uniform(0.05, 0.5)  # libvirt lifecycle event delivery
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
                self.schedule(self.t + self.rng.uniform(30, 300), lambda: self._uncut(host, f))
            else:
                host.dead = True
                host.fence_flaky = 1 if kind == "host_down_fence_flaky" else 0
                for vm_id in vms:  # power loss: everything on it stops (no event arrives)
                    self._refresh(self.vms[vm_id])
                self.schedule(self.t + self.rng.uniform(*HOST_REPAIR_S),
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
            self.schedule(self.t + 0.1, lambda: self.send(
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
        }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="120 faults, 8 hosts (under a minute)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    hosts, per_host, faults = (8, 6, 120) if args.quick else (16, 8, 400)
    started = time.perf_counter()
    sim = Sim(seed=args.seed, hosts=hosts, vms_per_host=per_host, faults=faults)
    sim.run()
    figures = sim.figures()
    figures.update(quick=args.quick, seed=args.seed,
                   wall_s=round(time.perf_counter() - started, 2))
    write_and_show("chaos", figures)
    print(
        f"chaos (simulated fleet): {figures['faults_injected']} faults, crash detect p95 "
        f"{figures['vm_crash_detect_p95_s']}s, crash recovery p95 "
        f"{figures['vm_crash_recovery_p95_s']}s, host recovery p95 "
        f"{figures['host_failure_recovery_p95_s']}s, autonomous "
        f"{figures['autonomous_recovery_pct']}%, double-running {figures['double_running_vms']},"
        f" link-loss evacuations {figures['evacuations_on_management_link_loss']}, storms "
        f"{figures['restart_storms']}, availability {figures['availability_pct']}%"
    )


if __name__ == "__main__":
    main()
