"""A restart of the embedded broker (memory engine: it loses every topic and offset) never
stops the worker: it notices, says what was lost and goes on.

Each test runs a Tansu of its own on free ports with its state in the test's temporary
folder: the shared dev broker is never restarted. The worker runs in-process in a child
process (broker_restart_child.py), since the Faust app binds to its broker at import.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from novacron.kafka_admin import ensure_topics
from novacron.services import start_all, stop_all
from novacron.settings import Settings

pytestmark = [pytest.mark.faults, pytest.mark.slow]
CHILD = Path(__file__).with_name("broker_restart_child.py")
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OwnBroker:
    settings: Settings
    env: dict[str, str]

    def restart(self) -> None:
        stop_all(self.settings, ["broker"])
        start_all(self.settings, ["broker"])

    def child(self, phase: str, group: str) -> dict[str, object]:
        """Run one phase of broker_restart_child.py; its observations."""
        env = dict(self.env, NOVACRON_CONSUMER_GROUP=group)
        proc = subprocess.run([sys.executable, str(CHILD), phase], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=400)
        assert proc.returncode == 0, f"the {phase} phase failed:\n{proc.stderr[-4000:]}"
        last = proc.stdout.strip().splitlines()[-1]
        return dict(json.loads(last[last.index("{"):]))  # after any terminal codes Faust wrote


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[OwnBroker]:
    env = {
        "NOVACRON_KAFKA_BOOTSTRAP": f"127.0.0.1:{_free_port()}",
        "NOVACRON_BROKER_S3_URL": f"http://127.0.0.1:{_free_port()}",
        "NOVACRON_BROKER_ENGINE": "memory",
        "NOVACRON_STATE_DIR": str(tmp_path),
        "NOVACRON_CONSUMER_OFFSET_RESET": "earliest",
    }
    t0 = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    settings = Settings(**{k.removeprefix("NOVACRON_").lower(): v for k, v in env.items()})
    start_all(settings, ["broker"])
    try:
        yield OwnBroker(settings, {**os.environ, **env, "FAULTS_T0": t0.isoformat()})
    finally:
        stop_all(settings, ["broker"])


def _history(observed: object, minute: int) -> int:
    """The window length of the VM's feature at ``minute`` (0 if there is none)."""
    return max((n for m, n in observed if m == minute), default=0)  # type: ignore[attr-defined]


def test_a_broker_restart_under_the_worker_loses_no_table_and_stops_nothing(
        own_broker: OwnBroker) -> None:
    # The worker of the second phase restores its window from the changelog (offset > 0),
    # which a broker restart then recreates empty: Faust's recovery check stopped the worker
    # here with a ConsistencyError.
    group = f"faults-{uuid.uuid4().hex[:8]}"
    first = own_broker.child("first", group)
    assert _history(first["before"], 12) == 13, first
    seen = own_broker.child("live", group)
    assert _history(seen["before"], 16) == 17, f"the window was not restored: {seen}"
    assert seen["failure"] is None and seen["ready"], seen
    # The window lives on in the worker: minute 20 has all 21 minutes behind it.
    assert _history(seen["after"], 20) == 21, f"no (whole) feature after the restart: {seen}"
    assert any(m >= 17 for m in seen["decisions"]), f"no decision after the restart: {seen}"  # type: ignore[attr-defined]
    # The worker said what the broker lost (a rebalance may already have reset the stream
    # partitions, but the restored changelog offsets are the worker's own).
    lost = " ".join(seen["resets_logged"])  # type: ignore[arg-type]
    assert "feature-windows-changelog" in lost and "broker lost it" in lost, seen


def test_a_worker_started_after_a_broker_restart_starts_afresh(own_broker: OwnBroker) -> None:
    group = f"faults-{uuid.uuid4().hex[:8]}"
    first = own_broker.child("first", group)
    assert _history(first["before"], 12) == 13, first
    own_broker.restart()
    second = own_broker.child("second", group)
    assert second["failure"] is None and second["ready"], second
    # What the memory engine loses: the changelog, so the window holds only what came since.
    assert _history(second["after"], 24) == 4, second


def test_the_replayers_action_follower_catches_up_after_a_broker_restart(
        own_broker: OwnBroker) -> None:
    from novacron.streams.replay import Replayer, plan_traces, replay_series

    from novacron import topics
    from novacron.events import ActionKind, ActionResult, ActionStatus

    vm = f"vm-faults-{uuid.uuid4().hex[:6]}"
    bootstrap = own_broker.settings.kafka_bootstrap
    replayer = Replayer(bootstrap, plan_traces([(vm, "host-000")], replay_series(None, 1)))
    asyncio.run(ensure_topics(own_broker.settings))

    async def act(vcpus: int, times: int) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for _ in range(times):
                result = ActionResult(occurred_at=datetime.now(UTC), decision_id=uuid.uuid4(),
                                      action=ActionKind.SCALE_VCPU,
                                      target_id=vm, status=ActionStatus.SUCCEEDED, detail="test",
                                      before={"vcpus": 2}, after={"vcpus": vcpus}, duration_ms=1)
                await producer.send_and_wait(topics.ACTIONS.name, result.to_bytes(),
                                             key=vm.encode(), partition=0)
        finally:
            await producer.stop()

    async def scenario() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(replayer._follow_allocations(stop))
        try:
            await asyncio.sleep(2.0)  # subscribed and positioned at the end
            await act(4, times=5)  # the follower is at offset 5 of partition 0
            await _until(lambda: replayer.traces[vm].allocated == 4, 20)
            await asyncio.to_thread(own_broker.restart)
            await act(6, times=1)  # the recreated partition ends at 1, behind the follower
            start = time.monotonic()
            await _until(lambda: replayer.traces[vm].allocated == 6, 30)
            return time.monotonic() - start
        finally:
            stop.set()
            await task

    caught_up_s = asyncio.run(scenario())
    assert caught_up_s < 30


async def _until(probe: Callable[[], bool], timeout_s: float) -> None:
    start = time.monotonic()
    while not probe():
        assert time.monotonic() - start < timeout_s, f"not within {timeout_s} s"
        await asyncio.sleep(0.1)
