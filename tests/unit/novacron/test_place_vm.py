"""The placement use case (novacron.place_vm) on the real PostgreSQL: what a placement writes
(the VM with every dimension, its PLACE in the outbox, in one transaction) and its typed
refusals, each raised before anything is written."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import HTTPException
from novacron.api.schemas import PlacementIn
from novacron.store import control, models, repository
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from novacron import place_vm
from novacron.events import ActionKind, AutonomyMode, Decision

ACTOR = "cli:pytest"


@pytest.fixture
def tag(sessions: sessionmaker[Session]) -> Iterator[str]:
    """Two hosts of 8 vCPUs only this test's placements may use; the fleet unpaused."""
    t = uuid.uuid4().hex[:10]
    with sessions.begin() as s:
        control.set_pause(s, False, "", "pytest")
        for i in range(2):
            repository.upsert_host(s, f"pv-{t}-{i}", "test:///default", 8, 16384, {"pvtest": t})
    yield t
    with sessions.begin() as s:
        s.execute(delete(models.DecisionOutbox).where(models.DecisionOutbox.target_id.startswith(f"pv-{t}")))
        s.execute(delete(models.VM).where(models.VM.vm_id.startswith(f"pv-{t}")))
        s.execute(delete(models.PendingDecision).where(models.PendingDecision.target_id.startswith(f"pv-{t}")))
        s.execute(delete(models.PlacementDecision).where(models.PlacementDecision.vm_id.startswith(f"pv-{t}")))
        s.execute(delete(models.Host).where(models.Host.host_id.startswith(f"pv-{t}-")))


def body(tag: str, vm_id: str, **extra: Any) -> PlacementIn:
    vm = {"vm_id": vm_id, "vcpus": 2, "memory_mib": 1024, "net_mbps": 250, "disk_gib": 20, "iops": 800,
          "numa": "require", "labels": {"app": tag},
          "disks": [{"source": "/var/lib/nc/img.qcow2", "target": "vda"}],
          "nics": [{"kind": "bridge", "source": "br0", "mac": "52:54:00:00:00:01"}],
          **extra.pop("vm", {})}
    return PlacementIn.model_validate({"vm": vm, "host_affinity": [{"label": "pvtest", "values": [tag]}],
                                       **extra})


def outbox_rows(s: Session, vm_id: str) -> list[models.DecisionOutbox]:
    return list(s.scalars(select(models.DecisionOutbox).where(models.DecisionOutbox.target_id == vm_id)))


def test_a_placement_records_the_vm_and_queues_its_place(sessions: sessionmaker[Session], tag: str) -> None:
    vm_id = f"pv-{tag}-a"
    with sessions.begin() as s:
        out = place_vm.place(s, body(tag, vm_id), ACTOR, tags=["gold"], start=False)
        assert out.applied and out.row is not None and out.place is not None
    with sessions() as s:
        vm = s.get(models.VM, vm_id)
        assert vm is not None and vm.host_id == out.row.target_host and vm.host_id.startswith(f"pv-{tag}-")
        assert vm.desired_state == "stopped" and vm.numa_cells == [0]
        for key, want in (("vcpus", 2), ("memory_mib", 1024), ("net_mbps", 250), ("disk_gib", 20),
                          ("iops", 800), ("gpus", 0), ("numa", "require"), ("labels", {"app": tag}),
                          ("start", False), ("strategy", "balanced")):
            assert vm.spec[key] == want, key
        assert vm.spec["disks"][0]["source"] == "/var/lib/nc/img.qcow2"
        assert vm.spec["nics"][0] == {"kind": "bridge", "source": "br0", "mac": "52:54:00:00:00:01",
                                      "model": "virtio"}
        rows = outbox_rows(s, vm_id)
        assert len(rows) == 1 and rows[0].dispatched_at is None and rows[0].action == "place"
        d = Decision.model_validate(rows[0].decision)
        # The PLACE carries the placement's id, so its outcome lands on that decision.
        assert d.decision_id == out.row.decision_id and d.action == ActionKind.PLACE
        assert d.host_id == vm.host_id and d.mode == AutonomyMode.AUTO and d.decided_by == ACTOR
        assert d.params["numa_cells"] == [0] and d.params["start"] is False
        assert d.params["tags"] == ["gold"] and d.params["disks"] == vm.spec["disks"]
        assert d.params["iops"] == 800 and d.alternatives  # the other host lost


