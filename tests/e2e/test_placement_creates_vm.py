"""A placement creates the VM, on the real chain: POST /v2/placements decides and queues a PLACE
in the decision outbox; the worker's relay publishes it; the actuator defines the domain on the
chosen host (pinned to the chosen NUMA cell) and starts it; the recorder writes the outcome on
the decision and the VM's row. v1 stop and start act on libvirt the same way. On libvirt
test-driver hosts and on a real QEMU host (a private session daemon); a domain that cannot start
is removed again and its VM marked failed. Hosts are this run's own, added to the worker's fleet."""

from __future__ import annotations

import asyncio
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from e2e_support import Pipeline, Tap, wait_for
from fastapi.testclient import TestClient
from novacron.actuators.connection import HostConnection
from novacron.actuators.placement_state import copies
from novacron.actuators.qemu_session import SessionDaemon, remove_guests
from novacron.actuators.xml import HostSpec, NumaCell, host_xml
from novacron.api.admin import create_token
from novacron.api.app import app
from novacron.store import models, repository
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from novacron import topics
from novacron.events import ActionResult, Decision, decode

pytestmark = pytest.mark.e2e
RUN = uuid.uuid4().hex[:8]


def _add_hosts(pipeline: Pipeline, sessions: sessionmaker[Session],
               hosts: list[tuple[HostConnection, int, int, list[dict[str, int]]]]) -> None:
    """Into the worker's fleet (a new dict: its threads may be iterating the old one) and the
    database, labelled with this run's id so only this run's placements pin to them."""
    pipeline.fleet.hosts = {**pipeline.fleet.hosts, **{h.host_id: h for h, *_ in hosts}}
    with sessions.begin() as s:
        for h, vcpus, mem, numa in hosts:
            repository.upsert_host(s, h.host_id, h.uri, vcpus, mem, dict(h.labels))
            row = s.get(models.Host, h.host_id)
            assert row is not None
            row.facts = {"numa": numa}


def _drop_hosts(pipeline: Pipeline, sessions: sessionmaker[Session], ids: list[str]) -> None:
    pipeline.fleet.hosts = {k: v for k, v in pipeline.fleet.hosts.items() if k not in ids}
    with sessions.begin() as s:
        vms = [v for v in s.scalars(select(models.VM.vm_id).where(models.VM.host_id.in_(ids)))]
        s.execute(delete(models.DecisionOutbox).where(models.DecisionOutbox.target_id.in_(vms)))
        s.execute(delete(models.VM).where(models.VM.host_id.in_(ids)))
        s.execute(delete(models.Host).where(models.Host.host_id.in_(ids)))


@pytest.fixture(scope="module")
def api(sessions: sessionmaker[Session]) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with sessions.begin() as s:
        token = create_token(s, f"e2e-place-{RUN}", "operator", "pytest")[1]
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def test_hosts(pipeline: Pipeline, sessions: sessionmaker[Session], tmp_path: Path) -> Iterator[list[str]]:
    """Two test-driver hosts of 16 CPUs in two NUMA cells of 8."""
    added = []
    for i in range(2):
        spec = HostSpec(name=f"pl-{RUN}-{i}", cpus=16, memory_mib=16384,
                        numa=(NumaCell(8, 8192), NumaCell(8, 8192)))
        path = tmp_path / f"{spec.name}.xml"
        path.write_text(host_xml(spec))
        conn = HostConnection(spec.name, f"test://{path}", {"e2e": RUN, "rack": f"rack-{i}", "zone": "zone-0"})
        added.append((conn, 16, 16384, [{"cpus": 8, "memory_mib": 8192}] * 2))
    _add_hosts(pipeline, sessions, added)
    yield [h.host_id for h, *_ in added]
    _drop_hosts(pipeline, sessions, [h.host_id for h, *_ in added])
    for h, *_ in added:
        h.close()


def _outcome(sessions: sessionmaker[Session], decision_id: str) -> dict[str, Any] | None:
    with sessions() as s:
        row = s.get(models.PlacementDecision, uuid.UUID(decision_id))
        return row.outcome if row is not None else None


def _vm(sessions: sessionmaker[Session], vm_id: str) -> models.VM:
    with sessions() as s:
        row = s.get(models.VM, vm_id)
        assert row is not None
        return row


