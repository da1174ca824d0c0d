"""NovaCron on a real fleet: three (or more) real libvirt hosts on this machine, real QEMU guests
(TCG), the real services, the API and the stream worker, measured end to end.

Hosts are actuators.local_hosts (a system-mode libvirtd per host in its own mount namespace,
its power switch the harness's); the services are the shared PostgreSQL, broker and TSDB, and
a BentoML forecast server of the bench's own; the worker runs in this process (its fleet is
the hosts'), with the collector feeding it and the API served by uvicorn on a free port. The
runtime's cadences are shortened for a run of minutes, and the figures say to what.

Measured, each step on its own (a failed step records ``error_<step>`` and the others run):
- placement: VMs placed through ``POST /v2/placements``, each timed to running on the chosen
  host, against a bare define + start of the same guest on the same hosts (the baseline);
- collector: VMs with a CPU sample in the latest interval of their host / VMs running there;
  the collector's CPU per VM sample;
- scaling: a busy guest (a boot sector spinning its vCPU) placed, then the time until the
  worker's decision agent publishes a vCPU decision for it on novacron.decisions;
- live migration: the consolidator's plan executed (live MIGRATE decisions), libvirt's
  downtime per move;
- host failure: the host holding the most guests crashed (its daemon and QEMUs killed); the
  time until its guests run elsewhere, healed by the live worker's heal agent (power fence
  through the hosts' switch after the healer's host timeout); then the host restarted and its
  stale copies undefined.

Run: python -m bench.real_fleet [--quick] (as root: the hosts are system-mode daemons)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import libvirt
import uvicorn
import yaml
from aiokafka import AIOKafkaConsumer
from novacron.actuators.guest_images import write_image
from novacron.actuators.inventory_fleet import host_facts, open_fleet
from novacron.actuators.local_hosts import LocalHosts, tiny_guest
from novacron.actuators.placement_state import domain_type, where
from novacron.actuators.xml import domain_xml
from novacron.api.admin import create_token
from novacron.healing import HealerSettings
from novacron.healing.diagnosis import DiagnosisSettings
from novacron.serving.launcher import BentoServer
from novacron.store import models, repository
from novacron.store.ledger import PgLedger
from novacron.streams.collector import run_collector
from novacron.streams.worker import BackgroundWorker, build_runtime
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from bench._common import write_and_show
from novacron import topics
from novacron.consolidate import ConsolidationSettings, consolidate
from novacron.events import (
    ActionKind,
    ActionStatus,
    Decision,
    FeatureVector,
    MetricBatch,
    MetricName,
    decode,
)
from novacron.inventory import load_inventory
from novacron.kafka_admin import ensure_topics
from novacron.services import start_all, stop_all
from novacron.settings import get_settings

RUN = uuid.uuid4().hex[:6]
# With --boost-busy-guest, the busy guest's QEMU gets this autogroup priority while its load is
# measured (off by default: the default figures change no scheduler setting).
BUSY_NICE = -10
# The default vCPU policy's (moderate profile) scale-up threshold, for the figures.
SCALE_UP_THRESHOLD = 0.80
log = logging.getLogger("bench.real_fleet")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 3) if xs else None


@dataclass
class Params:
    hosts: int
    idle_vms: int  # placed idle guests (plus one busy guest)
    collector_interval_s: float
    window_s: float  # the runtime's feature emission and evaluation period
    host_timeout_s: float
    memory_mib: int = 64
    own_broker: bool = True
    boost_busy: bool = False  # --boost-busy-guest


@dataclass
class Seen:
    """What the bench's tap read from the broker: (arrival, decoded) per topic."""

    decisions: list[tuple[float, Any]] = field(default_factory=list)
    batches: list[tuple[float, Any]] = field(default_factory=list)
    features: list[tuple[float, Any]] = field(default_factory=list)


