"""Session-wide test settings. Set before anything reads NovaCron's settings: a fresh
consumer group per run (the dev broker may hold groups of earlier runs) and a serving port of
its own, so a running `make run` is never disturbed."""

from __future__ import annotations

import os
import socket
import uuid

os.environ.setdefault("NOVACRON_CONSUMER_GROUP", f"novacron-test-{uuid.uuid4().hex[:8]}")
# Start at the topics' end: the dev broker keeps earlier runs' events.
os.environ.setdefault("NOVACRON_CONSUMER_OFFSET_RESET", "latest")

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# A port of this run's own: the tests stop and start their forecast service.
os.environ.setdefault("NOVACRON_SERVING_URL", f"http://127.0.0.1:{_free_port()}")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from novacron.services import start_all
from novacron.settings import Settings, get_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def sessions(settings: Settings) -> sessionmaker[Session]:
    """The real PostgreSQL, migrated to head."""
    from novacron.store.db import migrate, session_factory

    start_all(settings, ["postgres"])
    migrate(settings.database_url)
    return session_factory(settings.database_url)


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "fleet"