def _live(pipeline: Pipeline, host: str, vm: str) -> ET.Element:
    dom = pipeline.fleet.lookup(host, vm)
    assert dom is not None
    return ET.fromstring(dom.XMLDesc(0))


def _request(vm_id: str, label: str, **vm: Any) -> dict[str, Any]:
    return {"vm": {"vm_id": vm_id, "vcpus": 2, "memory_mib": 1024, "net_mbps": 200, "disk_gib": 10,
                   "iops": 400, "numa": "require", "labels": {"app": f"pl{RUN}"}, **vm},
            "host_affinity": [{"label": label, "values": [RUN]}]}


async def test_a_placement_creates_the_vm_and_v1_powers_it(
        pipeline: Pipeline, sessions: sessionmaker[Session], producer: AIOKafkaProducer,
        api: tuple[TestClient, dict[str, str]], test_hosts: list[str]) -> None:
    client, auth = api
    vm_id = f"pl-{RUN}-vm"
    body = _request(vm_id, "e2e", disks=[{"source": f"/var/lib/nc/{vm_id}.qcow2", "target": "vda"}],
                    nics=[{"kind": "user"}])
    r = client.post("/v2/placements", json=body, headers=auth)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == "placed" and d["applied"] and d["target_host"] in test_hosts
    host = d["target_host"]
    outcome = await asyncio.to_thread(wait_for, lambda: _outcome(sessions, d["decision_id"]), 60,
                                      f"the outcome of placing {vm_id}")
    assert outcome["status"] == "succeeded", outcome
    assert outcome["host_id"] == host and outcome["duration_ms"] > 0 and outcome["at"]
    assert copies(pipeline.fleet, vm_id) == {host: "running"}  # on the chosen host, nowhere else
    vm = _vm(sessions, vm_id)
    assert vm.state == "running" and vm.desired_state == "running" and vm.host_id == host
    for key, want in (("vcpus", 2), ("memory_mib", 1024), ("net_mbps", 200), ("disk_gib", 10),
                      ("iops", 400), ("gpus", 0), ("numa", "require"), ("start", True)):
        assert vm.spec[key] == want, key
    assert vm.spec["disks"][0]["target"] == "vda" and vm.spec["nics"] == [
        {"kind": "user", "source": None, "mac": None, "model": "virtio"}]
    assert len(vm.numa_cells) == 1
    cell = vm.numa_cells[0]
    root = _live(pipeline, host, vm_id)
    mem = root.find("numatune/memory")
    assert mem is not None and mem.get("mode") == "strict" and mem.get("nodeset") == str(cell)
    assert root.find("vcpu").get("cpuset") == f"{8 * cell}-{8 * cell + 7}"  # type: ignore[union-attr]
    assert root.find("devices/disk/source").get("file") == f"/var/lib/nc/{vm_id}.qcow2"  # type: ignore[union-attr]
    listed = client.get("/v2/placements", params={"vm_id": vm_id}, headers=auth).json()
    assert listed[0]["outcome"]["status"] == "succeeded"
    with sessions() as s:
        box = s.get(models.DecisionOutbox, uuid.UUID(d["decision_id"]))
        assert box is not None and box.dispatched_at is not None
        place = Decision.model_validate(box.decision)

    # The same PLACE delivered again: the actuator acts once (no second outcome, same domain).
    uuid_before = pipeline.fleet.lookup(host, vm_id).UUIDString()  # type: ignore[union-attr]
    async with Tap(pipeline.settings, topics.ACTIONS.name) as tap:
        await producer.send_and_wait(topics.DECISIONS.name, place.to_bytes(), key=vm_id.encode())
        seen = await tap.collect(lambda raw: False, 3)
    assert not [a for a in (decode(ActionResult, x) for x in seen) if a.decision_id == place.decision_id]
    assert pipeline.fleet.lookup(host, vm_id).UUIDString() == uuid_before  # type: ignore[union-attr]

    # v1 stop: the domain shuts off; start: it runs again. The row follows what libvirt did.
    stopped = client.post(f"/v1/vms/{vm_id}/stop", headers=auth)
    assert stopped.status_code == 200 and stopped.json()["desired_state"] == "stopped"
    await asyncio.to_thread(wait_for, lambda: copies(pipeline.fleet, vm_id) == {host: "shutoff"}, 30,
                            f"{vm_id} shut off")
    started = client.post(f"/v1/vms/{vm_id}/start", headers=auth)
    assert started.status_code == 200 and started.json()["desired_state"] == "running"
    await asyncio.to_thread(wait_for, lambda: copies(pipeline.fleet, vm_id) == {host: "running"}, 30,
                            f"{vm_id} running again")
    with sessions() as s:
        events = list(s.scalars(select(models.Action).where(
            models.Action.target_id == vm_id, models.Action.action.in_(["start", "shutdown"]))))
        assert sorted((a.action, a.status) for a in events) == [("shutdown", "succeeded"),
                                                                ("start", "succeeded")]
    # v1 delete: forgotten at once, powered off and undefined by the actuator.
    assert client.delete(f"/v1/vms/{vm_id}", headers=auth).status_code == 204
    await asyncio.to_thread(wait_for, lambda: copies(pipeline.fleet, vm_id) == {}, 30, f"{vm_id} undefined")


