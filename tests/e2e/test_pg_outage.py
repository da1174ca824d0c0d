"""PostgreSQL stops and comes back under a running worker: the worker keeps running, a decision
that arrives during the outage is held and carried out once PostgreSQL answers again.

PostgreSQL is shared with everything else on the machine, so the outage is short (~10 s); the
test is marked ``faults`` so it can be deselected (``-m "not faults"``)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from datetime import UTC, datetime

import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from e2e_support import Pipeline, Tap, new_vm
from novacron.actuators.inspect import domain_state
from novacron.store import models
from novacron.store.aio import conninfo
from novacron.streams import db_retry
from sqlalchemy.orm import Session, sessionmaker

from novacron import topics
from novacron.events import ActionKind, ActionResult, ActionStatus, Decision, decode
from novacron.services import _pg_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.slow]
T0 = datetime(2026, 3, 6, 9, tzinfo=UTC)
OUTAGE_S = 10.0
WRITE_GAP_MAX_S = 15.0


def _pg(action: str) -> None:
    version, cluster = _pg_cluster()
    cmd = ["pg_ctlcluster", version, cluster, action] + (["-m", "fast"] if action == "stop" else [])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    # Exit 2: already in that state (another test session's fixture may have started it).
    if done.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(conninfo(url), connect_timeout=1) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


async def test_the_worker_outlives_a_postgres_outage_and_records_the_held_decision(
    pipeline: Pipeline, producer: AIOKafkaProducer, sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=db_retry.__name__)
    url = pipeline.settings.database_url
    vm = new_vm(pipeline, "host-001", "pgout")
    d = Decision(occurred_at=T0, action=ActionKind.SCALE_VCPU, target_id=vm, params={"vcpus": 4},
                 explanation="test: decided while PostgreSQL is down", decided_by="test")
    outages = db_retry.stats().outages
    async with Tap(pipeline.settings, topics.ACTIONS.name) as tap:
        await asyncio.to_thread(_pg, "stop")
        try:
            stopped_at = time.monotonic()
            await producer.send_and_wait(topics.DECISIONS.name, d.to_bytes(), key=vm.encode())
            # The approval relay ticks every second and the decision is waiting: before, the
            # first database error in the relay ended the whole Faust app.
            while time.monotonic() - stopped_at < OUTAGE_S:
                assert pipeline.worker.ready(), "the worker stopped during the outage"
                vcpus = int(domain_state(pipeline.fleet.find_domain(vm)[1])["vcpus"])
                if await asyncio.to_thread(_answers, url):
                    break  # another session's fixture started it again
                assert vcpus == 2, "acted on while PostgreSQL was down: the ledger was bypassed"
                await asyncio.sleep(0.5)
        finally:
            await asyncio.to_thread(_pg, "start")
        # Someone else's tests may have started it earlier: back is when it answers.
        while not await asyncio.to_thread(_answers, url):
            await asyncio.sleep(0.05)
        back_at, back_wall = time.monotonic(), datetime.now(UTC)
        raw = await tap.collect(
            lambda seen: any(decode(ActionResult, r).decision_id == d.decision_id for r in seen), 60)
    done = [a for a in map(lambda r: decode(ActionResult, r), raw) if a.decision_id == d.decision_id]
    assert done and done[0].status == ActionStatus.SUCCEEDED, done
    assert pipeline.worker.ready()
    # The write gap: from PostgreSQL answering to the held decision's claim in the ledger.
    row = None
    for _ in range(100):
        with sessions() as s:
            row = s.get(models.Action, d.decision_id)
            if row is not None and row.status == "succeeded" and s.get(models.ScalingEvent, d.decision_id):
                break
        await asyncio.sleep(0.1)
    assert row is not None and row.status == "succeeded", "the held decision's ledger row never came"
    gap = (row.claimed_at - back_wall).total_seconds()
    print(f"pg_outage write gap: {gap:.2f} s after PostgreSQL answered "
          f"(outage {back_at - stopped_at:.1f} s)")
    assert gap <= WRITE_GAP_MAX_S
    assert int(domain_state(pipeline.fleet.find_domain(vm)[1])["vcpus"]) == 4
    assert db_retry.stats().outages > outages and db_retry.stats().down_since is None
    # Logged once when it began and once when it ended, not per retry.
    began = [r for r in caplog.records if "PostgreSQL unreachable" in r.getMessage()]
    ended = [r for r in caplog.records if "PostgreSQL reachable again" in r.getMessage()]
    assert len(began) == len(ended) == db_retry.stats().outages - outages
