"""A group's scale-out then scale-in on the libvirt test driver: the clone lands on the host
the placement engine chose, and removing it leaves the group as it was."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from novacron.actuators import simfleet
from novacron.actuators.clone import group_inventory
from novacron.actuators.connection import Fleet
from novacron.actuators.executor import execute
from novacron.actuators.xml import DomainSpec, domain_xml
from novacron.autoscaler.live_group import (
    ANTI_AFFINITY_LABEL,
    CLONE_OF_LABEL,
    GROUP_LABEL,
    FleetView,
    Memory,
    default_group_policy,
    evaluate_group,
    group_policy,
    record_feature,
)
from novacron.store.ledger import PgLedger
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionKind, ActionStatus, Decision

G = "shop"
T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
POLICY = group_policy({ANTI_AFFINITY_LABEL: "host"}, default_group_policy())


@pytest.fixture
def fleet(fleet_dir: Path) -> Iterator[Fleet]:
    f = simfleet.build(fleet_dir, hosts=3, vms_per_host=1)
    conn = f.host("host-000").get()
    spec = DomainSpec(name="shop-0", vcpus=2, max_vcpus=4, memory_mib=1024, max_memory_mib=2048,
                      labels={GROUP_LABEL: G, ANTI_AFFINITY_LABEL: "host", "app": "shop"})
    conn.defineXML(domain_xml(spec)).create()
    yield f
    f.close()


def snapshot(view: FleetView) -> set[tuple[str, str, bool]]:
    return {(v.vm_id, v.host_id, v.running) for v in view.vms}


def decide(fleet: Fleet, util: float, at: float, memory: Memory) -> tuple[Decision | None, Memory]:
    view = group_inventory(fleet)
    for m in view.members(G):
        memory = record_feature(memory, m.vm_id, at, util, m.vcpus, [util] * 30, 60.0)
    out = evaluate_group(G, memory, view, POLICY, at)
    return out.decision, out.memory


def test_scale_out_then_in_leaves_the_group_as_before(fleet: Fleet,
                                                      sessions: sessionmaker[Session]) -> None:
    ledger = PgLedger(sessions)
    before = group_inventory(fleet)
    assert [m.vm_id for m in before.members(G)] == ["shop-0"]
    out, memory = decide(fleet, 97.0, T0, {})
    assert out is not None and out.action is ActionKind.SCALE_OUT
    [planned] = out.params["clones"]
    assert planned["target_host"] != "host-000"  # hard anti-affinity per host
    result = execute(out, fleet, ledger)
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    assert "verified" in result.detail and result.host_id == planned["target_host"]
    grown = group_inventory(fleet)
    clone = next(m for m in grown.members(G) if m.vm_id == planned["name"])
    assert clone.host_id == planned["target_host"] and clone.running and clone.is_clone
    assert clone.labels[CLONE_OF_LABEL] == "shop-0" and clone.cloned_at == T0
    assert execute(out, fleet, ledger) is None  # a redelivery does nothing

    # Load falls and stays low: the rule scales in, naming the clone, not the original.
    scale_in = None
    for k in range(1, 60):
        scale_in, memory = decide(fleet, 5.0, T0 + 60 * k, memory)
        if scale_in is not None:
            break
    assert scale_in is not None and scale_in.action is ActionKind.SCALE_IN
    assert scale_in.params["remove"] == [{"name": planned["name"], "host": planned["target_host"]}]
    result = execute(scale_in, fleet, ledger)
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    assert snapshot(group_inventory(fleet)) == snapshot(before)
    assert fleet.lookup(planned["target_host"], planned["name"]) is None


def remove(name: str, **params: object) -> Decision:
    return Decision(occurred_at=datetime.fromtimestamp(T0, UTC), action=ActionKind.SCALE_IN,
                    target_kind="group", target_id=G,
                    params={"group": G, "remove": [{"name": name}], **params},
                    explanation="test", decided_by="test")


def test_scale_in_refuses_an_original_and_a_decision_without_names(
        fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    ledger = PgLedger(sessions)
    refused = execute(remove("shop-0"), fleet, ledger)
    assert refused is not None and refused.status == ActionStatus.FAILED
    assert "refusing to remove shop-0" in refused.detail
    dom = fleet.lookup("host-000", "shop-0")
    assert dom is not None and dom.isActive()
    empty = Decision(occurred_at=datetime.fromtimestamp(T0, UTC), action=ActionKind.SCALE_IN,
                     target_kind="group", target_id=G, params={}, explanation="test",
                     decided_by="test")
    failed = execute(empty, fleet, ledger)
    assert failed is not None and failed.status == ActionStatus.FAILED
    assert "names no replica" in failed.detail


def test_removing_a_clone_already_gone_is_verified_without_acting(
        fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    result = execute(remove("shop-c00000000-0"), fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.SUCCEEDED, result
    assert result.detail.startswith("already in the decided state")


def test_scale_out_fails_unless_the_clone_runs_on_the_placements_host_only(
        fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    out, _ = decide(fleet, 97.0, T0, {})
    assert out is not None and out.action is ActionKind.SCALE_OUT
    [planned] = out.params["clones"]
    # Someone started a domain under the clone's name elsewhere: a second copy is not a
    # verified scale-out.
    elsewhere = next(h for h in ("host-001", "host-002") if h != planned["target_host"])
    stray = DomainSpec(name=planned["name"], vcpus=1, max_vcpus=1, memory_mib=512,
                       max_memory_mib=512, labels={GROUP_LABEL: G, CLONE_OF_LABEL: "shop-0"})
    fleet.host(elsewhere).get().defineXML(domain_xml(stray)).create()
    result = execute(out, fleet, PgLedger(sessions))
    assert result is not None and result.status == ActionStatus.FAILED
    assert "does not match" in result.detail
    assert result.after["clones"][planned["name"]]["running_on"] == sorted(
        [elsewhere, planned["target_host"]])


def test_a_duplicate_scale_out_adds_no_replica_beyond_the_decided_size(
        fleet: Fleet, sessions: sessionmaker[Session]) -> None:
    ledger = PgLedger(sessions)
    first, _ = decide(fleet, 97.0, T0, {})
    # The same window evaluated again (a worker that died before saving its state): the
    # same decision id, so the ledger acts once.
    again, _ = decide(fleet, 97.0, T0, {})
    # A later window decided afresh: a new id and new clone names, the same absolute size.
    later, _ = decide(fleet, 97.0, T0 + 60.0, {})
    assert first is not None and again is not None and later is not None
    assert first.decision_id == again.decision_id != later.decision_id
    assert first.params["replicas"] == later.params["replicas"] == 2
    done = execute(first, fleet, ledger)
    assert done is not None and done.status == ActionStatus.SUCCEEDED, done
    assert execute(again, fleet, ledger) is None  # recorded: skipped, nothing done twice
    dup = execute(later, fleet, ledger)
    assert dup is not None and dup.status == ActionStatus.SUCCEEDED, dup
    assert dup.detail.startswith("already in the decided state")
    names = {m.vm_id for m in group_inventory(fleet).members(G)}
    assert names == {"shop-0", first.params["clones"][0]["name"]}
