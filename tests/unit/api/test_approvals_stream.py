"""Approvals of stream decisions (scaling, healing) through the API: approving queues them for
the actuators' relay, overriding them with a host is refused, and viewers cannot approve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from novacron.store import control, models
from novacron.streams import approvals
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, AutonomyMode, Decision


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def parked(sessions: sessionmaker[Session]) -> Decision:
    d = Decision(occurred_at=datetime(2026, 1, 1, tzinfo=UTC), action=ActionKind.SCALE_VCPU,
                 target_id="vm-apitest-1", params={"vcpus": 4}, explanation="forecast: 3.6 vCPUs busy",
                 decided_by="autoscaler/test", mode=AutonomyMode.APPROVE)
    with sessions.begin() as s:
        control.add_pending(s, d.decision_id, d.action.value, d.target_id, d.model_dump(mode="json"),
                            "the policy says approve for scale_vcpu")
    return d


def test_approving_a_scaling_decision_hands_it_to_the_relay(
        client: TestClient, tokens: dict[str, str], sessions: sessionmaker[Session], unpaused: None) -> None:
    d = parked(sessions)
    url = f"/v2/approvals/{d.decision_id}"
    assert client.post(url + "/approve", json={}, headers=auth(tokens["viewer"])).status_code == 403
    r = client.post(url + "/override", json={"target_host": "h-1"}, headers=auth(tokens["operator"]))
    assert r.status_code == 409 and "only placements" in r.json()["detail"]
    r = client.post(url + "/approve", json={"comment": "go"}, headers=auth(tokens["operator"]))
    assert r.status_code == 200 and r.json()["status"] == "approved"
    copies, _ = approvals.take_approved(sessions, limit=1000)
    mine = [c for c in copies if c.params.get("approved_from") == str(d.decision_id)]
    assert len(mine) == 1 and mine[0].mode == AutonomyMode.AUTO and mine[0].params["vcpus"] == 4
    approvals.mark_dispatched(sessions, [d.decision_id])


def test_a_stale_scaling_decision_cannot_be_approved_but_can_be_rejected(
        client: TestClient, tokens: dict[str, str], sessions: sessionmaker[Session], unpaused: None) -> None:
    d = parked(sessions)
    with sessions.begin() as s:  # parked two hours ago
        row = s.get(models.PendingDecision, d.decision_id)
        assert row is not None
        row.created_at = datetime.now(UTC) - timedelta(hours=2)
    url = f"/v2/approvals/{d.decision_id}"
    r = client.post(url + "/approve", json={}, headers=auth(tokens["operator"]))
    assert r.status_code == 409 and "stale" in r.json()["detail"] and "reject it" in r.json()["detail"]
    copies, _ = approvals.take_approved(sessions, limit=1000)
    assert not [c for c in copies if c.params.get("approved_from") == str(d.decision_id)]
    r = client.post(url + "/reject", json={"comment": "too late"}, headers=auth(tokens["operator"]))
    assert r.status_code == 200 and r.json()["status"] == "rejected"
