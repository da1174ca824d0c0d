"""A VM placed with hard anti-affinity keeps later VMs out of its domain through the API: in the
process that placed it, after the fleet state is rebuilt from PostgreSQL, and when an operator
overrides a parked placement onto its host."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from novacron.api import fleet_cache


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def on_fleet(run: str, labels: dict[str, str], **extra: object) -> dict[str, object]:
    return {"vm": {"vm_id": f"vm-{uuid.uuid4().hex[:8]}", "vcpus": 1, "memory_mib": 512, "labels": labels},
            "host_affinity": [{"label": "apitest", "values": [run]}], **extra}


def test_a_declared_anti_affinity_binds_later_vms_even_after_a_rebuild(
        client: TestClient, tokens: dict[str, str], run_fleet: str, unpaused: None) -> None:
    op, adm = auth(tokens["operator"]), auth(tokens["admin"])
    u = uuid.uuid4().hex[:8]
    a = client.post("/v2/placements", headers=op, json=on_fleet(
        run_fleet, {"app": f"a-{u}"}, anti_affinity=[{"labels": {"role": f"db-{u}"}, "topology_key": "host"}]))
    assert a.status_code in (200, 201) and a.json()["status"] == "placed", a.text
    host_a = a.json()["target_host"]
    # B must share A's host (its own hard affinity) and is what A keeps off its host.
    follow_a = [{"labels": {"app": f"a-{u}"}, "topology_key": "host"}]
    b = client.post("/v2/placements", headers=op,
                    json=on_fleet(run_fleet, {"role": f"db-{u}"}, affinity=follow_a)).json()
    assert b["status"] == "pending" and b["target_host"] is None, b
    # Another VM that A does not name is welcome there.
    c = client.post("/v2/placements", headers=op,
                    json=on_fleet(run_fleet, {"role": f"web-{u}"}, affinity=follow_a)).json()
    assert c["status"] == "placed" and c["target_host"] == host_a
    fleet_cache.invalidate()  # as in a new process: the state comes from PostgreSQL
    b2 = client.post("/v2/placements", headers=op,
                     json=on_fleet(run_fleet, {"role": f"db-{u}"}, affinity=follow_a)).json()
    assert b2["status"] == "pending", b2

    # An operator's override onto A's host is refused for the same reason.
    assert client.put("/v2/pause", json={"paused": True, "reason": "test"}, headers=adm).status_code == 200
    try:
        d = client.post("/v2/placements", headers=op, json=on_fleet(run_fleet, {"role": f"db-{u}"})).json()
        assert d["status"] == "awaiting-approval" and d["target_host"] != host_a
    finally:
        client.put("/v2/pause", json={"paused": False}, headers=adm)
    r = client.post(f"/v2/approvals/{d['decision_id']}/override", json={"target_host": host_a}, headers=op)
    assert r.status_code == 409 and "hard constraint" in r.json()["detail"], r.text
    ok = client.post(f"/v2/approvals/{d['decision_id']}/approve", json={}, headers=op)
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
