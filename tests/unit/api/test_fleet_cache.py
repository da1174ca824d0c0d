"""The in-process fleet state used for placements (novacron.api.fleet_cache) against the real
PostgreSQL: it sees other writers, forgets rolled-back placements, and two processes placing
at once never double-book a host."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import httpx
import pytest
from fastapi import HTTPException
from novacron.api import fleet_cache, placing
from novacron.api.app import app
from novacron.api.placement_flow import place
from novacron.api.schemas import PlacementIn
from novacron.api.tokens import Principal
from novacron.store import fleet, models, repository
from novacron.store.db import session_factory
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from novacron.settings import get_settings

WHO = Principal("pytest", "pytest", "operator")


def _request(tag: str, vm_id: str, vcpus: int = 1) -> PlacementIn:
    return PlacementIn.model_validate({
        "vm": {"vm_id": vm_id, "vcpus": vcpus, "memory_mib": 256, "labels": {"cachetest": tag}},
        "host_affinity": [{"label": "cachetest", "values": [tag]}]})


@pytest.fixture
def host(sessions: sessionmaker[Session]) -> Iterator[str]:
    """One up host with 4 vCPUs, labelled so only this test's placements may use it."""
    tag = uuid.uuid4().hex[:10]
    with sessions.begin() as s:
        repository.upsert_host(s, f"cache-{tag}", "test:///default", 4, 65536, {"cachetest": tag})
    yield tag
    with sessions.begin() as s:
        s.execute(delete(models.VM).where(models.VM.vm_id.startswith(f"cache-{tag}-")))
        s.execute(delete(models.PlacementDecision).where(
            models.PlacementDecision.vm_id.startswith(f"cache-{tag}-")))
        s.execute(delete(models.Host).where(models.Host.host_id == f"cache-{tag}"))


def _place(sessions: sessionmaker[Session], tag: str, name: str, vcpus: int = 1) -> str:
    with sessions.begin() as s:
        out = place(s, _request(tag, f"cache-{tag}-{name}", vcpus), WHO)
        assert out.row is not None
        return out.row.status or ""


def test_placements_reuse_the_state_and_see_other_writers(sessions: sessionmaker[Session],
                                                            host: str) -> None:
    assert _place(sessions, host, "a") == "placed"
    hits = fleet_cache.stats["hits"]
    assert _place(sessions, host, "b") == "placed"
    assert fleet_cache.stats["hits"] == hits + 1  # no reload: nothing changed in between
    with sessions.begin() as s:  # another writer fills the host without the API
        repository.upsert_vm(s, f"cache-{host}-other", f"cache-{host}", 2, 1024, {})
    assert _place(sessions, host, "c") == "pending"  # 1 + 1 + 2 of 4 vCPUs: no room for 1 more
    with sessions.begin() as s:  # ... and frees it again
        s.execute(delete(models.VM).where(models.VM.vm_id == f"cache-{host}-other"))
    assert _place(sessions, host, "d") == "placed"


def test_a_host_reload_applies_only_the_difference_and_matches_a_rebuild(
        sessions: sessionmaker[Session], host: str) -> None:
    """Another writer removes one VM, adds one and relabels one on the host: the cached state,
    reloaded for that host only, holds exactly what a full rebuild from the tables holds."""
    assert _place(sessions, host, "a") == "placed"
    assert _place(sessions, host, "b") == "placed"
    with sessions.begin() as s:
        s.execute(delete(models.VM).where(models.VM.vm_id == f"cache-{host}-a"))
        repository.upsert_vm(s, f"cache-{host}-other", f"cache-{host}", 2, 1024, {"x": "1"})
        repository.upsert_vm(s, f"cache-{host}-b", f"cache-{host}", 1, 256, {"cachetest": host, "y": "2"})
    reloads = fleet_cache.stats["reloads"]
    assert _place(sessions, host, "c") == "placed"  # 1 + 2 + 1 of 4 vCPUs
    assert fleet_cache.stats["reloads"] == reloads + 1
    assert _place(sessions, host, "d") == "pending"
    with sessions() as s:
        fleet.lock_placement(s)
        cached = fleet_cache.current(s).state
        fresh = placing.fleet_state(s)
        i, j = cached.index[f"cache-{host}"], fresh.index[f"cache-{host}"]
        assert (cached.used[i] == fresh.used[j]).all() and cached.vm_count[i] == fresh.vm_count[j] == 3
        on_host = {v: p.vm for v, p in cached.vms.items() if p.host == i}
        assert on_host == {v: p.vm for v, p in fresh.vms.items() if p.host == j}
        assert on_host[f"cache-{host}-b"].labels == {"cachetest": host, "y": "2"}


