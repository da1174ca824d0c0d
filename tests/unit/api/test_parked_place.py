"""A PLACE that reaches the actuators while the fleet is paused is parked like any decision;
approving it through the API relays it (its VM is already recorded), and its outcome lands on
the placement's decision. Rejecting it frees the capacity its VM held; it cannot be overridden."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from novacron.actuators import simfleet
from novacron.actuators.connection import Fleet, HostConnection
from novacron.actuators.placement_state import copies
from novacron.store import control, models, outbox, outcomes
from novacron.streams import approvals
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionStatus, Decision


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def pinned(run: str, vm_id: str) -> dict[str, object]:
    return {"vm": {"vm_id": vm_id, "vcpus": 1, "memory_mib": 256, "numa": "prefer", "labels": {"app": run}},
            "host_affinity": [{"label": "apitest", "values": [run]}]}


def queued(sessions: sessionmaker[Session], decision_id: str) -> Decision:
    with sessions() as s:
        row = outbox.get(s, uuid.UUID(decision_id))
        assert row is not None
        return Decision.model_validate(row.decision)


def test_a_place_parked_by_the_pause_is_approved_relayed_and_recorded(
        client: TestClient, tokens: dict[str, str], run_fleet: str, sessions: sessionmaker[Session],
        unpaused: None, tmp_path: Path) -> None:
    op = auth(tokens["operator"])
    vm_id = f"pp-{uuid.uuid4().hex[:8]}"
    d = client.post("/v2/placements", json=pinned(run_fleet, vm_id), headers=op).json()
    assert d["status"] == "placed" and d["applied"]
    place = queued(sessions, d["decision_id"])
    # The actuators' fleet: a test-driver host under the name the placement chose.
    assert place.host_id is not None
    built = simfleet.build(tmp_path, hosts=1, vms_per_host=0)
    fleet = Fleet([HostConnection(place.host_id, built.hosts["host-000"].uri)])
    built.close()
    try:
        skipped = approvals.act(place, fleet, sessions, forced_pause=True)
        assert skipped is not None and skipped.status == ActionStatus.SKIPPED
        with sessions.begin() as s:
            outcomes.record_outcome(s, skipped)
        url = f"/v2/approvals/{place.decision_id}"
        r = client.post(url + "/override", json={"target_host": f"h-{run_fleet}-0"}, headers=op)
        assert r.status_code == 409 and "approve or reject it" in r.json()["detail"]
        r = client.post(url + "/approve", json={}, headers=op)
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text
        copies_, _ = approvals.take_approved(sessions, limit=1000)
        mine = [c for c in copies_ if c.params.get("approved_from") == str(place.decision_id)]
        assert len(mine) == 1
        done = approvals.act(mine[0], fleet, sessions)
        assert done is not None and done.status == ActionStatus.SUCCEEDED, done
        assert copies(fleet, vm_id) == {place.host_id: "running"}
        with sessions.begin() as s:
            outcomes.record_outcome(s, done)
        got = client.get(f"/v2/placements/{d['decision_id']}", headers=op).json()
        assert got["outcome"]["status"] == "succeeded"
        assert client.get(f"/v1/vms/{vm_id}", headers=op).json()["state"] == "running"
    finally:
        fleet.close()


def test_rejecting_a_parked_place_frees_its_vm(client: TestClient, tokens: dict[str, str], run_fleet: str,
                                               sessions: sessionmaker[Session], unpaused: None) -> None:
    op = auth(tokens["operator"])
    vm_id = f"pp-{uuid.uuid4().hex[:8]}"
    d = client.post("/v2/placements", json=pinned(run_fleet, vm_id), headers=op).json()
    place = queued(sessions, d["decision_id"])
    with sessions.begin() as s:  # what the actuators do with a PLACE while paused
        control.add_pending(s, place.decision_id, place.action.value, place.target_id,
                            place.model_dump(mode="json"), "the fleet is paused (global pause switch)")
    r = client.post(f"/v2/approvals/{place.decision_id}/reject", json={}, headers=op)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert client.get(f"/v2/placements/{d['decision_id']}", headers=op).json()["status"] == "rejected"
    with sessions() as s:
        vm = s.get(models.VM, vm_id)
        assert vm is not None and vm.state == "failed"
