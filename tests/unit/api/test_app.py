"""The API against the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from novacron.api.app import app
from novacron.store import repository
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, Decision


def test_health() -> None:
    assert TestClient(app).get("/healthz").json()["status"] == "ok"


def test_scaling_events_are_served_with_their_explanation(sessions: sessionmaker[Session]) -> None:
    d = Decision(occurred_at=datetime(2026, 1, 1, tzinfo=UTC), action=ActionKind.SCALE_VCPU,
                 target_id="vm-api-test", params={"vcpus": 3}, explanation="because test",
                 decided_by="test")
    with sessions.begin() as s:
        repository.record_decision(s, d)
    body = TestClient(app).get("/v2/scaling-events", params={"vm_id": "vm-api-test"}).json()
    assert any(e["decision_id"] == str(d.decision_id) and e["explanation"] == "because test"
               for e in body)


def test_bad_query_is_a_4xx_not_a_5xx() -> None:
    resp = TestClient(app).get("/v2/scaling-events", params={"limit": 0})
    assert resp.status_code == 422
