"""Migration on the real libvirt test driver (no live migration there, so cold), with the
PostgreSQL ledger: never two running copies, and an actuator killed between any two steps
converges when the same decision is executed again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from novacron.actuators import migrate, simfleet
from novacron.actuators.connection import Fleet
from novacron.actuators.executor import execute
from novacron.actuators.placement_state import where
from novacron.store.ledger import PgLedger
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, ActionStatus, Decision

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VM, SRC, DST = "vm-000-00", "host-000", "host-001"
STEPS = ["source-stopped", "target-defined", "target-started", "source-undefined"]


class Killed(BaseException):
    """The actuator dies here (not an error it could catch and report)."""


@pytest.fixture
def fleet(fleet_dir: Path) -> Iterator[Fleet]:
    f = simfleet.build(fleet_dir, hosts=2, vms_per_host=1)
    yield f
    f.close()


def move(rung: str = "cold_migrate", **params: Any) -> Decision:
    return Decision(occurred_at=T0, action=ActionKind.MIGRATE, target_id=VM, host_id=DST,
                    params={"rung": rung, "source_host": SRC, "target_host": DST,
                            "budget_s": 10, **params},
                    explanation="test", decided_by="healer")


def running(fleet: Fleet) -> list[str]:
    return list(where(fleet, VM)["running_on"])


@pytest.mark.parametrize("rung", ["cold_migrate", "live_migrate"])
def test_moves_the_vm_and_verifies(fleet: Fleet, sessions: sessionmaker[Session], rung: str) -> None:
    result = execute(move(rung), fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    assert result.before["running_on"] == [SRC] and result.after["running_on"] == [DST]
    assert result.after["copies"] == {DST: "running"}  # undefined on the source
    assert result.host_id == DST
    if rung == "live_migrate":
        assert "live unavailable" in result.detail  # the test driver cannot migrate live
    spec = fleet.specs[VM]
    assert spec.labels["app"] == "app-0"


@pytest.mark.parametrize("kill_at", STEPS)
@pytest.mark.parametrize("source_running", [True, False])
def test_a_killed_actuator_never_leaves_two_copies_and_converges(
    fleet: Fleet, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
    kill_at: str, source_running: bool,
) -> None:
    if not source_running:  # a crashed VM (or one fenced by the healer first)
        dom = fleet.lookup(SRC, VM)
        assert dom is not None
        dom.destroy()
    seen: list[tuple[str, list[str]]] = []

    def checkpoint(step: str) -> None:
        seen.append((step, running(fleet)))
        assert len(running(fleet)) <= 1, f"two running copies after {step}"
        if step == kill_at:
            raise Killed(step)

    monkeypatch.setattr(migrate, "_checkpoint", checkpoint)
    ledger = PgLedger(sessions)
    d = move()
    if kill_at == "source-stopped" and not source_running:
        pass  # that step does not happen for a VM already off: the kill never fires
    else:
        with pytest.raises(Killed):
            execute(d, fleet, ledger)
        assert ledger.status(d.decision_id) == "claimed"
        assert len(running(fleet)) <= 1
    result = execute(d, fleet, ledger)  # redelivered after the restart
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    assert running(fleet) == [DST]
    assert where(fleet, VM)["copies"] == {DST: "running"}
    assert all(len(r) <= 1 for _, r in seen)
    assert execute(d, fleet, ledger) is None


def test_refuses_to_start_a_copy_while_the_source_still_runs(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, sessions: sessionmaker[Session],
) -> None:
    # The source comes back (someone starts it) right after it was stopped.
    def checkpoint(step: str) -> None:
        if step == "source-stopped":
            dom = fleet.lookup(SRC, VM)
            assert dom is not None
            dom.create()

    monkeypatch.setattr(migrate, "_checkpoint", checkpoint)
    result = execute(move(), fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.FAILED
    assert "still running" in result.detail
    assert running(fleet) == [SRC]


def test_an_unreachable_source_needs_a_fence_proof(
    fleet: Fleet, sessions: sessionmaker[Session]
) -> None:
    host = fleet.host(SRC)
    host.close()
    host.uri = "test:///nonexistent/host-000.xml"  # the host is gone
    ledger = PgLedger(sessions)
    unfenced = execute(move(), fleet, ledger)
    assert unfenced is not None and unfenced.status == ActionStatus.FAILED
    assert "not fenced" in unfenced.detail and running(fleet) == []
    fenced = execute(move(fence={"method": "test", "fenced": True}), fleet, ledger)
    assert fenced is not None and fenced.status == ActionStatus.SUCCEEDED, fenced
    assert running(fleet) == [DST] and "stale definition" in fenced.detail


def test_disaster_recovery_is_a_cold_move(fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    d = Decision(occurred_at=T0, action=ActionKind.START, target_id=VM, host_id=DST,
                 params={"rung": "disaster_recovery", "source_host": SRC, "target_host": DST},
                 explanation="test", decided_by="healer")
    result = execute(d, fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    assert running(fleet) == [DST]


def test_a_cold_move_carries_disks_and_nics(fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    import libvirt
    from novacron.actuators.xml import DiskSpec, NicSpec, domain_xml, parse_domain

    src = fleet.host(SRC).get()
    old = src.lookupByName(VM)
    spec = parse_domain(old.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).model_copy(update={
        "disks": (DiskSpec(source="/var/lib/novacron/vm-000-00.qcow2", target="vda"),),
        "nics": (NicSpec(kind="network", source="default", mac="52:54:00:12:34:56"),)})
    old.destroy()
    old.undefine()
    src.defineXML(domain_xml(spec)).create()
    result = execute(move(), fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    moved = parse_domain(fleet.host(DST).get().lookupByName(VM).XMLDesc(
        libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert moved.disks == spec.disks and moved.nics == spec.nics
