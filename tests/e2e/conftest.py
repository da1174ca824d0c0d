"""The real chain for end-to-end tests: broker, PostgreSQL, BentoML and libvirt test hosts,
with the Faust worker running in this process (it shares the libvirt connections, which is
how the tests look at the domains it changes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from e2e_support import Pipeline
from novacron.actuators import simfleet
from novacron.serving.launcher import BentoServer
from novacron.streams.worker import BackgroundWorker, build_runtime
from sqlalchemy.orm import Session, sessionmaker

from novacron.kafka_admin import ensure_topics
from novacron.services import start_all
from novacron.settings import Settings

pytestmark = pytest.mark.e2e


# Package scope: the worker stops when the e2e tests are done, so it does not act (relay
# approvals, heal test domains) behind the unit tests that run after it in the same session.
@pytest.fixture(scope="package")
def pipeline(settings: Settings, sessions: sessionmaker[Session],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    start_all(settings, ["postgres", "broker", "tsdb"])
    asyncio.run(ensure_topics(settings))
    server = BentoServer(settings)
    assert not server.ready(), f"{settings.serving_url} is taken: the tests need their own server"
    # Each part is stopped even when a later one fails to start: a leaked `bentoml serve` keeps
    # two processes and its port for the rest of the machine's life.
    server.start()
    try:
        fleet = simfleet.build(Path(tmp_path_factory.mktemp("fleet")), hosts=3, vms_per_host=3)
        try:
            rt = build_runtime(settings, fleet)
            worker = BackgroundWorker()
            try:
                worker.start()
                yield Pipeline(settings, fleet, rt, server, worker)
            finally:
                worker.stop()
        finally:
            fleet.close()
    finally:
        server.stop()


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await p.start()
    yield p
    await p.stop()


