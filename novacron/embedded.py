"""``novacron up``: the whole loop, on a simulated fleet (the embedded default) or on the
real hosts of an inventory.

Both open their fleet from an inventory file (the simulated fleet writes its own), record its
hosts and their facts, and start the services they need (unless external ones are
configured), the BentoML forecast service and the Faust worker. The simulated fleet is then
fed by the trace replayer; real hosts by the collector, with the reconciler keeping the
database in step with libvirt. Events, decisions and actions show as they happen; Ctrl-C or
``duration`` stops it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from novacron import topics
from novacron.actuators import simfleet
from novacron.actuators.inventory_fleet import host_facts, open_fleet
from novacron.events import ActionKind, ActionResult, DeadLetter, Decision, decode, utcnow
from novacron.inventory import HostFacts, load_inventory
from novacron.kafka_admin import ensure_topics
from novacron.services import start_all
from novacron.serving.launcher import BentoServer
from novacron.settings import Settings
from novacron.store import repository
from novacron.streams.replay import Replayer, plan_traces, replay_series
from novacron.streams.worker import BackgroundWorker, build_runtime, restart_process


@dataclass
class Feed:
    """What the live view shows: counters and the latest decisions and actions."""

    counts: Counter[str] = field(default_factory=Counter)
    decisions: deque[Decision] = field(default_factory=lambda: deque(maxlen=8))
    actions: deque[ActionResult] = field(default_factory=lambda: deque(maxlen=8))
    dead: deque[DeadLetter] = field(default_factory=lambda: deque(maxlen=3))
    fleet: str = "simulated fleet"  # what the title says the loop runs on

    def take(self, topic: str, raw: bytes | None) -> str | None:
        self.counts[topic] += 1
        try:
            if topic == topics.DECISIONS.name:
                d = decode(Decision, raw)
                self.decisions.append(d)
                return f"decision {d.target_id}: {d.explanation}"
            if topic == topics.ACTIONS.name:
                a = decode(ActionResult, raw)
                self.actions.append(a)
                return f"action {a.target_id}: {a.status.value} ({a.detail})"
            if topic == topics.DEADLETTER.name:
                dl = decode(DeadLetter, raw)
                self.dead.append(dl)
                return f"dead letter from {dl.source_topic}: {dl.reason}"
        except ValueError:
            self.counts["unreadable"] += 1
        return None

    def render(self, event_time: str) -> Table:
        table = Table(title=f"NovaCron — {self.fleet} (event time {event_time})", expand=True)
        table.add_column("kind", no_wrap=True)
        table.add_column("target", no_wrap=True)
        table.add_column("what and why")
        for d in self.decisions:
            table.add_row(f"decision ({d.decided_by})", d.target_id, d.explanation)
        for a in self.actions:
            size = "memory_mib" if a.action is ActionKind.SCALE_MEMORY else "vcpus"
            table.add_row(f"action {a.status.value}", a.target_id,
                          f"{a.detail}; {size} {a.before.get(size)} -> {a.after.get(size)}")
        for dl in self.dead:
            table.add_row("dead letter", dl.source_topic, dl.reason)
        counts = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in sorted(self.counts.items()))
        table.caption = counts or "waiting for events…"
        return table


async def _watch(settings: Settings, feed: Feed, stop: asyncio.Event, console: Console,
                 live: Live | None) -> None:
    consumer = AIOKafkaConsumer(
        topics.METRICS_RAW.name, topics.FORECASTS.name, topics.DECISIONS.name,
        topics.ACTIONS.name, topics.DEADLETTER.name,
        bootstrap_servers=settings.kafka_bootstrap, group_id=f"novacron-view-{uuid.uuid4()}",
        auto_offset_reset="latest",
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=250)
            for tp, records in batch.items():
                for rec in records:
                    line = feed.take(tp.topic, rec.value)
                    if line and live is None:
                        console.print(line, markup=False, highlight=False)
    finally:
        await consumer.stop()


def describe(simulated: bool, facts: Mapping[str, HostFacts]) -> str:
    """The view's title: which fleet, how many hosts, how many answered."""
    up = sum(f.reachable for f in facts.values())
    kind = "simulated fleet" if simulated else "real fleet"
    return f"{kind}, {len(facts)} hosts" + ("" if up == len(facts) else f", {up} reachable")


