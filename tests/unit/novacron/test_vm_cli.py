"""``novacron vm create`` on the real PostgreSQL: it runs the placement use case, prints the
decision with its score, explanation and alternatives, queues the PLACE, and with ``--wait``
waits for the outcome the recorder writes."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from novacron.store import control, models, repository
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from novacron.cli import app


@pytest.fixture
def tag(sessions: sessionmaker[Session]) -> Iterator[str]:
    t = uuid.uuid4().hex[:10]
    with sessions.begin() as s:
        control.set_pause(s, False, "", "pytest")
        for i in range(2):
            repository.upsert_host(s, f"cli-{t}-{i}", "test:///default", 8, 16384, {"clitest": t})
    yield t
    with sessions.begin() as s:
        s.execute(delete(models.DecisionOutbox).where(models.DecisionOutbox.target_id.startswith(f"cli-{t}")))
        s.execute(delete(models.VM).where(models.VM.vm_id.startswith(f"cli-{t}")))
        s.execute(delete(models.PlacementDecision).where(models.PlacementDecision.vm_id.startswith(f"cli-{t}")))
        s.execute(delete(models.Host).where(models.Host.host_id.startswith(f"cli-{t}-")))


def args(tag: str, vm_id: str, *extra: str) -> list[str]:
    return ["vm", "create", "--vm-id", vm_id, "--vcpus", "2", "--memory-mib", "1024", "--iops", "300",
            "--numa", "prefer", "--label", f"app={tag}", "--host-label", f"clitest={tag}",
            "--disk", f"/var/lib/nc/{vm_id}.qcow2:vda", "--nic", "user", *extra]


def test_create_prints_the_decision_and_queues_the_place(sessions: sessionmaker[Session], tag: str) -> None:
    vm_id = f"cli-{tag}-a"
    r = CliRunner().invoke(app, args(tag, vm_id), env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert f"placed {vm_id} -> cli-{tag}-" in r.output and "score" in r.output
    assert "alternatives" in r.output and "why it lost" in r.output and "queued for the actuators" in r.output
    with sessions() as s:
        vm = s.get(models.VM, vm_id)
        assert vm is not None and vm.spec["iops"] == 300 and vm.spec["disks"][0]["target"] == "vda"
        assert vm.spec["nics"][0]["kind"] == "user" and vm.numa_cells == [0]
        assert s.query(models.DecisionOutbox).filter_by(target_id=vm_id).count() == 1
    again = CliRunner().invoke(app, args(tag, vm_id))
    assert again.exit_code == 1 and "refused (409)" in again.output and "already exists" in again.output
    bad = CliRunner().invoke(app, args(tag, f"cli-{tag}-b", "--disk", "relative.img:vdb"))
    assert bad.exit_code == 2 and "vm.disks.1.source" in bad.output and "'relative.img'" in bad.output


def test_wait_reports_the_outcome_or_that_none_came(sessions: sessionmaker[Session], tag: str) -> None:
    r = CliRunner().invoke(app, args(tag, f"cli-{tag}-c", "--wait", "--timeout", "0.5"))
    assert r.exit_code == 1 and "no outcome within 0.5 s" in r.output

    vm_id = f"cli-{tag}-d"

    def actuator() -> None:  # stands in for the worker: the recorder writes the outcome
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with sessions.begin() as s:
                row = s.query(models.PlacementDecision).filter_by(vm_id=vm_id).one_or_none()
                if row is not None:
                    row.outcome = {"status": "succeeded", "detail": "defined; started; verified",
                                   "host_id": row.target_host, "at": "2026-01-01T00:00:00+00:00",
                                   "duration_ms": 42.0}
                    return
            time.sleep(0.1)

    t = threading.Thread(target=actuator)
    t.start()
    r = CliRunner().invoke(app, args(tag, vm_id, "--wait", "--timeout", "20"))
    t.join()
    assert r.exit_code == 0, r.output
    assert "succeeded on cli-" in r.output and "42 ms" in r.output
