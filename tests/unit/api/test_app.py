"""The API against the real PostgreSQL: health, the decision log, validation."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from novacron.store import repository
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, Decision


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"


def test_openapi_is_published(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert "/v1/vms" in doc["paths"] and "/v2/placements" in doc["paths"]


def test_scaling_events_are_served_with_their_explanation(
        client: TestClient, sessions: sessionmaker[Session], tokens: dict[str, str]) -> None:
    d = Decision(occurred_at=datetime(2026, 1, 1, tzinfo=UTC), action=ActionKind.SCALE_VCPU,
                 target_id="vm-api-test", params={"vcpus": 3}, explanation="because test",
                 decided_by="test")
    with sessions.begin() as s:
        repository.record_decision(s, d)
    body = client.get("/v2/scaling-events", params={"vm_id": "vm-api-test"},
                      headers=auth(tokens["viewer"])).json()
    assert any(e["decision_id"] == str(d.decision_id) and e["explanation"] == "because test"
               for e in body)


def test_bad_query_is_a_4xx_not_a_5xx(client: TestClient, tokens: dict[str, str]) -> None:
    resp = client.get("/v2/scaling-events", params={"limit": 0}, headers=auth(tokens["viewer"]))
    assert resp.status_code == 422


def test_unknown_field_is_refused_with_its_name(client: TestClient, tokens: dict[str, str]) -> None:
    resp = client.post("/v1/vms", json={"vcpus": 1, "memory_mib": 512, "colour": "red"},
                       headers=auth(tokens["operator"]))
    assert resp.status_code == 422 and "colour" in resp.text


def test_request_size_limit(client: TestClient, tokens: dict[str, str]) -> None:
    resp = client.post("/v2/policies/lint", content=b"{" + b" " * (2 << 20) + b"}",
                       headers={**auth(tokens["viewer"]), "content-type": "application/json"})
    assert resp.status_code == 413


def test_nul_in_a_path_is_a_4xx(client: TestClient, tokens: dict[str, str]) -> None:
    resp = client.get("/v1/vms/a%00b", headers=auth(tokens["viewer"]))
    assert resp.status_code == 422
