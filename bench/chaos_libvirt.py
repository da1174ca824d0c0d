"""Chaos against libvirt test hosts: faults injected into real libvirt domains (destroy a VM,
pause it, declare a host dead), detected from real lifecycle events and metric/heartbeat
silence, handled by the Healer and carried out by the actuators (restart, libvirt-destroy
fencing, cold migration), then checked on libvirt itself.

Time: one clock, wall time plus a skip. Crashes run in real time (event latency, decision,
libvirt work are all measured as they happen). Faults whose detection is a threshold by design
(15 s paused, 15 s host silence) fast-forward the clock in 1 s steps, with metrics and
heartbeats emitted at every step, so those figures are "threshold + real handling time".
The action ledger is in memory here (the executor's PostgreSQL ledger is covered by tests).

Run: python -m bench.chaos_libvirt [--quick] [--seed N]
"""

from __future__ import annotations

import argparse
import queue
import random
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import libvirt
from novacron.actuators import simfleet
from novacron.actuators.connection import Fleet
from novacron.actuators.events import LifecycleWatcher, to_health_event
from novacron.actuators.executor import execute
from novacron.actuators.fencing import LibvirtDestroyFencer
from novacron.actuators.placement_state import inventory
from novacron.healing import Healer, LifecycleEvent
from novacron.streams.heal_core import HealLoop, Step

from bench._common import write_and_show
from novacron.events import (
    ActionKind,
    ActionResult,
    ActionStatus,
    Decision,
    MetricName,
    MetricSample,
    utcnow,
)