def test_a_rolled_back_placement_leaves_no_phantom_usage(sessions: sessionmaker[Session],
                                                          host: str) -> None:
    with sessions() as s:
        out = place(s, _request(host, f"cache-{host}-gone", vcpus=4), WHO)
        assert out.applied
        s.rollback()
    # The cached state counted those 4 vCPUs before the rollback; the fingerprint disagrees now.
    assert _place(sessions, host, "big", vcpus=4) == "placed"


def _place_many(tag: str, worker: int, n: int) -> list[str]:
    """In a fresh process (its own cache): n one-vCPU placements, one transaction each."""
    sessions = session_factory(get_settings().database_url)
    out = []
    for i in range(n):
        try:
            out.append(_place(sessions, tag, f"w{worker}-{i}"))
        except HTTPException as exc:
            out.append(f"http {exc.status_code}")
    return out


def test_two_processes_never_double_book(sessions: sessionmaker[Session], host: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        results = list(pool.map(_place_many, [host, host], [0, 1], [5, 5]))
    statuses = [s for r in results for s in r]
    with sessions() as s:
        on_host = s.scalar(select(func.coalesce(func.sum(models.VM.vcpus), 0))
                           .where(models.VM.host_id == f"cache-{host}"))
    assert statuses.count("placed") == 4 and on_host == 4, statuses
    assert statuses.count("pending") == 6, statuses


def test_batched_placements_answer_each_request_on_its_own(host: str, tokens: dict[str, str],
                                                           sessions: sessionmaker[Session]) -> None:
    """Requests arriving together share one transaction (api.deps.placement); a refused one
    (a duplicate id) gets its 409 without undoing the others, and capacity still holds."""

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api",
                                     headers={"Authorization": f"Bearer {tokens['operator']}"}) as c:
            bodies = [_request(host, f"cache-{host}-b{i}").model_dump(mode="json") for i in range(6)]
            bodies.append(_request(host, f"cache-{host}-b0").model_dump(mode="json"))  # duplicate
            answers = await asyncio.gather(*(c.post("/v2/placements", json=b) for b in bodies))
            return [a.status_code for a in answers]

    codes = asyncio.run(burst())
    assert sorted(codes) == [200] * 6 + [409], codes
    with sessions() as s:
        placed = s.scalar(select(func.count()).select_from(models.VM)
                          .where(models.VM.host_id == f"cache-{host}"))
    assert placed == 4  # 4 one-vCPU VMs fit; the other two requests were answered "pending"


def test_a_placement_survives_its_connection_dying(host: str, tokens: dict[str, str],
                                                   sessions: sessionmaker[Session]) -> None:
    """The placement thread's connection is not pinged at checkout; when PostgreSQL has closed
    it, the placement is retried on a new one (nothing was written) instead of failing."""
    transport = httpx.ASGITransport(app=app)

    async def place_one(name: str) -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://api",
                                     headers={"Authorization": f"Bearer {tokens['operator']}"}) as c:
            r = await c.post("/v2/placements", json=_request(host, f"cache-{host}-{name}").model_dump(mode="json"))
            return r.status_code

    assert asyncio.run(place_one("before")) == 200
    with sessions.begin() as s:
        killed = s.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE application_name = :n"), {"n": f"novacron-placement-{os.getpid()}"}).all()
    assert killed and all(k[0] for k in killed)
    assert asyncio.run(place_one("after")) == 200
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(models.VM).where(
            models.VM.vm_id.in_([f"cache-{host}-before", f"cache-{host}-after"]))) == 2
