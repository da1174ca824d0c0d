"""Faults under a steady replay, on real services and real libvirt hosts: worker and actuator
killed, PostgreSQL stopped, the broker restarted, serving killed; what was lost, repeated,
left without a forecast or left running twice.

The stream worker runs as a process of its own (``bench.fault_worker``: every agent, the
actuator included) on 24 VMs: 6 real QEMU guests (TCG, 48 MiB, diskless, 2 of up to 8 vCPUs,
ACPI on) on 2 real libvirt hosts (actuators.local_hosts: a system-mode libvirtd per host in
its own mount namespace, outside the worker, so their state outlives every kill), and 18 VMs
on 2 libvirt test-driver hosts (which live inside the worker process: their state starts
again with each worker). Domain UUIDs are fixed per VM name (decision ids include them). The
bench starts a Kafka-protocol broker of its own (Tansu, memory engine, on a free port, as
novacron.services starts the shared one), so that it can restart it and so that no other
worker on the machine reads the run's features (their outcomes would mix with the worker's
in the TSDB). The worker consumes in a consumer group of the run's own with a 3 s session
timeout (the default 10 s is for production: a SIGKILLed member is waited for that long
before its partitions are handed to the restarted one). The bench process runs the BentoML
forecast service on a free port and the trace replayer (``streams.replay.Replayer``, 240
minutes of backfill, then one minute of event time per wall second: 60x), and reads
novacron.features, .decisions and .actions and the time-series DB. Faults, in this order:

* ``rounds`` kills (SIGKILL) of the worker, restarted at once as a supervisor would: even
  rounds at a random moment; odd rounds (the actuator) the moment a decision of ours, for a
  real guest if one comes within 10 s (2 s with --quick), appears on novacron.decisions
  without its action result, so the actuator is killed while it acts (it lives in the worker process). After
  each round every real host is read: a VM running on two hosts is counted;
* the forecast service stopped for ``serving_down_s``, then started again;
* PostgreSQL stopped for ``pg_outage_s`` (``pg_ctlcluster``, as tests/e2e/test_pg_outage does),
  then started again;
* the broker stopped and started again (its memory engine comes back without topics or
  offsets: what streams.broker_watch is for).

The measured span runs from the first live minute for which every VM had a feature to the
minute before the replay's clock just before the broker restart, which waits up to
``tail_s`` for the worker to publish and decide that minute (a memory broker drops what it
held, so that restart is measured on its own, below).

Figures:
* ``windows_lost``: (VM, emit period) pairs of the span with a live sample on
  novacron.metrics.raw and no feature vector published for them (the replayer sends every VM
  every minute, and the emit period is the minute).
* ``decisions_lost``: decisions of ours published before the broker restart with no
  ActionResult on novacron.actions by the end (those of the restart: on their own).
* ``duplicate_actions``: effects applied twice: per (VM, action, decision event time), the
  succeeded ActionResults beyond the first that were not a repeat recognised by the ledger
  ("already in the decided state").
* ``double_running_vms``: VMs found running on two real hosts at any check (after every
  round, after each outage and at the end); the test-driver hosts cannot be read from
  outside the worker and are not counted.
* ``worker_crashes``: worker processes that ended without being killed by the bench.
* ``pg_outage_write_gap_s``: from PostgreSQL answering again to the first ActionResult of
  ours published after it (the actuator claims a decision in PostgreSQL before acting, so a
  result means the worker writes again); None if no decision came within 60 s.
* ``broker_restart_recovered``: 1 if, after the broker is back, metrics sent after it came
  back produce features and decisions again with no restart by hand (of the worker or the
  replayer) within ``recovery_timeout_s``; else 0.
* ``serving_down_fallback_pct``: of the vectors published while the forecast service was
  down (from 1 s after it stopped to 1 s before it started again), the share whose outcome is
  an explicit fallback for serving (``serving_down`` or ``serving_timeout``).
* ``forecast_coverage_pct``: of the span's published vectors, the share with a forecast or an
  explicit fallback outcome in the TSDB (streams.coverage); the ones without are listed.
Also: restart and resume times per kill, features published twice, the outcome counts.

Run: python -m bench.faults [--quick]   (as root: the real hosts are system-mode daemons;
--quick: 2 kills and outages of seconds, under a minute)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REAL_HOSTS, REAL_VMS_PER_HOST = 2, 3  # real QEMU guests: what two shared cores carry
TEST_HOSTS, TEST_VMS_PER_HOST = 2, 9
GUEST_MIB = 48
SPEED = 60.0
WARMUP_POINTS = 240
SESSION_TIMEOUT_S = 3.0
_UUIDS = uuid.UUID("6f1d3c52-6a36-4d55-9d33-2f8e3b1f7a10")


@dataclass(frozen=True)
class Plan:
    rounds: int
    serving_down_s: float
    pg_outage_s: float
    settle_s: float  # between faults
    recovery_timeout_s: float  # for features and decisions after the broker restart
    tail_s: float  # for the last minute's features and the last decisions' results


QUICK = Plan(rounds=2, serving_down_s=4.0, pg_outage_s=3.0, settle_s=0.3, recovery_timeout_s=20.0,
             tail_s=4.0)
FULL = Plan(rounds=20, serving_down_s=20.0, pg_outage_s=30.0, settle_s=3.0, recovery_timeout_s=60.0,
            tail_s=30.0)


_T0 = time.monotonic()


def _say(what: str) -> None:
    print(f"faults: [{time.monotonic() - _T0:5.1f} s] {what}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _domain_uuid(name: str) -> str:
    return str(uuid.uuid5(_UUIDS, name))


# ------------------------------------------------------------------------------ the fleet


def start_real_guests(hosts: Any, vms: list[tuple[str, str]]) -> None:
    """The real guests (vm_id, host_id), defined and started. ACPI on, so a vCPU unplug is
    asked of the guest (which, diskless, never answers: scale-downs fail)."""
    import libvirt
    from novacron.actuators.placement_state import domain_type
    from novacron.actuators.xml import DomainSpec, domain_xml

    uris = {h.id: h.uri for h in hosts.hosts}
    for name, host_id in vms:
        conn = libvirt.open(uris[host_id])
        try:
            spec = DomainSpec(name=name, vcpus=2, max_vcpus=8, memory_mib=GUEST_MIB,
                              max_memory_mib=GUEST_MIB, labels={"app": "faults"})
            root = ET.fromstring(domain_xml(spec, domain_type(conn)))
            u = ET.Element("uuid")
            u.text = _domain_uuid(name)
            root.insert(1, u)
            features = ET.SubElement(root, "features")
            ET.SubElement(features, "acpi")
            conn.defineXML(ET.tostring(root, encoding="unicode")).create()
        finally:
            conn.close()


def write_fleet(directory: Path, prefix: str, real: Any,
                real_vms: list[tuple[str, str]]) -> tuple[Path, list[tuple[str, str]]]:
    """Test-driver host files (domain UUIDs fixed, so a restarted worker's decision ids are
    the same) and the inventory of every host; all (vm_id, host_id) pairs."""
    from novacron.actuators import simfleet
    from novacron.actuators.xml import DomainSpec, HostSpec, NumaCell, host_xml

    from novacron import inventory as inv

    specs: list[HostSpec] = []
    vms: list[tuple[str, str]] = list(real_vms)
    for h in range(TEST_HOSTS):
        name = f"{prefix}host-{h}"
        domains = tuple(DomainSpec(name=f"{prefix}vm-{h}-{v}", vcpus=2, max_vcpus=8, memory_mib=2048,
                                   max_memory_mib=8192, labels={"app": "faults"})
                        for v in range(TEST_VMS_PER_HOST))
        spec = HostSpec(name=name, cpus=32, memory_mib=131072,
                        numa=(NumaCell(16, 65536), NumaCell(16, 65536)),
                        labels={"rack": f"rack-{h % 2}", "zone": "zone-0"}, domains=domains)
        root = ET.fromstring(host_xml(spec))
        for dom in root.iter("domain"):
            u = ET.Element("uuid")
            u.text = _domain_uuid(dom.findtext("name") or "")
            dom.insert(1, u)
        (directory / f"{name}.xml").write_text(ET.tostring(root, encoding="unicode"))
        specs.append(spec)
        vms.extend((d.name, name) for d in domains)
    simulated = simfleet.inventory_of(directory, specs)
    entries = simulated.hosts + tuple(inv.HostEntry(id=h.id, uri=h.uri, rack=h.rack, zone=h.zone)
                                      for h in real.hosts)
    path = directory / "inventory.yaml"
    path.write_text(inv.dump_inventory(inv.Inventory(entries, source=str(path))))
    return path, vms


def record_fleet(settings: Any, inventory: Path, vms: list[tuple[str, str]], real: set[str]) -> None:
    from novacron.store import repository
    from novacron.store.db import session_factory

    from novacron.inventory import load_inventory

    sessions = session_factory(settings.database_url)
    with sessions.begin() as s:
        for host in load_inventory(inventory).hosts:
            repository.upsert_host(s, host.id, host.uri, 32, 131072, {"rack": host.rack,
                                                                      "zone": host.zone})
        for vm, host_id in vms:
            repository.upsert_vm(s, vm, host_id, 2, GUEST_MIB if vm in real else 2048,
                                 {"app": "faults"})


def running_copies(uris: list[str], prefix: str) -> Counter[str]:
    """VM name -> the real hosts it runs on, read from every host's libvirtd."""
    import libvirt

    copies: Counter[str] = Counter()
    for uri in uris:
        conn = libvirt.open(uri)
        try:
            for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                if dom.name().startswith(prefix):
                    copies[dom.name()] += 1
        finally:
            conn.close()
    return copies