@pytest.fixture(scope="module")
def qemu_host(pipeline: Pipeline, sessions: sessionmaker[Session]) -> Iterator[HostConnection]:
    with SessionDaemon() as daemon:
        conn = HostConnection(f"plq-{RUN}", daemon.uri, {"qemu": RUN, "rack": "rack-q", "zone": "zone-q"})
        info = conn.get().getInfo()
        cpus, mem = int(info[2]), int(info[1])
        _add_hosts(pipeline, sessions, [(conn, cpus, mem, [{"cpus": cpus, "memory_mib": mem}])])
        try:
            yield conn
        finally:
            names = [d.name() for d in conn.get().listAllDomains()]
            remove_guests(pipeline.fleet, conn.host_id, names)
            _drop_hosts(pipeline, sessions, [conn.host_id])
            conn.close()


async def test_a_real_guest_is_created_pinned_and_a_failed_one_leaves_nothing(
        pipeline: Pipeline, sessions: sessionmaker[Session],
        api: tuple[TestClient, dict[str, str]], qemu_host: HostConnection) -> None:
    client, auth = api
    host = qemu_host.host_id
    good, bad = f"plq-{RUN}-ok", f"plq-{RUN}-bad"
    r = client.post("/v2/placements", json=_request(good, "qemu", vcpus=1, memory_mib=32, net_mbps=0,
                                                     disk_gib=0, iops=0, numa="prefer"), headers=auth)
    assert r.status_code == 200 and r.json()["target_host"] == host, r.text
    outcome = await asyncio.to_thread(wait_for, lambda: _outcome(sessions, r.json()["decision_id"]), 90,
                                      f"the outcome of placing {good}")
    assert outcome["status"] == "succeeded", outcome
    root = _live(pipeline, host, good)
    assert root.get("id") is not None  # running: a live QEMU process
    mem = root.find("numatune/memory")
    assert mem is not None and mem.get("nodeset") == "0" and mem.get("mode") == "strict"

    missing = f"/nonexistent-{RUN}/disk.qcow2"
    r = client.post("/v2/placements", json=_request(bad, "qemu", vcpus=1, memory_mib=32, net_mbps=0,
                                                     disk_gib=0, iops=0, numa="none",
                                                     disks=[{"source": missing, "target": "vda"}]),
                    headers=auth)
    assert r.status_code == 200, r.text
    failed = await asyncio.to_thread(wait_for, lambda: _outcome(sessions, r.json()["decision_id"]), 90,
                                     f"the outcome of placing {bad}")
    assert failed["status"] == "failed" and missing in failed["detail"], failed
    assert "definition was removed" in failed["detail"]
    assert copies(pipeline.fleet, bad) == {}  # nothing left defined
    vm = _vm(sessions, bad)
    assert vm.state == "failed"  # holds no capacity
    with sessions() as s:
        why = s.scalars(select(models.FleetEvent).where(models.FleetEvent.vm_id == bad)).first()
        assert why is not None and why.kind == "place-failed" and missing in why.reason
    assert copies(pipeline.fleet, good) == {host: "running"}  # the other VM is unaffected
    assert client.post(f"/v1/vms/{bad}/start", headers=auth).status_code == 409