class MemoryLedger:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, str] = {}

    def claim(self, decision: Decision) -> bool:
        if decision.decision_id in self.rows:
            return False
        self.rows[decision.decision_id] = "claimed"
        return True

    def status(self, decision_id: uuid.UUID) -> str | None:
        return self.rows.get(decision_id)

    def finish(self, result: ActionResult) -> None:
        self.rows[result.decision_id] = result.status.value


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return utcnow() + self.offset

    def skip(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class Fault:
    kind: str
    subject: str  # vm id, or host id
    vms: list[str]
    at: datetime
    detected: datetime | None = None
    recovered: datetime | None = None
    needs_operator: bool = False


class Bench:
    def __init__(self, fleet: Fleet, seed: int, quiet_rounds: int = 36) -> None:
        self.fleet = fleet
        self.quiet_rounds = quiet_rounds
        self.clock = Clock()
        self.rng = random.Random(seed)
        self.ledger = MemoryLedger()
        self.loop = HealLoop(Healer(fencer=LibvirtDestroyFencer(self.fleet),
                                    rng=random.Random(seed)), now=self.clock.now)
        self.events: queue.SimpleQueue[LifecycleEvent] = queue.SimpleQueue()
        self.watcher = LifecycleWatcher(self.fleet, self.events.put)
        self.watcher.start()
        self.dead: set[str] = set()
        self.faulted: dict[str, int] = {}
        self.double_running = 0
        self.fences = 0
        self.actions = 0
        self.failed_actions = 0
        self.loop.register(inventory(self.fleet), self.clock.now() - timedelta(seconds=1))
        self.started = self.clock.now()
        self.round()

    # ------------------------------------------------------------ the world

    def running(self) -> dict[str, list[str]]:
        """vm id -> hosts where it runs (libvirt's answer)."""
        out: dict[str, list[str]] = {}
        for host_id, host in self.fleet.hosts.items():
            for dom in host.get().listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                if dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING:
                    out.setdefault(dom.name(), []).append(host_id)
        return out

    def round(self) -> None:
        """Events in, heartbeats and metrics in, decisions executed, outcomes back."""
        now = self.clock.now()
        self.handle(self.loop.heartbeat([h for h in self.fleet.hosts if h not in self.dead], now))
        raws: list[bytes] = []
        while True:
            try:
                ev = self.events.get_nowait()
            except queue.Empty:
                break
            if ev.host_id not in self.dead:  # a dead host reports nothing
                raws.append(to_health_event(replace(ev, at=ev.at + self.clock.offset)).to_bytes())
        running = self.running()
        for vm, hosts in running.items():
            if len(hosts) > 1:
                self.double_running += 1
            live = [h for h in hosts if h not in self.dead]
            if live:
                raws.append(MetricSample(occurred_at=now, vm_id=vm, host_id=live[0],
                                         metric=MetricName.CPU, value=30.0).to_bytes())
        self.handle(self.loop.ingest(raws))

    def handle(self, step: Step) -> None:
        pending = list(step.decisions)
        while pending:
            d = pending.pop(0)
            self.note_decision(d)
            if d.action == ActionKind.NOOP:
                continue
            if isinstance(d.params.get("fence"), dict):
                self.fences += 1
            result = execute(d, self.fleet, self.ledger)
            if result is None:
                continue
            self.actions += 1
            if result.status != ActionStatus.SUCCEEDED:
                self.failed_actions += 1
            result = result.model_copy(update={"occurred_at": self.clock.now()})
            pending.extend(self.loop.ingest([result.to_bytes()]).decisions)

    # ------------------------------------------------------------ faults

    fault: Fault | None = None

    def note_decision(self, d: Decision) -> None:
        f = self.fault
        if f is None:
            return
        if f.detected is None and (d.target_id in f.vms or d.target_id == f.subject):
            f.detected = self.clock.now()
        if d.action == ActionKind.NOOP and "needs_operator" in d.explanation and \
                d.target_id in [*f.vms, f.subject]:
            f.needs_operator = True

    def inject(self, kind: str) -> Fault:
        running = self.running()
        candidates = sorted(vm for vm, hosts in running.items()
                            if len(hosts) == 1 and hosts[0] not in self.dead)
        now = self.clock.now()
        if kind == "host_down":
            host = self.rng.choice(sorted(h for h in self.fleet.hosts if h not in self.dead))
            vms = sorted(vm for vm, hosts in running.items() if host in hosts)
            for vm in vms:
                self.faulted[vm] = self.faulted.get(vm, 0) + 1
            self.dead.add(host)
            return Fault(kind, host, vms, now)
        # Independent faults, not crash loops: the least-faulted VM (a crash loop is the
        # restart cap's business, which the tests cover).
        fewest = min(self.faulted.get(v, 0) for v in candidates)
        vm = self.rng.choice([v for v in candidates if self.faulted.get(v, 0) == fewest])
        self.faulted[vm] = self.faulted.get(vm, 0) + 1
        dom = self.fleet.find_domain(vm)[1]
        if kind == "vm_crash":
            self.crash(dom)
        else:
            dom.suspend()
        return Fault(kind, vm, [vm], now)

    def crash(self, dom: libvirt.virDomain) -> None:
        """The test driver has no process to kill: a destroy is its crash."""
        dom.destroy()

    def recovered(self, f: Fault) -> bool:
        running = self.running()
        return all(len(running.get(vm, [])) == 1 and running[vm][0] not in self.dead
                   for vm in f.vms)

    def run_fault(self, kind: str, limit_s: float = 300.0) -> Fault:
        f = self.fault = self.inject(kind)
        while not self.recovered(f):
            if f.needs_operator or (self.clock.now() - f.at).total_seconds() > limit_s:
                break
            if kind == "vm_crash":
                time.sleep(0.002)  # real time: lifecycle events arrive on libvirt's thread
            else:
                self.clock.skip(1.0)  # threshold-based detection: fast-forward
            self.round()
        if self.recovered(f):
            f.recovered = self.clock.now()
        if kind == "host_down":
            self.dead.discard(f.subject)  # repaired (empty), it serves as a target again
        self.fault = None
        # Six quiet minutes between faults, in 10 s steps (heartbeats and metrics at each, so
        # nothing looks silent): faults are spread like independent failures, not a storm.
        for _ in range(self.quiet_rounds):
            self.clock.skip(10.0)
            self.round()
        return f

    def close(self) -> None:
        self.watcher.stop()
        self.fleet.close()


def p95(xs: list[float]) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(0.95 * len(s)))], 3)


