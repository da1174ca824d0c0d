"""A host crash under the running stream worker, in a process of its own (the Faust app is a
process-wide singleton, and this worker's fleet is three real hosts of its own).

Three LocalHosts (system-mode libvirtd each, real QEMU guests), the worker in-process with
the power switch in its runtime, the collector feeding it. Two guests run on the host that
crashes, one on another. Observations go to stdout as one JSON line; the test asserts on them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from typing import Any

from novacron.actuators.host_watch import HostLost
from novacron.actuators.local_hosts import LocalHosts, define_guest
from novacron.actuators.placement_state import where
from novacron.healing import HealerSettings
from novacron.healing.diagnosis import DiagnosisSettings
from novacron.store import models
from novacron.streams.collector import run_collector
from novacron.streams.worker import BackgroundWorker, build_runtime
from sqlalchemy import select

from novacron.kafka_admin import ensure_topics
from novacron.settings import get_settings

RUN = uuid.uuid4().hex[:6]
HOST_TIMEOUT_S = 6.0


def wait(what: str, ok: Any, timeout_s: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if ok():
            return time.monotonic() - start
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")


async def scenario() -> dict[str, Any]:
    settings = get_settings()
    await ensure_topics(settings)
    out: dict[str, Any] = {}
    with LocalHosts(3, prefix=f"hr{RUN}", zone="zone-local") as hosts:
        fleet = hosts.fleet()
        victim, other = hosts[2], hosts[0]
        vms = [f"hr-{RUN}-a", f"hr-{RUN}-b"]
        bystander = f"hr-{RUN}-c"
        for v in vms:
            define_guest(fleet, victim.id, v, memory_mib=32)
        define_guest(fleet, other.id, bystander, memory_mib=32)
        healing = HealerSettings(diagnosis=DiagnosisSettings(host_timeout_s=HOST_TIMEOUT_S),
                                 learn=False)
        rt = build_runtime(settings, fleet, power_switch=hosts, healing=healing)
        worker = BackgroundWorker()
        stop = asyncio.Event()
        collector = None
        try:
            await asyncio.to_thread(worker.start)
            collector = asyncio.create_task(run_collector(settings, fleet, stop, interval_s=1.0))
            from novacron.streams import heal  # imported by the worker already: its state

            def watched() -> bool:
                loop = heal._loop
                return loop is not None and {*vms, bystander} <= loop._watched
            out["watched_after_s"] = await asyncio.to_thread(wait, "the healer watching the VMs",
                                                             watched, 60)
            crashed_at = victim.crash()

            def moved() -> bool:
                return all(where(fleet, v)["running_on"] not in ([], [victim.id]) for v in vms)
            await asyncio.to_thread(wait, "the crashed host's guests running elsewhere", moved, 60)
            out["recovery_s"] = time.monotonic() - crashed_at
            out["placed"] = {v: where(fleet, v) for v in [*vms, bystander]}
            assert heal._loop is not None and heal._hosts is not None
            out["fences"] = [{"host": f.request.host_id, "fenced": f.fenced, "method": f.method,
                              "detail": f.detail} for f in heal._loop.healer.fence_log]
            lost: dict[str, HostLost] = dict(heal._hosts.lost)
            out["lost_seen"] = sorted(lost)

            victim.restart()

            def cleared() -> bool:
                return [d.name() for d in fleet.host(victim.id).get().listAllDomains()] == []
            out["stale_cleared_after_s"] = await asyncio.to_thread(
                wait, "the stale copies undefined on the returned host", cleared, 30)
            out["after_return"] = {v: where(fleet, v) for v in vms}
            with rt.sessions() as s:
                events = s.execute(select(models.FleetEvent.kind, models.FleetEvent.vm_id).where(
                    models.FleetEvent.host_id == victim.id)).all()
            out["fleet_events"] = sorted([k, v] for k, v in events)
            out["victim"] = victim.id
            out["vms"] = vms
            out["bystander_host"] = other.id
        finally:
            stop.set()
            if collector is not None:
                await asyncio.gather(collector, return_exceptions=True)
            await asyncio.to_thread(worker.stop)
            fleet.close()
    return out


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(asyncio.run(scenario())))


if __name__ == "__main__":
    main()