def test_refusals_are_typed_and_write_nothing(sessions: sessionmaker[Session], tag: str) -> None:
    vm_id = f"pv-{tag}-b"
    with sessions.begin() as s:
        place_vm.place(s, body(tag, vm_id), ACTOR)
    with sessions.begin() as s, pytest.raises(place_vm.PlacementConflict) as taken:
        place_vm.place(s, body(tag, vm_id), ACTOR)
    assert taken.value.status_code == 409 and "already exists" in str(taken.value.detail)
    assert not isinstance(taken.value, HTTPException)
    hard_numa = [{"labels": {"app": "x"}, "topology_key": "numa"}]
    with sessions.begin() as s, pytest.raises(place_vm.PlacementInvalid) as bad:
        place_vm.place(s, body(tag, f"pv-{tag}-c", vm={"numa": "none"}, affinity=hard_numa), ACTOR)
    assert bad.value.status_code == 422 and isinstance(bad.value.detail, list)
    assert bad.value.detail[0]["loc"][:2] == ["body", "constraints"] and "vm.numa=require" in bad.value.detail[0]["msg"]
    with sessions.begin() as s, pytest.raises(place_vm.PlacementConflict) as full:
        place_vm.place(s, body(tag, f"pv-{tag}-d", vm={"vcpus": 64}), ACTOR, require_applied=True)
    assert isinstance(full.value.detail, dict) and full.value.detail["message"] == "VM not created: pending"
    with sessions() as s:
        assert len(outbox_rows(s, vm_id)) == 1
        n = s.scalar(select(func.count()).select_from(models.DecisionOutbox)
                     .where(models.DecisionOutbox.target_id.in_([f"pv-{tag}-c", f"pv-{tag}-d"])))
        assert n == 0


def test_dry_run_and_parked_placements_queue_nothing_until_approved(
        sessions: sessionmaker[Session], tag: str) -> None:
    with sessions.begin() as s:
        dry = place_vm.place(s, body(tag, f"pv-{tag}-e", dry_run=True), ACTOR)
    assert dry.preview is not None and dry.preview["status"] == "placed" and dry.place is None
    vm_id = f"pv-{tag}-f"
    with sessions.begin() as s:
        control.set_pause(s, True, "test", "pytest")
        parked = place_vm.place(s, body(tag, vm_id), ACTOR)
        control.set_pause(s, False, "", "pytest")
    assert parked.row is not None and parked.row.status == "awaiting-approval" and parked.place is None
    with sessions() as s:
        assert outbox_rows(s, f"pv-{tag}-e") == [] and outbox_rows(s, vm_id) == []
    with sessions.begin() as s, pytest.raises(place_vm.PlacementInvalid):
        place_vm.apply_to_host(s, parked.row.decision_id, parked.row.request or {}, "no-such-host", ACTOR)
    other = f"pv-{tag}-1"
    with sessions.begin() as s:  # what an operator's override does
        order = place_vm.apply_to_host(s, parked.row.decision_id, parked.row.request or {}, other, ACTOR)
    assert order.decision_id == parked.row.decision_id and order.host_id == other
    with sessions() as s:
        rows = outbox_rows(s, vm_id)
        assert [r.decision_id for r in rows] == [parked.row.decision_id]
        vm = s.get(models.VM, vm_id)
        assert vm is not None and vm.host_id == other and vm.numa_cells == [0]
        assert vm.spec["iops"] == 800
    with sessions.begin() as s, pytest.raises(place_vm.PlacementConflict):
        place_vm.apply_to_host(s, parked.row.decision_id, parked.row.request or {}, other, ACTOR)


def test_the_use_case_loads_no_web_framework() -> None:
    """The CLI and the agents call it without the API: it raises its own errors, not HTTP ones."""
    import subprocess
    import sys

    code = "import sys, novacron.place_vm, novacron.vm_power; print('fastapi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