def availability_pct(faults: list[Fault], vms: int, span_s: float) -> float:
    """VM-seconds up over VM-seconds run: each faulted VM is down from the injection to its
    recovery (to the end of the run when it never recovered)."""
    down = 0.0
    for f in faults:
        end = f.recovered if f.recovered is not None else f.at + timedelta(seconds=span_s)
        down += len(f.vms) * max(0.0, (end - f.at).total_seconds())
    return round(100.0 * (1.0 - down / max(1e-9, vms * span_s)), 4)


def summary(bench: Bench, faults: list[Fault], vms: int) -> dict[str, object]:
    """The figures every libvirt chaos variant reports."""

    def secs(f: Fault, end: datetime | None) -> float | None:
        return None if end is None else (end - f.at).total_seconds()

    # A host that dies empty leaves nothing to recover: counted as injected, not as a
    # (zero-second) recovery.
    real = [f for f in faults if f.vms]

    def figures(kind: str, what: str) -> list[float]:
        return [s for f in real if f.kind == kind
                if (s := secs(f, f.detected if what == "detect" else f.recovered)) is not None]

    span_s = (bench.clock.now() - bench.started).total_seconds()
    return {
        "faults_injected": len(faults),
        "vm_crash_detect_p95_s": p95(figures("vm_crash", "detect")),
        "vm_crash_recovery_p95_s": p95(figures("vm_crash", "recover")),
        "vm_hang_detect_p95_s": p95(figures("vm_pause", "detect")),
        "vm_hang_recovery_p95_s": p95(figures("vm_pause", "recover")),
        "host_failure_recovery_p95_s": p95(figures("host_down", "recover")),
        "faults_with_nothing_to_recover": len(faults) - len(real),
        "autonomous_recovery_pct": round(
            100.0 * sum(1 for f in real if f.recovered is not None) / max(1, len(real)), 2),
        # Over the run's own (fast-forwarded) time, about six quiet minutes per fault: far
        # denser in faults than a month, so a harsh reading, not the month's figure.
        "availability_pct": availability_pct(faults, vms, span_s),
        "run_span_s": round(span_s, 1),
        "faults_handed_to_operator": sum(1 for f in faults if f.needs_operator),
        "faults_unrecovered": ", ".join(f"{f.kind} {f.subject}" for f in faults
                                        if f.recovered is None) or "none",
        "double_running_vms": bench.double_running,
        "fence_records": bench.fences,
        "actions_executed": bench.actions,
        "actions_failed": bench.failed_actions,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="30 faults on 4 hosts")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    hosts, per_host, n = (4, 4, 30) if args.quick else (8, 8, 100)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(simfleet.build(Path(tmp), hosts, per_host), args.seed)
        kinds = ["vm_crash"] * 6 + ["vm_pause"] * 3 + ["host_down"]
        faults = []
        try:
            for i in range(n):
                faults.append(bench.run_fault(kinds[i % len(kinds)]))
        finally:
            bench.close()

    figures_out: dict[str, object] = {
        "hosts": hosts, "vms": hosts * per_host, **summary(bench, faults, hosts * per_host),
        "wall_s": round(time.perf_counter() - started, 1),
        "quick": args.quick,
    }
    write_and_show("chaos_libvirt", figures_out)
    print(f"chaos_libvirt: {len(faults)} faults, crash detect p95 "
          f"{figures_out['vm_crash_detect_p95_s']} s, crash recovery p95 "
          f"{figures_out['vm_crash_recovery_p95_s']} s, host recovery p95 "
          f"{figures_out['host_failure_recovery_p95_s']} s, autonomous "
          f"{figures_out['autonomous_recovery_pct']} %, availability "
          f"{figures_out['availability_pct']} %, double running "
          f"{figures_out['double_running_vms']}")


if __name__ == "__main__":
    main()
