"""API test fixtures: the real PostgreSQL, tokens of each role, a fleet of this run's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from novacron.api.admin import create_token
from novacron.api.app import app
from novacron.store import control, repository
from sqlalchemy.orm import Session, sessionmaker

RUN = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def tokens(sessions: sessionmaker[Session]) -> dict[str, str]:
    out = {}
    with sessions.begin() as s:
        for role in ("viewer", "operator", "admin"):
            out[role] = create_token(s, f"test-{role}-{RUN}", role, "pytest")[1]
    return out


@pytest.fixture(scope="session")
def client(sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def run_fleet(sessions: sessionmaker[Session]) -> str:
    """Four hosts labelled with this run's id, in two racks; placements pin to them."""
    with sessions.begin() as s:
        for i in range(4):
            repository.upsert_host(s, f"h-{RUN}-{i}", "test:///default", 16, 65536,
                                   {"apitest": RUN, "rack": f"r{i % 2}", "zone": "z0"})
    return RUN


def pinned(run: str, vm_id: str | None = None, vcpus: float = 2, memory_mib: float = 2048,
           labels: dict[str, str] | None = None, **extra: object) -> dict[str, object]:
    vm: dict[str, object] = {"vcpus": vcpus, "memory_mib": memory_mib, "labels": labels or {"app": run}}
    if vm_id:
        vm["vm_id"] = vm_id
    return {"vm": vm, "host_affinity": [{"label": "apitest", "values": [run]}], **extra}


@pytest.fixture
def unpaused(sessions: sessionmaker[Session]) -> Iterator[None]:
    """Tests that pause the fleet leave it running afterwards (the database is shared)."""
    with sessions.begin() as s:
        control.set_pause(s, False, "", "pytest")
    yield
    with sessions.begin() as s:
        control.set_pause(s, False, "test cleanup", "pytest")
