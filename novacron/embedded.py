"""The embedded default (``novacron up``): the whole loop on a simulated fleet.

Starts the services it needs (unless external ones are configured), the BentoML forecast
service, the Faust worker and the trace replayer, shows events, decisions and actions as they
happen, and stops cleanly on Ctrl-C or after ``duration``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from novacron import topics
from novacron.actuators import simfleet
from novacron.events import ActionKind, ActionResult, DeadLetter, Decision, decode
from novacron.kafka_admin import ensure_topics
from novacron.services import start_all
from novacron.serving.launcher import BentoServer
from novacron.settings import Settings
from novacron.store import repository
from novacron.streams.replay import Replayer, plan_traces, replay_series
from novacron.streams.worker import BackgroundWorker, build_runtime


@dataclass
class Feed:
    """What the live view shows: counters and the latest decisions and actions."""

    counts: Counter[str] = field(default_factory=Counter)
    decisions: deque[Decision] = field(default_factory=lambda: deque(maxlen=8))
    actions: deque[ActionResult] = field(default_factory=lambda: deque(maxlen=8))
    dead: deque[DeadLetter] = field(default_factory=lambda: deque(maxlen=3))

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
        table = Table(title=f"NovaCron — simulated fleet (event time {event_time})", expand=True)
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


async def run_embedded(settings: Settings, duration_s: float | None, speed: float,
                       console: Console) -> Feed:
    """Run the loop; ``settings`` must be the process's settings (the worker reads them)."""
    with console.status("starting services…"):
        for name, state in start_all(settings).items():
            console.log(f"{name}: {state}")
        await ensure_topics(settings)
    fleet = simfleet.build(settings.state_dir / "fleet", settings.fleet_hosts,
                           settings.fleet_vms_per_host)
    rt = build_runtime(settings, fleet)
    with rt.sessions.begin() as s:
        for spec in simfleet.layout(settings.fleet_hosts, settings.fleet_vms_per_host):
            repository.upsert_host(s, spec.name, fleet.host(spec.name).uri, spec.cpus,
                                   spec.memory_mib, spec.labels)
            for d in spec.domains:
                repository.upsert_vm(s, d.name, spec.name, d.vcpus, d.memory_mib, d.labels)
    server = BentoServer(settings)
    worker = BackgroundWorker()
    feed = Feed()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        with console.status("starting the forecast service and the stream worker…"):
            await asyncio.to_thread(server.start)
            await asyncio.to_thread(worker.start)
        vms = simfleet.vm_ids(settings.fleet_hosts, settings.fleet_vms_per_host)
        series = replay_series(settings.data_dir, len(vms))
        replayer = Replayer(settings.kafka_bootstrap, plan_traces(vms, series), speed=speed,
                            warmup_points=rt.history_points)
        console.log(f"replaying {len(vms)} VMs on {settings.fleet_hosts} libvirt test hosts at "
                    f"{speed:g}x from {sorted(replayer.stats.sources)[:3]}…")
        live = Live(feed.render("-"), console=console, refresh_per_second=2) \
            if console.is_terminal else None
        with live or contextlib.nullcontext():
            watcher = asyncio.create_task(_watch(settings, feed, stop, console, live))
            replay = asyncio.create_task(replayer.run(duration_s or float("inf"), stop))
            while not stop.is_set():
                if live is not None:
                    et = replayer.stats.event_time
                    live.update(feed.render(et.isoformat() if et else "-"))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
            stats = await replay
            await watcher
        console.log(f"replayed {stats.published} samples up to event time {stats.event_time}; "
                    f"allocations changed {stats.allocations_seen} times")
    finally:
        stop.set()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(server.stop)
        fleet.close()
    return feed
