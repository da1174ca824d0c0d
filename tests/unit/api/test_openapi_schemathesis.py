"""schemathesis against the published OpenAPI document: the real app on the real PostgreSQL,
called with a real admin token. Every operation: no 5xx, every status it answers is documented,
every body it returns matches the documented schema, and the content type is the declared one.

The database is shared, so the few calls that would change what other tests rely on are
steered (never skipped): the pause switch is only ever set to "running", bulk policy apply is
limited to a VM that does not exist, placements are pinned to this run's hosts, and whatever a
case creates (VMs, policies, tokens) is removed right after it."""

from __future__ import annotations

import uuid
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from novacron.api.app import app
from novacron.store import models
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

schema = schemathesis.openapi.from_asgi("/openapi.json", app)
RUN = uuid.uuid4().hex[:8]
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance,
          content_type_conformance]


def _steer(case: Any, run_fleet: str) -> None:
    """Keep a generated call from disturbing state other tests share (see the module doc)."""
    op = f"{case.method.upper()} {case.path}"
    body = case.body if isinstance(case.body, dict) else None
    if op == "PUT /v2/pause" and body is not None:
        body["paused"] = False
    elif op == "POST /v2/policies/apply" and body is not None:
        body["vm_ids"] = [f"nonexistent-{RUN}"]
    elif op == "POST /v2/placements" and body is not None:
        body["host_affinity"] = [{"label": "apitest", "values": [run_fleet], "operator": "In",
                                  "hard": True, "weight": 1.0}]


def _undo(case: Any, response: Any, sessions: sessionmaker[Session]) -> None:
    """Remove what the call created, keyed by what it answered."""
    if response.status_code not in (200, 201):
        return
    try:
        data = response.json()
    except ValueError:
        return
    if not isinstance(data, dict):
        return
    with sessions.begin() as s:
        if case.path in ("/v1/vms", "/v2/placements") and isinstance(data.get("vm_id"), str):
            s.execute(delete(models.VM).where(models.VM.vm_id == data["vm_id"]))
        elif case.path == "/v2/policies/{name}" and case.method.upper() == "PUT":
            s.execute(delete(models.OrchestrationPolicy).where(
                models.OrchestrationPolicy.name == data.get("name")))
        elif case.path == "/v2/tokens" and isinstance(data.get("token_id"), str):
            s.execute(delete(models.ApiToken).where(models.ApiToken.token_id == data["token_id"]))


@pytest.fixture(scope="module")
def admin_headers(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['admin']}"}


@schema.parametrize()
@hypothesis.settings(max_examples=6, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_openapi_conformance(case: Any, admin_headers: dict[str, str], run_fleet: str,
                             sessions: sessionmaker[Session], client: TestClient) -> None:
    _steer(case, run_fleet)
    response = case.call(headers=admin_headers)
    try:
        case.validate_response(response, checks=CHECKS)
    finally:
        _undo(case, response, sessions)


def test_the_token_used_is_real(client: TestClient, admin_headers: dict[str, str]) -> None:
    """Guard: the suite above must exercise the routes, not bounce off 401s."""
    assert client.get("/v2/tokens", headers=admin_headers).status_code == 200
    assert client.get("/v2/tokens", headers={"Authorization": f"Bearer ncr_{uuid.uuid4().hex[:16]}_x"}
                      ).status_code == 401