class Bench:
    def __init__(self, p: Params, figures: dict[str, Any]) -> None:
        self.p = p
        self.f = figures
        self.seen = Seen()
        self.placed: dict[str, str] = {}  # vm -> chosen host
        self.busy_vm: str | None = None
        self.busy_running_at: float | None = None

    # ------------------------------------------------------------------ set-up

    async def setup(self, stack: contextlib.AsyncExitStack) -> None:
        t0 = time.monotonic()
        self.settings = settings = get_settings()
        self.work = Path(tempfile.mkdtemp(prefix="novacron-real-fleet-"))
        self.work.chmod(0o755)  # QEMU reads the busy guest's boot image from here
        stack.callback(shutil.rmtree, self.work, True)
        await asyncio.to_thread(start_all, settings, ["postgres", "tsdb"])
        if self.p.own_broker:
            # Its pid file and log in the bench's folder: stopping it touches no other broker.
            own = settings.model_copy(update={"state_dir": self.work / "broker"})
            own.state_dir.mkdir()
            await asyncio.to_thread(start_all, own, ["broker"])
            stack.callback(stop_all, own, ["broker"])
        else:
            await asyncio.to_thread(start_all, settings, ["broker"])
        self.f["broker"] = (f"own Tansu ({settings.broker_engine} engine)" if self.p.own_broker
                            else "the shared broker")
        await ensure_topics(settings)

        # The forecast server starts while the hosts come up (both take seconds).
        server = BentoServer(settings)
        serving = asyncio.create_task(asyncio.to_thread(server.start))
        stack.push_async_callback(asyncio.to_thread, server.stop)
        self.hosts = await asyncio.to_thread(LocalHosts, self.p.hosts, prefix=f"rf{RUN}",
                                             zone="zone-local")
        stack.callback(self.hosts.close)
        doc = self.hosts.inventory(overcommit={"cpu": 4.0, "memory": 1.0})
        for h in doc["hosts"]:
            h["labels"]["bench"] = RUN  # placements pin to this run's hosts

        path = self.work / "hosts.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        inv = load_inventory(path)
        self.fleet = fleet = open_fleet(inv)
        stack.callback(fleet.close)
        facts = await asyncio.to_thread(host_facts, fleet, inv)
        healing = HealerSettings(diagnosis=DiagnosisSettings(host_timeout_s=self.p.host_timeout_s))
        self.rt = build_runtime(settings, fleet, power_switch=self.hosts, healing=healing,
                                feature_emit_every_s=self.p.window_s,
                                evaluate_every_s=self.p.window_s)
        with self.rt.sessions.begin() as s:
            # prune=False: hosts other inventories wrote stay as they are.
            repository.sync_hosts(s, inv, facts, prune=False)
            self.token = create_token(s, f"bench-real-fleet-{RUN}", "operator", "bench")[1]
        stack.push_async_callback(asyncio.to_thread, self._forget_rows)
        self.f["hosts"] = len(self.hosts.hosts)
        self.f["hosts_setup_s"] = round(time.monotonic() - t0, 2)

        worker = BackgroundWorker()
        stack.push_async_callback(asyncio.to_thread, worker.stop)
        t1 = time.monotonic()
        await asyncio.to_thread(worker.start)
        self.f["worker_start_s"] = round(time.monotonic() - t1, 2)
        try:  # without it the decision agent decides reactively (and says so): go on
            await serving
            self.f["serving_ready_s"] = round(time.monotonic() - t0, 2)
        except Exception as exc:
            self.f["error_serving"] = f"{type(exc).__name__}: {exc}"[:300]

        self.api_url = await self._serve_api(stack)
        self.stop = asyncio.Event()
        self._tap_ready = asyncio.Event()
        tap = asyncio.create_task(self._tap())

        self.collector = asyncio.create_task(run_collector(
            settings, fleet, self.stop, interval_s=self.p.collector_interval_s))

        async def stop_tasks() -> None:
            self.stop.set()
            await asyncio.gather(tap, return_exceptions=True)
            res = await asyncio.gather(self.collector, return_exceptions=True)
            self.collector_stats = res[0]
        stack.push_async_callback(stop_tasks)
        await self._tap_ready.wait()
        self.f["setup_s"] = round(time.monotonic() - t0, 2)

    async def _serve_api(self, stack: contextlib.AsyncExitStack) -> str:
        """The API as ``novacron api`` serves it (uvicorn, one worker), in a thread here."""
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config("novacron.api.app:app", host="127.0.0.1",
                                               port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, name="bench-api", daemon=True)
        thread.start()

        def stop() -> None:
            server.should_exit = True
            thread.join(15)
        stack.push_async_callback(asyncio.to_thread, stop)
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            await asyncio.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    async def _tap(self) -> None:
        """Decisions and metric batches as they appear on the broker, from now on."""
        consumer = AIOKafkaConsumer(topics.DECISIONS.name, topics.METRICS_RAW.name,
                                    topics.FEATURES.name,
                                    bootstrap_servers=self.settings.kafka_bootstrap,
                                    group_id=f"bench-real-fleet-tap-{RUN}",
                                    auto_offset_reset="latest", enable_auto_commit=False)
        await consumer.start()
        try:
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=100)
            for tp in consumer.assignment():
                await consumer.position(tp)
            self._tap_ready.set()
            while not self.stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                now = time.monotonic()
                for tp, records in batch.items():
                    for r in records:
                        with contextlib.suppress(ValueError):
                            if tp.topic == topics.DECISIONS.name:
                                self.seen.decisions.append((now, decode(Decision, r.value)))
                            elif tp.topic == topics.FEATURES.name:
                                self.seen.features.append((now, decode(FeatureVector, r.value)))
                            else:
                                self.seen.batches.append((now, decode(MetricBatch, r.value)))
        finally:
            self._tap_ready.set()
            await consumer.stop()

    def _forget_rows(self) -> None:
        """This run's hosts and VMs out of the shared database (placement decisions stay as
        the record of what was decided)."""
        ids = [h.id for h in self.hosts.hosts]
        with self.rt.sessions.begin() as s:
            vms = list(s.scalars(select(models.VM.vm_id).where(models.VM.host_id.in_(ids))))
            vms += [v for v in self.placed if v not in vms]
            s.execute(delete(models.DecisionOutbox).where(models.DecisionOutbox.target_id.in_(vms)))
            s.execute(delete(models.VM).where(models.VM.vm_id.in_(vms)))
            s.execute(delete(models.Host).where(models.Host.host_id.in_(ids)))

    # ------------------------------------------------------------------ helpers

    def database_answers(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with self.rt.sessions() as s:
                    s.execute(select(1))
                return True
            except SQLAlchemyError:
                time.sleep(0.5)
        return False

    def where(self, vm: str) -> dict[str, Any]:
        return where(self.fleet, vm)

    async def wait(self, what: str, ok: Callable[[], bool], timeout_s: float,
                   every_s: float = 0.05) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if await asyncio.to_thread(ok):
                return time.monotonic() - start
            await asyncio.sleep(every_s)
        raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")

    def outcome(self, decision_id: str) -> dict[str, Any] | None:
        with self.rt.sessions() as s:
            row = s.get(models.PlacementDecision, uuid.UUID(decision_id))
            return row.outcome if row is not None else None

    # ------------------------------------------------------------------ steps

    async def bare_starts(self) -> None:
        """Baseline: define and start the same diskless guest straight through libvirt."""
        def one(i: int) -> float:
            host = self.hosts.hosts[i % len(self.hosts.hosts)].id
            conn = self.fleet.host(host).get()
            spec = tiny_guest(f"rf-{RUN}-bare-{i}", host, self.p.memory_mib)
            t = time.monotonic()
            dom = conn.defineXML(domain_xml(spec, domain_type(conn)))
            dom.create()
            took = time.monotonic() - t
            dom.destroy()
            dom.undefine()
            return took

        times = [await asyncio.to_thread(one, i) for i in range(max(3, self.p.idle_vms))]
        self.f["bare_start_s"] = _median(times)

    async def place(self, client: Any, vm: str, disk: Path | None = None) -> tuple[bool, float]:
        """POST a placement, then wait for the VM running on the chosen host and the outcome:
        (placed at the first attempt, seconds from the request to running)."""
        body: dict[str, Any] = {
            "vm": {"vm_id": vm, "vcpus": 1, "memory_mib": self.p.memory_mib,
                   "labels": {"app": f"bench-{RUN}"}},
            "host_affinity": [{"label": "bench", "values": [RUN]}]}
        if disk is not None:
            body["vm"]["disks"] = [{"source": str(disk), "target": "hda", "bus": "ide",
                                    "format": "raw"}]
        t = time.monotonic()
        r = await client.post("/v2/placements", json=body)
        if r.status_code != 200:
            raise RuntimeError(f"POST /v2/placements for {vm}: {r.status_code} {r.text[:300]}")
        d = r.json()
        if d.get("status") != "placed":
            refused = f"{vm}: {d.get('status')} ({str(d.get('explanation', ''))[:120]})"
            self.f["placement_refusals"] = "; ".join(
                x for x in (self.f.get("placement_refusals"), refused) if x)
            return False, 0.0
        host = d["target_host"]
        self.placed[vm] = host
        await self.wait(f"{vm} running on {host}",
                        lambda: self.where(vm)["running_on"] == [host], 60)
        took = time.monotonic() - t
        await self.wait(f"the outcome of placing {vm}",
                        lambda: self.outcome(d["decision_id"]) is not None, 30, 0.1)
        return True, took

    async def placements(self) -> None:
        first, times = 0, []
        names = [f"rf-{RUN}-idle-{i}" for i in range(self.p.idle_vms)]
        busy = f"rf-{RUN}-busy"
        async with httpx.AsyncClient(base_url=self.api_url, timeout=30,
                                     headers={"Authorization": f"Bearer {self.token}"}) as c:
            for vm in names:
                ok, took = await self.place(c, vm)
                first += ok
                if ok:
                    times.append(took)
            disk = self.work / f"{busy}.img"
            write_image(disk, "busy")
            ok, took = await self.place(c, busy, disk)
            if ok:
                self.busy_vm, self.busy_running_at = busy, time.monotonic()
                times.append(took)
                self.f["busy_vm_boost"] = (self.boost(busy, BUSY_NICE) if self.p.boost_busy
                                           else "none")
            first += ok
        total = len(names) + 1
        self.f["vms"] = total
        self.f["first_attempt_success_pct"] = round(100 * first / total, 1)
        running = 0
        for vm, host in self.placed.items():

            with self.rt.sessions() as s:
                outcome = s.scalars(select(models.PlacementDecision.outcome).where(
                    models.PlacementDecision.vm_id == vm)).first()
            if (outcome or {}).get("status") == "succeeded" and \
                    self.where(vm)["running_on"] == [host]:
                running += 1
        self.f["api_placements_running_pct"] = round(100 * running / total, 1)
        self.f["place_to_running_s"] = _median(times)
        if self.f.get("bare_start_s") and times:
            self.f["place_to_running_vs_bare_ratio"] = round(
                statistics.median(times) / self.f["bare_start_s"], 1)

    async def collector_coverage(self) -> None:
        """After two more intervals: per host, its latest batch's VMs with a CPU sample, over
        the VMs libvirt runs there at that moment."""
        await asyncio.sleep(2.5 * self.p.collector_interval_s)
        latest: dict[str, Any] = {}
        for _, b in self.seen.batches:
            if b.host_id in {h.id for h in self.hosts.hosts}:
                latest[b.host_id] = b
        running, reporting = 0, 0
        for h in self.hosts.hosts:
            doms = self.fleet.host(h.id).get().listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
            names = {d.name() for d in doms}
            b = latest.get(h.id)
            sampled = {s.vm_id for s in b.samples if s.metric == MetricName.CPU} if b else set()
            running += len(names)
            reporting += len(names & sampled)
        self.f["collector_running_vms"] = running
        self.f["collector_vms_reporting_pct"] = round(100 * reporting / running, 1) if running else None

    def boost(self, vm: str, nice: int) -> str:
        """Give the guest's host session the scheduler's priority ``nice``. With autogroup
        scheduling (this machine's default) each session gets an equal share of the CPU, so
        on a 2-core machine shared with other work a spinning vCPU gets 20-70 % of a core,
        below the 80 % scale-up threshold; on a real host its vCPU has a core of its own.
        The group is the host's libvirtd session: its other guests idle."""
        for h in self.hosts.hosts:
            for pid in h.qemu_pids():
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if any(arg.startswith(f"guest={vm},".encode()) or arg == f"guest={vm}".encode()
                       for arg in cmdline):
                    try:
                        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
                    except OSError as exc:
                        return f"not boosted: {exc}"
                    return f"autogroup nice {nice}"
        return f"not boosted: no QEMU process of {vm} found"

    async def scale_decision(self) -> None:
        """From the busy guest running to the first vCPU decision for it."""
        if self.busy_vm is None or self.busy_running_at is None:
            raise RuntimeError("the busy guest was not placed")
        vm, start = self.busy_vm, self.busy_running_at
        self.f["feature_window_s"] = self.p.window_s
        self.f["collector_interval_s"] = self.p.collector_interval_s

        def found() -> Any:
            return next(((t, d) for t, d in self.seen.decisions
                         if d.target_id == vm and d.action == ActionKind.SCALE_VCPU), None)
        try:
            await self.wait(f"a vCPU decision for {vm}", lambda: found() is not None,
                            max(60.0, 8 * self.p.window_s), 0.1)
        finally:
            if self.p.boost_busy:
                self.boost(vm, 0)
            other = [d.action.value for _, d in self.seen.decisions if d.target_id == vm]
            self.f["busy_vm_decisions_seen"] = ",".join(other) or "none"
            cpu = [(t, fv) for t, fv in self.seen.features
                   if fv.vm_id == vm and fv.metric == MetricName.CPU]
            self.f["busy_vm_cpu_features_seen"] = len(cpu)
            if cpu:
                self.f["busy_vm_first_cpu_feature_s"] = round(cpu[0][0] - start, 2)
                # What the decision agent saw: (seconds after running, CPU % of the vCPU).
                self.f["busy_vm_cpu_pct_series"] = " ".join(
                    f"{t - start:.1f}s:{fv.last:.0f}" for t, fv in cpu[:12])
        at, d = found()
        took = at - start
        over = next((t for t, fv in self.seen.features if fv.vm_id == vm
                     and fv.metric == MetricName.CPU and fv.last >= 100 * SCALE_UP_THRESHOLD), None)
        if over is not None and over <= at:
            # The chain's own reaction: the first feature past the threshold -> the decision.
            self.f["over_threshold_to_scale_decision_s"] = round(at - over, 2)
        self.f["load_to_scale_decision_s"] = round(took, 2)
        self.f["load_to_scale_decision_windows"] = round(took / self.p.window_s, 2)
        self.f["scale_decision"] = (f"vcpus {d.params.get('previous_vcpus')}->{d.params.get('vcpus')} "
                                    f"by {d.decided_by}: {d.explanation[:160]}")

    async def remove_busy(self) -> None:
        """The busy guest goes (it spins a core of this 2-core machine, and a guest with a
        local disk is not live-migrated): the operator's delete through the API."""
        if self.busy_vm is None:
            return
        vm = self.busy_vm
        async with httpx.AsyncClient(base_url=self.api_url, timeout=30,
                                     headers={"Authorization": f"Bearer {self.token}"}) as c:
            r = await c.delete(f"/v1/vms/{vm}")
        if r.status_code != 204:
            raise RuntimeError(f"DELETE /v1/vms/{vm}: {r.status_code} {r.text[:200]}")
        await self.wait(f"{vm} undefined", lambda: self.where(vm)["copies"] == {}, 30, 0.1)
        self.placed.pop(vm, None)

    async def consolidation(self) -> None:
        t = time.monotonic()
        report = await asyncio.to_thread(consolidate, self.fleet, PgLedger(self.rt.sessions),
                                         ConsolidationSettings(overcommit_cpu=4.0,
                                                               time_limit_s=1.0))
        done = [r for r in report.results if r.status == ActionStatus.SUCCEEDED]
        downtimes = [float(r.after["downtime_ms"]) for r in done if "downtime_ms" in r.after]
        elapsed = [float(r.after["migration"]["elapsed_ms"]) for r in done
                   if isinstance(r.after.get("migration"), dict)
                   and "elapsed_ms" in r.after["migration"]]
        self.f["consolidation_moves_planned"] = len(report.plan.decisions)
        self.f["live_migrations_completed"] = len(downtimes)
        self.f["live_migration_downtime_ms"] = _median(downtimes)
        self.f["live_migration_elapsed_ms"] = _median(elapsed)
        self.f["consolidation_hosts_freed"] = len(report.freed)
        self.f["consolidation_s"] = round(time.monotonic() - t, 2)
        if report.stopped:
            self.f["consolidation_stopped"] = report.stopped[:300]

    async def host_failure(self) -> None:
        """The host running most of the guests loses power; the live heal agent fences it
        and restarts its guests elsewhere; then it comes back and its stale copies go."""
        # The worker's own module state; imported only now, since the Faust app must first
        # be imported on the worker's thread (streams.worker.BackgroundWorker).
        from novacron.streams import heal

        counts = {h.id: [v for v in self.placed if self.where(v)["running_on"] == [h.id]]
                  for h in self.hosts.hosts}
        victim_id = max(counts, key=lambda h: len(counts[h]))
        vms = counts[victim_id]
        if not vms:
            raise RuntimeError("no placed guest runs anywhere: nothing to fail")
        victim = self.hosts.host(victim_id)
        self.f["healer_host_timeout_s"] = self.p.host_timeout_s
        self.f["host_failure_vms"] = len(vms)
        crashed_at = victim.crash()

        def elsewhere() -> bool:
            return all(self.where(v)["running_on"] not in ([], [victim_id]) for v in vms)
        try:
            await self.wait(f"{victim_id}'s guests running elsewhere", elsewhere, 90, 0.1)
        finally:
            if heal._hosts is not None and victim_id in heal._hosts.lost:
                self.f["host_loss_detected_ms"] = round(
                    (heal._hosts.lost[victim_id].at - crashed_at) * 1000, 1)
            if heal._loop is not None:
                fences = [f for f in heal._loop.healer.fence_log if f.request.host_id == victim_id]
                if fences:
                    self.f["host_fence"] = f"{fences[-1].method}: fenced={fences[-1].fenced}"
        self.f["host_failure_recovery_s"] = round(time.monotonic() - crashed_at, 2)
        self.f["host_failure_recovered_by"] = "live worker heal agent (power fence, cold moves)"
        twice = [v for v in vms if len(self.where(v)["running_on"]) != 1]
        self.f["host_failure_double_running"] = len(twice)

        await asyncio.to_thread(victim.restart)
        t = time.monotonic()

        def clean() -> bool:
            names = {d.name() for d in self.fleet.host(victim_id).get().listAllDomains()}
            return not names & set(vms)
        await self.wait(f"the stale copies on {victim_id} undefined", clean, 30, 0.1)
        self.f["stale_copies_cleared_s"] = round(time.monotonic() - t, 2)


async def run(p: Params) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    bench = Bench(p, figures)
    t0 = time.monotonic()

    async def step(name: str, fn: Callable[[], Awaitable[None]], retry: bool = True) -> None:
        """Run a step; a failure is recorded and the next step runs. A step safe to repeat is
        tried once more after the database answers: the machine's PostgreSQL is shared, and
        other work may stop it for a few seconds."""
        for attempt in (1, 2):
            try:
                await fn()
                return
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("step %s failed:\n%s", name, traceback.format_exc())
                if attempt == 1 and retry:
                    figures[f"retried_{name}"] = why
                    await asyncio.to_thread(bench.database_answers, 60.0)
                    continue
                figures[f"error_{name}"] = why

    async with contextlib.AsyncExitStack() as stack:
        try:
            await bench.setup(stack)
        except Exception as exc:
            figures["error_setup"] = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("set-up failed:\n%s", traceback.format_exc())
            return figures
        await step("bare_start", bench.bare_starts, retry=False)
        await step("placement", bench.placements, retry=False)
        await step("collector", bench.collector_coverage)
        await step("scale_decision", bench.scale_decision)
        await step("remove_busy", bench.remove_busy)
        await step("live_migration", bench.consolidation)
        await step("host_failure", bench.host_failure, retry=False)
    stats = getattr(bench, "collector_stats", None)
    if stats is not None and not isinstance(stats, BaseException):
        cpu = stats.collector_cpu_ms_per_vm_sample
        figures["collector_cpu_ms_per_vm_sample"] = round(cpu, 3) if cpu is not None else None
        figures["collector_vm_samples"] = stats.vm_samples
        share = stats.reporting_share
        figures["collector_reporting_share_all_reads_pct"] = \
            round(100 * share, 1) if share is not None else None
    elif stats is not None:
        figures["error_collector_run"] = repr(stats)[:300]
    figures["wall_s"] = round(time.monotonic() - t0, 1)
    return figures


def summary(f: dict[str, Any]) -> str:
    def g(k: str) -> Any:
        return f.get(k, "n/a")
    errors = [k.removeprefix("error_") for k in f if k.startswith("error_")]
    return (f"real_fleet: {g('hosts')} hosts, {g('vms')} VMs placed via the API, "
            f"{g('api_placements_running_pct')} % running (place->running {g('place_to_running_s')} s "
            f"vs bare start {g('bare_start_s')} s, x{g('place_to_running_vs_bare_ratio')}), "
            f"{g('collector_vms_reporting_pct')} % reporting, scale decision "
            f"{g('load_to_scale_decision_s')} s ({g('load_to_scale_decision_windows')} windows of "
            f"{g('feature_window_s')} s), {g('live_migrations_completed')} live migrations "
            f"(downtime median {g('live_migration_downtime_ms')} ms), host recovery "
            f"{g('host_failure_recovery_s')} s (host timeout {g('healer_host_timeout_s')} s)"
            + (f"; failed steps: {', '.join(errors)}" if errors else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="under a minute: 2 idle guests, 2 s windows, a 6 s host timeout")
    ap.add_argument("--shared-broker", action="store_true",
                    help="use the configured broker; by default the bench runs a Tansu of its "
                         "own, so other work's traffic on the shared topics is not in the figures")
    ap.add_argument("--boost-busy-guest", action="store_true",
                    help="give the busy guest's QEMU autogroup nice -10 while its load is measured: "
                         "on a 2-core machine shared with other work a spinning vCPU may get "
                         "well under a core, below the scale-up threshold (off by default)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench.real_fleet runs system-mode libvirt daemons: run it as root")
    # Set before anything reads the settings: a consumer group and a forecast server of this
    # run's own, reading from the topics' end (the broker keeps earlier runs' events).
    os.environ["NOVACRON_CONSUMER_GROUP"] = f"bench-real-fleet-{RUN}"
    os.environ["NOVACRON_CONSUMER_OFFSET_RESET"] = "latest"
    os.environ["NOVACRON_SERVING_URL"] = f"http://127.0.0.1:{_free_port()}"
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    if not args.shared_broker:
        os.environ["NOVACRON_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{_free_port()}"
        os.environ["NOVACRON_BROKER_ENGINE"] = "memory"
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    p = (Params(hosts=3, idle_vms=2, collector_interval_s=1.0, window_s=2.0, host_timeout_s=6.0)
         if args.quick else
         Params(hosts=3, idle_vms=6, collector_interval_s=2.0, window_s=5.0, host_timeout_s=15.0))
    p.own_broker = not args.shared_broker
    p.boost_busy = args.boost_busy_guest
    figures = asyncio.run(run(p))
    figures = {"quick": args.quick, **figures}
    write_and_show("real_fleet", figures)
    print(summary(figures))


if __name__ == "__main__":
    main()
