"""The VM and decision lists are written as JSON by PostgreSQL (novacron.store.fleet_json);
they must answer exactly what the ORM path (novacron.api.views) answers for the same rows,
through the API and under concurrent requests."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from fastapi.testclient import TestClient
from novacron.api import views
from novacron.api.app import app
from novacron.api.schemas import DecisionOut, VMOut
from novacron.store import fleet, repository
from sqlalchemy.orm import Session, sessionmaker


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def pinned(run: str, vm_id: str) -> dict[str, object]:
    return {"vm": {"vm_id": vm_id, "vcpus": 1, "memory_mib": 256, "labels": {"app": run}},
            "host_affinity": [{"label": "apitest", "values": [run]}]}


def test_vm_list_is_what_the_views_make(client: TestClient, tokens: dict[str, str], run_fleet: str,
                                        sessions: sessionmaker[Session]) -> None:
    host = f"h-{run_fleet}-3"
    with sessions.begin() as s:  # labels with quotes and unicode, a VM with no fraction of a second
        repository.upsert_vm(s, f"fr-{run_fleet}-a", host, 2, 1024, {"k\"ey": "vé", "app": run_fleet})
        repository.upsert_vm(s, f"fr-{run_fleet}-b", host, 1, 512, {}, state="stopped")
        row = fleet.vm(s, f"fr-{run_fleet}-b")
        assert row is not None
        row.updated_at = row.updated_at.replace(microsecond=0)
    for query in (f"?host_id={host}", f"?host_id={host}&state=stopped", f"?host_id={host}&limit=1&offset=1"):
        r = client.get(f"/v1/vms{query}", headers=auth(tokens["viewer"]))
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        params = dict(p.split("=") for p in query[1:].split("&"))
        with sessions() as s:
            want = [VMOut.model_validate(views.vm(v)).model_dump(mode="json") for v in fleet.vms(
                s, int(params.get("limit", 100)), int(params.get("offset", 0)), host, params.get("state"))]
        assert r.json() == want and want, query
    assert client.get("/v1/vms?host_id=nobody-at-all", headers=auth(tokens["viewer"])).json() == []


def test_decision_list_is_what_the_views_make(client: TestClient, tokens: dict[str, str], run_fleet: str,
                                              sessions: sessionmaker[Session], unpaused: None) -> None:
    vm_id = f"fr-{run_fleet}-{uuid.uuid4().hex[:6]}"
    placed = client.post("/v2/placements", json=pinned(run_fleet, vm_id), headers=auth(tokens["operator"]))
    assert placed.status_code == 200, placed.text
    for query in (f"?vm_id={vm_id}", f"?vm_id={vm_id}&status=placed", f"?vm_id={vm_id}&status=pending"):
        r = client.get(f"/v2/placements{query}", headers=auth(tokens["viewer"]))
        assert r.status_code == 200
        params = dict(p.split("=") for p in query[1:].split("&"))
        with sessions() as s:
            want = [DecisionOut.model_validate(views.placement(d)).model_dump(mode="json")
                    for d in fleet.placement_decisions(s, vm_id, params.get("status"), 100)]
        assert r.json() == want, query
    assert len(client.get(f"/v2/placements?vm_id={vm_id}", headers=auth(tokens["viewer"])).json()) == 1
    newest = client.get("/v2/placements?limit=3", headers=auth(tokens["viewer"])).json()
    stamps = [d["decided_at"] for d in newest]
    assert len(newest) == 3 and stamps == sorted(stamps, reverse=True)


def test_concurrent_reads_share_the_pool(tokens: dict[str, str], run_fleet: str) -> None:
    async def many() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api",
                                     headers=auth(tokens["viewer"])) as c:
            answers = await asyncio.gather(*(c.get(f"/v1/vms?host_id=h-{run_fleet}-0&limit={1 + i % 5}")
                                             for i in range(40)))
            return [a.status_code for a in answers]

    assert asyncio.run(many()) == [200] * 40