async def run_embedded(settings: Settings, duration_s: float | None, speed: float,
                       console: Console, inventory: Path | None = None) -> Feed:
    """Run the loop; ``settings`` must be the process's settings (the worker reads them).
    ``inventory``: the real hosts' inventory file; None runs the simulated fleet."""
    simulated = inventory is None
    if not simulated:
        # Imported here: only a real fleet needs them.
        try:
            from novacron.streams.collector import run_collector
            from novacron.streams.reconciler import run_reconciler
        except ImportError as exc:
            raise RuntimeError(f"running on real hosts needs the collector and the reconciler: "
                               f"{exc}") from exc
    with console.status("starting services…"):
        for name, state in start_all(settings).items():
            console.log(f"{name}: {state}")
        await ensure_topics(settings)
    path = inventory or simfleet.write(settings.state_dir / "fleet", settings.fleet_hosts,
                                       settings.fleet_vms_per_host)
    hosts = load_inventory(path)
    fleet = open_fleet(hosts)
    facts = await asyncio.to_thread(host_facts, fleet, hosts)
    for f in facts.values():
        if not f.reachable:
            console.log(f"host {f.host_id} is unreachable (marked so; the others are served): "
                        f"{f.error}", markup=False)
    rt = build_runtime(settings, fleet)
    with rt.sessions.begin() as s:
        synced = repository.sync_hosts(s, hosts, facts)
        if simulated:
            for spec in simfleet.layout(settings.fleet_hosts, settings.fleet_vms_per_host):
                for d in spec.domains:
                    fleet.specs[d.name] = d
                    repository.upsert_vm(s, d.name, spec.name, d.vcpus, d.memory_mib, d.labels)
    if synced.retired:
        console.log(f"retired (no longer in {path}, VMs still on them): {synced.retired}")
    server = BentoServer(settings)
    worker = BackgroundWorker()
    feed = Feed(fleet=describe(simulated, facts))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: dict[str, asyncio.Task[Any]] = {}
    worker_crash: str | None = None  # then the process starts again (streams.worker)
    try:
        with console.status("starting the forecast service and the stream worker…"):
            await asyncio.to_thread(server.start)
            await asyncio.to_thread(worker.start)
        replayer: Replayer | None = None
        if simulated:
            vms = simfleet.vm_ids(settings.fleet_hosts, settings.fleet_vms_per_host)
            series = replay_series(settings.data_dir, len(vms))
            replayer = Replayer(settings.kafka_bootstrap, plan_traces(vms, series), speed=speed,
                                warmup_points=rt.history_points)
            console.log(f"replaying {len(vms)} VMs on {settings.fleet_hosts} libvirt test hosts "
                        f"at {speed:g}x from {sorted(replayer.stats.sources)[:3]}…")
            tasks["replayer"] = asyncio.create_task(replayer.run(duration_s or float("inf"), stop))
        else:
            tasks["collector"] = asyncio.create_task(run_collector(settings, fleet, stop))
            tasks["reconciler"] = asyncio.create_task(run_reconciler(settings, fleet, rt.sessions, stop))
            if duration_s is not None:
                loop.call_later(duration_s, stop.set)
            console.log(f"collecting from {len(facts)} hosts of {path} "
                        f"({sum(f.reachable for f in facts.values())} reachable)")
        live = Live(feed.render("-"), console=console, refresh_per_second=2) \
            if console.is_terminal else None
        with live or contextlib.nullcontext():
            tasks["view"] = asyncio.create_task(_watch(settings, feed, stop, console, live))
            while not stop.is_set():
                for name, task in tasks.items():
                    if task.done() and not task.cancelled() and task.exception() is not None:
                        console.log(f"{name} failed, stopping: {task.exception()!r}")
                        stop.set()
                if not stop.is_set() and (worker_crash := worker.failure()) is not None:
                    console.log(f"the stream worker crashed: {worker_crash}", markup=False)
                    stop.set()
                if live is not None:
                    live.update(feed.render(_event_time(replayer)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
            results = await asyncio.gather(*tasks.values(), return_exceptions=True)
        for name, res in zip(tasks, results, strict=True):
            if isinstance(res, BaseException):
                raise RuntimeError(f"{name} failed: {res!r}") from res
        if replayer is not None:
            stats = replayer.stats
            console.log(f"replayed {stats.published} samples up to event time {stats.event_time}; "
                        f"allocations changed {stats.allocations_seen} times")
        else:
            collected: Any = results[0]  # the collector's CollectorStats (no exception: raised above)
            console.log(f"collector: {collected.intervals} intervals, {collected.vm_samples} VM "
                        f"samples, {len(collected.health_events)} host health events")
    finally:
        stop.set()
        for task in tasks.values():
            task.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(server.stop)
        fleet.close()
    if worker_crash is not None:
        # A replay starts again from its origin (event time goes back), so its worker takes a
        # fresh group and rebuilds its windows from the replay's warm-up; on real hosts the
        # group stays and the worker resumes from its offsets and tables.
        fresh = {"NOVACRON_CONSUMER_GROUP": f"novacron-embedded-{uuid.uuid4().hex[:8]}"}
        restart_process(worker_crash, lambda line: console.log(line, markup=False),
                        env=fresh if simulated else None)
    return feed


def _event_time(replayer: Replayer | None) -> str:
    """The replay's event time; for real hosts the samples' time is the wall clock's."""
    if replayer is None:
        return utcnow().isoformat(timespec="seconds")
    et = replayer.stats.event_time
    return et.isoformat() if et else "-"