# ------------------------------------------------------------------------------ the broker


class OwnBroker:
    """A Tansu of the bench's own (memory engine) on a free port, started and stopped the way
    novacron.services starts the shared one; its pid file and log in the run's folder."""

    def __init__(self, settings: Any, directory: Path) -> None:
        from novacron.services import Broker

        self.bootstrap = f"127.0.0.1:{_free_port()}"
        own = settings.model_copy(update={"kafka_bootstrap": self.bootstrap,
                                          "state_dir": directory, "broker_engine": "memory"})
        self.service = Broker("faults-broker", own)
        self.settings = own

    def start(self) -> None:
        self.service.start()

    def stop(self) -> None:
        """Killed (SIGKILL): Tansu takes ~10 s to end on SIGTERM, and a crash is the
        harder case for the clients."""
        pid_path = self.service.pid_path
        if pid_path.exists():
            pid = int(pid_path.read_text())
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)  # started by this process: reaped here
            pid_path.unlink()


# ------------------------------------------------------------------------------ observing


@dataclass
class Seen:
    """What the bench read from the topics, for the run's VMs only."""

    prefix: str
    features: list[tuple[str, datetime, float]] = field(default_factory=list)  # vm, at, arrival
    decisions: dict[uuid.UUID, Any] = field(default_factory=dict)
    decision_log: list[tuple[uuid.UUID, str, float]] = field(default_factory=list)  # id, vm, arrival
    decision_offsets: dict[uuid.UUID, tuple[int, int]] = field(default_factory=dict)  # partition, offset
    actions: list[tuple[Any, float]] = field(default_factory=list)
    answered: set[uuid.UUID] = field(default_factory=set)
    broker_restarting: asyncio.Event = field(default_factory=asyncio.Event)
    positions_reset: asyncio.Event = field(default_factory=asyncio.Event)


