"""GET /v2/fleet/events: what the reconciler found on a real libvirt test-driver host, newest
first, filtered by VM and kind, for any viewer."""

from __future__ import annotations

import uuid
from pathlib import Path

from conftest import auth
from fastapi.testclient import TestClient
from novacron.actuators.connection import Fleet, HostConnection
from novacron.actuators.xml import DomainSpec, HostSpec, NumaCell, domain_xml, host_xml
from novacron.store import models
from novacron.streams.reconciler import reconcile_once
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker


def test_the_api_lists_the_reconcilers_events(client: TestClient, tokens: dict[str, str],
                                              sessions: sessionmaker[Session], tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    host_id, vm = f"api-rc-{run}", f"api-rc-vm-{run}"
    path = tmp_path / "h.xml"
    path.write_text(host_xml(HostSpec(host_id, 4, 8192, (NumaCell(4, 8192),))))
    fleet = Fleet([HostConnection(host_id, f"test://{path}")])
    try:
        dom = fleet.host(host_id).get().defineXML(domain_xml(DomainSpec(
            name=vm, vcpus=1, max_vcpus=1, memory_mib=128, max_memory_mib=128, labels={"app": run})))
        memory = reconcile_once(fleet, sessions).memory
        dom.undefine()
        reconcile_once(fleet, sessions, memory=memory)

        resp = client.get("/v2/fleet/events", params={"vm_id": vm}, headers=auth(tokens["viewer"]))
        assert resp.status_code == 200
        body = resp.json()
        assert [e["kind"] for e in body] == ["vanished", "discovered"]
        assert body[1]["host_id"] == host_id and body[1]["detail"]["labels"] == {"app": run}
        assert "PostgreSQL did not know it" in body[1]["reason"]
        assert body[0]["id"] > body[1]["id"]

        only = client.get("/v2/fleet/events", params={"vm_id": vm, "kind": "discovered", "limit": 5},
                          headers=auth(tokens["viewer"])).json()
        assert [e["kind"] for e in only] == ["discovered"]
        by_host = client.get("/v2/fleet/events", params={"host_id": host_id, "kind": "host-added"},
                             headers=auth(tokens["viewer"])).json()
        assert len(by_host) == 1 and by_host[0]["vm_id"] is None

        bad = client.get("/v2/fleet/events", params={"kind": "exploded"}, headers=auth(tokens["viewer"]))
        assert bad.status_code == 422 and "detail" in bad.json()
        assert client.get("/v2/fleet/events").status_code == 401
    finally:
        fleet.close()
        with sessions.begin() as s:
            s.execute(delete(models.VM).where(models.VM.vm_id == vm))
            s.execute(delete(models.Host).where(models.Host.host_id == host_id))
