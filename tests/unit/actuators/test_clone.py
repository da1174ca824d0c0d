"""Scale-out by clone and scale-up in place, on the real libvirt test driver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import libvirt
import pytest
from novacron.actuators import simfleet
from novacron.actuators.clone import clone_name
from novacron.actuators.connection import Fleet
from novacron.actuators.executor import execute
from novacron.actuators.inspect import domain_state
from novacron.actuators.xml import parse_domain
from novacron.store.ledger import PgLedger
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, ActionStatus, Decision

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VM, SRC, DST = "vm-000-00", "host-000", "host-001"


@pytest.fixture
def fleet(fleet_dir: Path) -> Iterator[Fleet]:
    f = simfleet.build(fleet_dir, hosts=2, vms_per_host=1)
    yield f
    f.close()


def scale(**params: Any) -> Decision:
    return Decision(occurred_at=T0, action=ActionKind.SCALE_OUT, target_id=VM, host_id=DST,
                    params={"rung": "scale", "source_host": SRC, "target_host": DST, **params},
                    explanation="test", decided_by="healer")


def test_clone_runs_a_new_domain_with_the_same_spec(fleet: Fleet,
                                                    sessions: sessionmaker[Session]) -> None:
    ledger = PgLedger(sessions)
    d = scale(direction="out")
    result = execute(d, fleet, ledger)
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    name = clone_name(VM, d.decision_id)
    new = fleet.lookup(DST, name)
    assert new is not None and new.isActive()
    src = fleet.lookup(SRC, VM)
    assert src is not None and src.isActive()  # the original keeps running
    a = parse_domain(src.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    b = parse_domain(new.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert (a.vcpus, a.max_vcpus, a.memory_mib, a.max_memory_mib) == \
        (b.vcpus, b.max_vcpus, b.memory_mib, b.max_memory_mib)
    assert b.labels["clone_of"] == VM and b.labels["host"] == DST
    assert execute(d, fleet, ledger) is None


def test_an_interrupted_clone_finds_its_own_clone_again(fleet: Fleet,
                                                        sessions: sessionmaker[Session]) -> None:
    ledger = PgLedger(sessions)
    d = scale(direction="out")
    assert ledger.claim(d)
    first = execute(d, fleet, ledger)
    assert first is not None and first.status == ActionStatus.SUCCEEDED
    names = fleet.host(DST).get().listDefinedDomains() + [
        dom.name() for dom in fleet.host(DST).get().listAllDomains()]
    assert sorted(set(names)) == sorted({"vm-001-00", clone_name(VM, d.decision_id)})


def test_scale_up_in_place_goes_to_absolute_targets(fleet: Fleet,
                                                    sessions: sessionmaker[Session]) -> None:
    d = scale(direction="up", target_host=SRC)
    result = execute(d, fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    dom = fleet.lookup(SRC, VM)
    assert dom is not None
    state = domain_state(dom)
    assert state["vcpus"] == 8 and state["memory_mib"] == 8192