async def observe(bootstrap: str, seen: Seen, started: asyncio.Event, stop: asyncio.Event) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaError

    from novacron import topics
    from novacron.events import ActionResult, Decision, FeatureVector, decode

    names = (topics.FEATURES.name, topics.DECISIONS.name, topics.ACTIONS.name)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=50)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in names for p in sorted(consumer.partitions_for_topic(t) or [])]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        started.set()
        mark = seen.prefix.encode()
        while not stop.is_set():
            try:
                batch = await consumer.getmany(timeout_ms=50)
            except KafkaError:
                await asyncio.sleep(0.2)
                continue
            now = time.monotonic()
            for tp, records in batch.items():
                for r in records:
                    if r.value is None or mark not in r.value:
                        continue
                    if tp.topic == topics.FEATURES.name:
                        fv = decode(FeatureVector, r.value)
                        if not fv.backfill and fv.vm_id.startswith(seen.prefix):
                            seen.features.append((fv.vm_id, fv.occurred_at, now))
                    elif tp.topic == topics.DECISIONS.name:
                        d = decode(Decision, r.value)
                        if d.target_id.startswith(seen.prefix) and d.decision_id not in seen.decisions:
                            seen.decisions[d.decision_id] = d
                            seen.decision_offsets[d.decision_id] = (tp.partition, r.offset)
                            seen.decision_log.append((d.decision_id, d.target_id, now))
                    else:
                        a = decode(ActionResult, r.value)
                        if a.target_id.startswith(seen.prefix):
                            seen.actions.append((a, now))
                            seen.answered.add(a.decision_id)
            if seen.broker_restarting.is_set() and not seen.positions_reset.is_set():
                # A restarted memory broker numbers every partition from 0 again: read the
                # new ones from their start. (Not by comparing positions with end offsets:
                # Tansu reports a partition's end as its last batch's base offset + 1.)
                for tp in tps:
                    consumer.seek(tp, 0)
                seen.positions_reset.set()
    finally:
        await consumer.stop()


class WorkerProcess:
    """The worker in its own process; killed with SIGKILL and started again."""

    def __init__(self, inventory: Path, env: dict[str, str], log: Path) -> None:
        self.inventory, self.env, self.log = inventory, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_file = inventory.parent / "ready"
        self.crashes = 0
        self.starts = 0

    def start(self) -> float:
        """Start it; the monotonic time it was started."""
        self.ready_file.unlink(missing_ok=True)
        self.starts += 1
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.fault_worker", str(self.inventory), str(self.ready_file),
                 str(SESSION_TIMEOUT_S)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return time.monotonic()

    async def ready(self, timeout_s: float = 120.0) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                return time.monotonic()
            self.check()
            await asyncio.sleep(0.05)
        raise TimeoutError(f"the worker was not consuming within {timeout_s:.0f} s (see {self.log})")

    def check(self) -> None:
        """A worker that ended by itself is a crash: counted and started again."""
        if self.proc is not None and self.proc.poll() is not None:
            self.crashes += 1
            if self.crashes > 10:
                raise RuntimeError(f"the worker keeps exiting by itself (see {self.log})")
            _say(f"the worker exited by itself (code {self.proc.returncode}); starting it again")
            self.start()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None


def _pg(action: str) -> None:
    from novacron.services import _pg_cluster

    version, cluster = _pg_cluster()
    cmd = ["pg_ctlcluster", version, cluster, action] + (["-m", "fast"] if action == "stop" else [])
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 2):  # 2: already in that state
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")


def _pg_answers(url: str) -> bool:
    import psycopg
    from novacron.store.aio import conninfo

    try:
        with psycopg.connect(conninfo(url), connect_timeout=1) as conn:
            conn.execute("select 1")
        return True
    except psycopg.OperationalError:
        return False


async def _tsdb_outcomes(url: str, prefix: str, at: datetime | None = None,
                         ) -> dict[tuple[str, int], list[tuple[str, str]]]:
    """(vm_id, event time s) -> [(outcome, reason)], one per point, from the TSDB's raw points
    (those at ``at`` only, if given)."""
    import httpx
    from novacron.streams import coverage

    out: dict[tuple[str, int], list[tuple[str, str]]] = defaultdict(list)
    params = {"match[]": f'{coverage.MEASUREMENT}_n{{vm_id=~"{prefix}.*"}}'}
    if at is not None:
        params |= {"start": str(int(at.timestamp())), "end": str(int(at.timestamp()))}
    async with httpx.AsyncClient(base_url=url, timeout=30) as tsdb:
        resp = await tsdb.get("/api/v1/export", params=params)
    for line in resp.text.splitlines():
        if line.strip():
            row = json.loads(line)
            m = row["metric"]
            for ts in row["timestamps"]:
                out[(m["vm_id"], ts // 1000)].append((m["outcome"], m["reason"]))
    return out


async def _settled_outcomes(url: str, prefix: str, timeout_s: float,
                            ) -> dict[tuple[str, int], list[tuple[str, str]]]:
    """The outcome points once two reads 2 s apart agree: the TSDB makes points searchable
    a few seconds after they are written, and the last ones are written as the worker
    catches up (a read 8 s after the replay once missed 7 that were there later)."""
    def decided(points: dict[tuple[str, int], list[tuple[str, str]]]) -> set[tuple[str, int]]:
        return {k for k, v in points.items() if any(o in ("forecast", "fallback") for o, _ in v)}

    deadline = time.monotonic() + timeout_s
    outcomes = await _tsdb_outcomes(url, prefix)
    while time.monotonic() < deadline:
        await asyncio.sleep(2.0)
        again = await _tsdb_outcomes(url, prefix)
        if decided(again) == decided(outcomes):
            return again
        outcomes = again
    return outcomes


async def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets on ``topic`` (partition -> offset), read without joining
    the group (Tansu's answer to the admin client's OffsetFetch does not parse)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        out: dict[int, int] = {}
        for p in sorted(consumer.partitions_for_topic(topic) or []):
            offset = await consumer.committed(TopicPartition(topic, p))
            if offset is not None:
                out[p] = offset
        return out
    finally:
        await consumer.stop()


async def _wait(pred: Any, timeout_s: float, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(step_s)
    return bool(pred())


async def _decision_in_flight(seen: Seen, real: set[str], timeout_s: float) -> tuple[uuid.UUID | None, str]:
    """The first new decision without its action result: for a real guest if one comes
    within a third of ``timeout_s``, else any; (None, "") if none comes."""
    start = len(seen.decision_log)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        any_real = time.monotonic() - t0 < timeout_s / 3
        for decision_id, vm, _ in seen.decision_log[start:]:
            if decision_id not in seen.answered and (vm in real or not any_real):
                return decision_id, vm
        await asyncio.sleep(0.01)
    return None, ""


# ------------------------------------------------------------------------------ the run


async def run(quick: bool, seed: int) -> dict[str, Any]:
    plan = QUICK if quick else FULL
    rng = random.Random(seed)
    rid = uuid.uuid4().hex[:6]
    prefix = f"flt{rid}-"
    port = _free_port()
    directory = Path(tempfile.mkdtemp(prefix="faults-"))
    os.environ["NOVACRON_SERVING_URL"] = f"http://127.0.0.1:{port}"
    os.environ["NOVACRON_CONSUMER_GROUP"] = f"bench-faults-{rid}"
    # Every message on the run's own broker is the run's: a partition with no committed
    # offset yet (a decisions partition whose first message came while the worker was
    # down) is read from its start, not skipped to its end.
    os.environ["NOVACRON_CONSUMER_OFFSET_RESET"] = "earliest"
    from novacron.actuators.local_hosts import LocalHosts
    from novacron.serving.launcher import BentoServer
    from novacron.streams.replay import Replayer, plan_traces, replay_series

    from novacron.kafka_admin import ensure_topics
    from novacron.services import start_all
    from novacron.settings import get_settings

    shared = get_settings()
    start_all(shared, ["postgres", "tsdb"])
    broker = OwnBroker(shared, directory)
    os.environ["NOVACRON_KAFKA_BOOTSTRAP"] = broker.bootstrap
    get_settings.cache_clear()
    settings = get_settings()
    t_setup = time.monotonic()
    server = BentoServer(settings)
    # Submitted at once (it takes seconds): the hosts and the worker come up meanwhile.
    serving_up = asyncio.get_running_loop().run_in_executor(None, server.start)
    # In this thread: each host's reaper dies with the thread that started it.
    real = LocalHosts(REAL_HOSTS, directory / "hosts", prefix=f"{prefix}h")
    figures: dict[str, Any] = {}
    kills: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    double: set[str] = set()
    stop, watching, replay_stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
    watcher: asyncio.Task[None] | None = None
    worker: WorkerProcess | None = None
    pg_stopped = False
    try:
        real_vms = [(f"{prefix}vm-r{h}-{v}", host.id) for h, host in enumerate(real.hosts)
                    for v in range(REAL_VMS_PER_HOST)]
        real_ids = {vm for vm, _ in real_vms}
        uris = [h.uri for h in real.hosts]
        inventory, vms = write_fleet(directory, prefix, real, real_vms)
        record_fleet(settings, inventory, vms, real_ids)
        broker.start()
        await ensure_topics(settings)
        worker = WorkerProcess(inventory, dict(os.environ), directory / "worker.log")
        seen = Seen(prefix)
        watcher = asyncio.create_task(observe(settings.kafka_bootstrap, seen, watching, stop))
        started = worker.start()
        start_real_guests(real, real_vms)  # while the worker starts
        _say(f"broker {broker.bootstrap}, {len(real_vms)} real guests on {REAL_HOSTS} hosts, "
             f"{len(vms) - len(real_vms)} test-driver VMs; worker log {worker.log}")
        await asyncio.wait_for(watching.wait(), 60)
        # The replay starts with the worker: its backfill waits on the run's broker.
        traces = plan_traces(vms, replay_series(settings.data_dir, len(vms)))
        replayer = Replayer(settings.kafka_bootstrap, traces, speed=SPEED, warmup_points=WARMUP_POINTS)
        replaying = asyncio.create_task(replayer.run(float("inf"), replay_stop))
        figures["first_start_ready_s"] = round(await worker.ready() - started, 2)
        await serving_up
        figures["setup_s"] = round(time.monotonic() - t_setup, 1)

        def check_hosts(when: str) -> None:
            copies = running_copies(uris, prefix)
            twice = sorted(vm for vm, n in copies.items() if n > 1)
            double.update(twice)
            checks.append({"when": when, "real_running": sum(1 for vm in real_ids if copies[vm] >= 1),
                           "twice": twice})

        def complete(at: datetime) -> bool:
            return sum(1 for _, t, _ in seen.features if t == at) >= len(vms)

        def minutes_complete() -> list[datetime]:
            per: dict[datetime, set[str]] = defaultdict(set)
            for vm, at, _ in seen.features:
                per[at].add(vm)
            return sorted(at for at, got in per.items() if len(got) == len(vms))

        if not await _wait(lambda: bool(minutes_complete()), 120):
            raise RuntimeError("no minute had a feature for every VM within 120 s of the replay")
        span_start = minutes_complete()[0]
        _say(f"steady: every VM's features from {span_start.isoformat()}")
        await asyncio.sleep(plan.settle_s)
        for r in range(plan.rounds):
            kind, target, acting = "worker", "", False
            if r % 2 == 0:
                await asyncio.sleep(rng.uniform(0.2, 0.6) if quick else rng.uniform(3.0, 8.0))
            else:
                kind = "actuator"
                decision_id, target = await _decision_in_flight(seen, real_ids, 6.0 if quick else 30.0)
                acting = decision_id is not None and decision_id not in seen.answered
            worker.check()
            before = len(seen.features)
            killed = time.monotonic()
            worker.kill()
            committed: dict[int, int] = {}
            with contextlib.suppress(Exception):
                committed = await asyncio.wait_for(_committed(
                    settings.kafka_bootstrap, settings.consumer_group, "novacron.decisions"), 2)
            started = worker.start()
            ready = await worker.ready()
            await _wait(lambda b=before, r=ready: any(a > r for _, _, a in seen.features[b:]), 60)
            resumed = next((a for _, _, a in seen.features[before:] if a > ready), None)
            await asyncio.to_thread(check_hosts, f"after kill {r + 1}")
            kills.append({"round": r, "kind": kind, "acting": acting, "target": target, "at": killed,
                          "committed": committed,
                          "ready_s": round(ready - killed, 2),
                          "resume_s": round(resumed - killed, 2) if resumed else None})
            _say(f"kill {r + 1}/{plan.rounds} ({kind}{' while acting on ' + target if acting else ''}): "
                 f"consuming again after {ready - killed:.1f} s, features after "
                 f"{(resumed - killed) if resumed else float('nan'):.1f} s")
            await asyncio.sleep(plan.settle_s)
        # The forecast service down.
        _say(f"stopping the forecast service for {plan.serving_down_s:.0f} s")
        await asyncio.to_thread(server.stop)
        down_from = time.monotonic()
        await asyncio.sleep(plan.serving_down_s)
        down_to = time.monotonic()
        # It takes seconds to come up: the PostgreSQL outage goes on meanwhile (the vectors
        # of those seconds are not counted as the service's outage's).
        serving_up = asyncio.create_task(asyncio.to_thread(server.start))
        # PostgreSQL down.
        _say(f"stopping PostgreSQL for {plan.pg_outage_s:.0f} s")
        pg_stopped, pg_stop = True, time.monotonic()
        await asyncio.to_thread(_pg, "stop")
        await asyncio.sleep(plan.pg_outage_s)
        await asyncio.to_thread(_pg, "start")
        pg_stopped = False
        await _wait(lambda: _pg_answers(settings.database_url), 60, 0.2)
        pg_back = time.monotonic()
        # --quick waits 2 s for it (decisions come every few seconds); a later one is read at
        # the end, and said to have come after the broker restart began.
        await _wait(lambda: any(a > pg_back for _, a in seen.actions), 2 if quick else 60)
        await asyncio.to_thread(check_hosts, "after the PostgreSQL outage")
        worker.check()
        # The span ends a minute before the replay's clock; the worker is given the tail's
        # time to publish and decide that minute before the broker restart (a memory broker
        # drops what the agents have not read). A window still missing then is lost.
        assert replayer.stats.event_time is not None
        span_end = replayer.stats.event_time - timedelta(seconds=60)
        deadline = time.monotonic() + plan.tail_s
        await _wait(lambda: complete(span_end), plan.tail_s)
        while (sum(len(v) > 0 for v in (await _tsdb_outcomes(settings.tsdb_url, prefix, span_end)).values())
               < len(vms) and time.monotonic() < deadline):
            await asyncio.sleep(0.5)
        # The broker restarted: a memory engine comes back with no topics and no offsets.
        stopped_at = time.monotonic()
        restart_event = replayer.stats.event_time
        _say("restarting the broker")
        await asyncio.to_thread(broker.stop)
        seen.broker_restarting.set()
        await asyncio.wait_for(seen.positions_reset.wait(), 10)
        await asyncio.to_thread(broker.start)
        broker_back = time.monotonic()
        assert restart_event is not None
        after = restart_event + timedelta(seconds=60)

        def features_after() -> float | None:
            return next((a for _, at, a in seen.features if at > after and a > broker_back), None)

        def decisions_after() -> float | None:
            return next((a for d_id, _, a in seen.decision_log
                         if a > broker_back and seen.decisions[d_id].occurred_at > after), None)

        await _wait(lambda: features_after() is not None and decisions_after() is not None,
                    plan.recovery_timeout_s, 0.2)
        fa, da = features_after(), decisions_after()
        figures["broker_restart_recovered"] = int(fa is not None and da is not None
                                                  and not replaying.done())
        figures["broker_down_s"] = round(broker_back - stopped_at, 2)
        figures["broker_restart_features_after_s"] = round(fa - broker_back, 2) if fa else None
        figures["broker_restart_decisions_after_s"] = round(da - broker_back, 2) if da else None
        figures["broker_restart_replayer"] = ("failed: " + repr(replaying.exception())
                                              if replaying.done() and replaying.exception()
                                              else "kept publishing")
        _say(f"broker back after {broker_back - stopped_at:.1f} s: features "
             f"{figures['broker_restart_features_after_s']} s, decisions "
             f"{figures['broker_restart_decisions_after_s']} s after")
        await serving_up  # started again during the PostgreSQL outage and the broker restart
        _say(f"forecast service back after {time.monotonic() - down_from:.1f} s")
        await asyncio.sleep(plan.settle_s)
        replay_stop.set()
        with contextlib.suppress(Exception):
            await replaying
        last = replayer.stats.event_time
        assert last is not None
        _say(f"replay stopped at {last.isoformat()}; letting the worker catch up")
        await _wait(lambda: complete(last), plan.tail_s)

        def quiet() -> bool:  # every decision answered, or no new answer for 2 s
            return (set(seen.decisions) <= seen.answered
                    or time.monotonic() - max((a for _, a in seen.actions), default=0.0) > 2.0)

        await _wait(quiet, plan.tail_s, 0.2)
        await asyncio.to_thread(check_hosts, "at the end")
        worker.check()
        first_write = next((a for _, a in seen.actions if a > pg_back), None)
        figures["pg_outage_write_gap_s"] = round(first_write - pg_back, 2) if first_write else None
        if first_write is not None and first_write > stopped_at:
            figures["pg_outage_write_gap_note"] = "the first write came after the broker restart began"
        worker.kill()  # caught up: nothing of it is measured any more
        outcomes = await _settled_outcomes(settings.tsdb_url, prefix, 4 * plan.tail_s)
    finally:
        replay_stop.set()
        if pg_stopped:
            await asyncio.to_thread(_pg, "start")
        if worker is not None:
            worker.stop()
        await asyncio.to_thread(server.stop)
        stop.set()
        if watcher is not None:
            with contextlib.suppress(Exception):
                await watcher
        real.close()
        broker.stop()
    return figures | summarise(plan, quick, seed, vms, seen, outcomes, kills, checks, double,
                               worker.crashes, span_start, span_end, last, broker_back,
                               stopped_at, down_from, down_to, pg_stop)


def summarise(plan: Plan, quick: bool, seed: int, vms: list[tuple[str, str]], seen: Seen,
              outcomes: dict[tuple[str, int], list[tuple[str, str]]], kills: list[dict[str, Any]],
              checks: list[dict[str, Any]], double: set[str], crashes: int, span_start: datetime,
              span_end: datetime, last: datetime, broker_back: float, broker_stopped: float,
              down_from: float, down_to: float, pg_stop: float) -> dict[str, Any]:
    step = 60.0

    def windows(first: datetime, final: datetime) -> set[tuple[str, int]]:
        n = int((final - first).total_seconds() // step) + 1
        return {(vm, int(first.timestamp() + i * step)) for vm, _ in vms for i in range(n)}

    expected = windows(span_start, span_end)
    published = Counter((vm, int(at.timestamp())) for vm, at, _ in seen.features)
    in_span = [k for k in published if k in expected]
    decided = ("forecast", "fallback")
    missing = sorted(k for k in in_span if not any(o in decided for o, _ in outcomes.get(k, ())))
    arrival = {(vm, int(at.timestamp())): a for vm, at, a in seen.features}
    faults = [(k["at"], f"kill {k['round'] + 1}") for k in kills] + [
        (down_from, "serving stop"), (pg_stop, "PostgreSQL stop"), (broker_stopped, "broker kill")]

    def committed_after(at: float) -> dict[int, int]:
        return next((k["committed"] for k in kills if k["at"] >= at), {})

    def near_fault(at: float) -> str:
        when, what = min(faults, key=lambda f: abs(at - f[0]))
        return f"{at - when:+.1f} s from the {what}"
    down_keys = {(vm, int(at.timestamp())) for vm, at, a in seen.features
                 if down_from + 1.0 <= a <= down_to - 1.0}
    down_fallback = [k for k in down_keys
                     if any(o == "fallback" and r in ("serving_down", "serving_timeout")
                            for o, r in outcomes.get(k, ()))]
    applied: Counter[tuple[str, str, datetime]] = Counter()
    for a, _ in seen.actions:
        d = seen.decisions.get(a.decision_id)
        if a.status.value == "succeeded" and "already in the decided state" not in a.detail:
            applied[(a.target_id, a.action.value, d.occurred_at if d else datetime.min)] += 1
    before_restart = {d for d, _, a in seen.decision_log if a < broker_stopped}
    around_restart = set(seen.decisions) - before_restart
    lost = [(d, vm, a) for d, vm, a in seen.decision_log if d in before_restart - seen.answered]
    failures = Counter(a.detail.split(":")[-1].strip()[:60] for a, _ in seen.actions
                       if a.status.value != "succeeded")
    status = Counter(a.status.value for a, _ in seen.actions)
    real_results = Counter(a.status.value for a, _ in seen.actions if "-vm-r" in a.target_id)
    # After the broker restart: the windows of the minutes from the restart to the end.
    restart_windows = windows(span_end + timedelta(seconds=step), last)
    outcome_counts = Counter(f"{o}:{r}" for k in in_span for o, r in outcomes.get(k, ()))
    ready_s = [k["ready_s"] for k in kills]
    resume_s = [k["resume_s"] for k in kills if k["resume_s"] is not None]
    acting = [k for k in kills if k["kind"] == "actuator" and k["acting"]]
    return {
        "vms": len(vms), "real_guests": sum(1 for vm, _ in vms if "-vm-r" in vm),
        "real_hosts": REAL_HOSTS, "test_driver_hosts": TEST_HOSTS, "speed": SPEED,
        "kills": len(kills),
        "kills_of_actuator_while_acting": len(acting),
        "kills_of_actuator_while_acting_on_real_guest": sum(1 for k in acting if "-vm-r" in k["target"]),
        "span_minutes": int((span_end - span_start).total_seconds() // step) + 1,
        "windows_expected": len(expected),
        "windows_lost": len(expected) - len(in_span),
        "windows_lost_detail": "; ".join(
            f"{vm} {datetime.fromtimestamp(ts, UTC).strftime('%H:%M')}"
            for vm, ts in sorted(expected - set(in_span), key=lambda k: (k[1], k[0]))[:10]),
        "features_published_twice": sum(1 for k in in_span if published[k] > 1),
        "decisions": len(seen.decisions),
        "decisions_lost": len(before_restart - seen.answered),
        "decisions_lost_detail": "; ".join(
            f"{vm} {seen.decisions[d].action.value} (arrived {near_fault(a)}; partition "
            f"{seen.decision_offsets[d][0]} offset {seen.decision_offsets[d][1]}, committed "
            f"{committed_after(a).get(seen.decision_offsets[d][0])} after the next kill)"
            for d, vm, a in lost[:10]),
        "action_results": len(seen.actions),
        "action_failures": "; ".join(f"{k} x{n}" for k, n in failures.most_common(5)),
        "action_statuses": ", ".join(f"{k}={n}" for k, n in sorted(status.items())),
        "real_guest_action_statuses": ", ".join(f"{k}={n}" for k, n in sorted(real_results.items())),
        "duplicate_actions": sum(n - 1 for n in applied.values() if n > 1),
        "double_running_vms": len(double),
        "host_checks": len(checks),
        "real_guests_running_min": min((c["real_running"] for c in checks), default=None),
        "worker_crashes": crashes,
        "serving_down_s": plan.serving_down_s,
        "serving_down_vectors": len(down_keys),
        "serving_down_fallback_pct": (round(100 * len(down_fallback) / len(down_keys), 2)
                                      if down_keys else None),
        "pg_outage_s": plan.pg_outage_s,
        "broker_restart_decisions": len(around_restart),
        "broker_restart_decisions_lost": len(around_restart - seen.answered),
        "broker_restart_windows": len(restart_windows),
        "broker_restart_windows_lost": len(restart_windows - set(published)),
        "forecast_coverage_pct": (round(100 * (len(in_span) - len(missing)) / len(in_span), 2)
                                  if in_span else None),
        "forecast_missing": "; ".join(
            f"{vm} {datetime.fromtimestamp(ts, UTC).strftime('%H:%M')} "
            f"{'+'.join(f'{o}:{r}' for o, r in outcomes.get((vm, ts), [])) or 'no point'} "
            f"(arrived {near_fault(arrival[(vm, ts)])})"
            for vm, ts in missing[:10]),
        "outcomes": ", ".join(f"{k}={n}" for k, n in sorted(outcome_counts.items())),
        "restart_ready_p50_s": round(statistics.median(ready_s), 2) if ready_s else None,
        "restart_ready_max_s": max(ready_s) if ready_s else None,
        "features_resume_p50_s": round(statistics.median(resume_s), 2) if resume_s else None,
        "features_resume_max_s": max(resume_s) if resume_s else None,
        "kill_rounds": "; ".join(f"{k['kind']}{'*' if k['acting'] else ''} ready {k['ready_s']} "
                                 f"resume {k['resume_s']}" for k in kills),
        "quick": quick, "seed": seed, "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 kills and outages of seconds")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench.faults runs system-mode libvirt daemons (the real hosts): run it as root")
    started = time.perf_counter()
    figures = asyncio.run(run(args.quick, args.seed))
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    from bench._common import write_and_show

    write_and_show("faults", figures)
    print(f"faults: {figures['kills']} kills ({figures['kills_of_actuator_while_acting']} while "
          f"acting), windows lost {figures['windows_lost']} of {figures['windows_expected']}, "
          f"decisions lost {figures['decisions_lost']} of {figures['decisions']}, duplicate "
          f"actions {figures['duplicate_actions']}, double-running VMs "
          f"{figures['double_running_vms']}, worker crashes {figures['worker_crashes']}, "
          f"PostgreSQL {figures['pg_outage_s']:.0f} s outage write gap "
          f"{figures['pg_outage_write_gap_s']} s, broker restart recovered "
          f"{figures['broker_restart_recovered']}, serving down fallback "
          f"{figures['serving_down_fallback_pct']}%, forecast coverage "
          f"{figures['forecast_coverage_pct']}%, features resume p50 "
          f"{figures['features_resume_p50_s']} s after a kill, {figures['wall_s']} s")


if __name__ == "__main__":
    main()
