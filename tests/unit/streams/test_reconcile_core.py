"""The reconciler's pure judgement: each rule, once per change, and idempotence (a second
pass over an unchanged fleet writes nothing and says nothing)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from novacron.streams.reconcile_core import (
    Config,
    HostRow,
    Memory,
    Plan,
    Stored,
    VmRow,
    memory_from_events,
    plan,
)

from novacron.events import FleetChange
from novacron.observation import DomainObservation, FleetObservation, HostObservation

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OLD = T0 - timedelta(hours=1)


def dom(name: str, state: str = "running", vcpus: int = 2, mem: int = 2048, persistent: bool = True,
        labels: dict[str, str] | None = None) -> DomainObservation:
    return DomainObservation(name, state, vcpus, mem, labels or {}, persistent)


def up(host_id: str, *domains: DomainObservation, vcpus: int = 32, mem: int = 131072) -> HostObservation:
    return HostObservation(host_id, f"test:///{host_id}", {"rack": "r1"}, True, None, vcpus, mem,
                           {d.name: d for d in domains})


def down(host_id: str, error: str = "connection refused") -> HostObservation:
    return HostObservation(host_id, f"test:///{host_id}", {}, False, error)


def look(*hosts: HostObservation, at: datetime = T0) -> FleetObservation:
    return FleetObservation(at, {h.host_id: h for h in hosts})


def host(host_id: str, state: str = "up", vcpus: int = 32, mem: int = 131072) -> HostRow:
    return HostRow(host_id, state, vcpus, mem)


def vm(vm_id: str, host_id: str | None = "a", state: str = "running", desired: str | None = "running",
       vcpus: int = 2, mem: int = 2048, at: datetime = OLD) -> VmRow:
    return VmRow(vm_id, host_id, state, desired, vcpus, mem, at)


def stored(*vms: VmRow, hosts: tuple[HostRow, ...] = (host("a"), host("b")),
           placing: dict[str, datetime] | None = None, acting: dict[str, datetime] | None = None) -> Stored:
    return Stored({h.host_id: h for h in hosts}, {v.vm_id: v for v in vms}, placing or {}, acting or {})


def applied(s: Stored, p: Plan, now: datetime) -> Stored:
    """What PostgreSQL holds after the plan's writes (as store.fleet_sync.apply makes them)."""
    hosts = dict(s.hosts)
    for hw in p.hosts:
        base = hosts.get(hw.host_id, HostRow(hw.host_id, "up", 0, 0))
        v = dict(hw.values)
        hosts[hw.host_id] = dataclasses.replace(
            base, **{k: v[k] for k in ("state", "vcpus", "memory_mib") if k in v})
    vms = dict(s.vms)
    for w in p.vms:
        v = {k: x for k, x in w.values.items() if k != "labels"}
        if w.insert:
            vms[w.vm_id] = VmRow(w.vm_id, v["host_id"], v["state"], None, v["vcpus"], v["memory_mib"], now)
        else:
            vms[w.vm_id] = dataclasses.replace(vms[w.vm_id], updated_at=now, **v)
    return Stored(hosts, vms, s.placing, s.acting)


def twice(s: Stored, obs: FleetObservation, memory: Memory | None = None,
          cfg: Config | None = None) -> tuple[Plan, Plan]:
    """A pass, then a second pass over the same fleet looked at later."""
    first = plan(s, obs, memory or Memory(), T0, cfg)
    later = T0 + timedelta(seconds=10)
    second = plan(applied(s, first, T0), dataclasses.replace(obs, started_at=later), first.memory, later, cfg)
    return first, second


def kinds(p: Plan) -> list[str]:
    return [e.change.value for e in p.events]


def quiet(p: Plan) -> bool:
    return not p.events and not p.vms and not p.hosts


def test_an_unknown_domain_is_inserted_with_its_labels_and_discovered_once() -> None:
    first, second = twice(stored(), look(up("a", dom("x", labels={"app": "web"})), up("b")))
    assert kinds(first) == ["discovered"]
    (w,) = first.vms
    assert w.insert and w.values == {"host_id": "a", "state": "running", "vcpus": 2, "memory_mib": 2048,
                                     "labels": {"app": "web"}}
    assert "desired_state" not in w.values
    assert "PostgreSQL did not know it" in first.events[0].reason
    assert quiet(second)


def test_shutoff_is_recorded_as_stopped_and_without_intent_is_no_drift() -> None:
    first, second = twice(stored(vm("x", desired=None)), look(up("a", dom("x", "stopped")), up("b")))
    assert [w.values for w in first.vms] == [{"state": "stopped"}]
    assert kinds(first) == [] and quiet(second)


def test_a_vm_gone_from_its_answering_host_is_vanished_never_deleted() -> None:
    first, second = twice(stored(vm("x")), look(up("a"), up("b")))
    assert kinds(first) == ["vanished"]
    assert [(w.insert, dict(w.values)) for w in first.vms] == [(False, {"state": "vanished"})]
    assert first.events[0].detail["last_host"] == "a"
    assert quiet(second)


def test_vanished_names_the_hosts_that_were_not_asked() -> None:
    p = plan(stored(vm("x")), look(up("a"), down("b")), Memory(), T0)
    assert "vanished" in kinds(p)
    ev = next(e for e in p.events if e.change == FleetChange.VANISHED)
    assert ev.detail["unreachable_hosts"] == ["b"] and "not asked: b" in ev.reason


def test_a_placement_still_being_carried_out_is_not_vanished_until_its_grace_is_over() -> None:
    young = stored(vm("x"), placing={"x": T0 - timedelta(seconds=30)})
    assert quiet(plan(young, look(up("a"), up("b")), Memory(), T0))
    queued = stored(vm("x"), acting={"x": T0 - timedelta(seconds=30)})
    assert quiet(plan(queued, look(up("a"), up("b")), Memory(), T0))
    stale = stored(vm("x"), placing={"x": T0 - timedelta(seconds=121)})
    assert kinds(plan(stale, look(up("a"), up("b")), Memory(), T0)) == ["vanished"]


def test_a_vm_on_an_unreachable_host_is_unknown_with_one_host_event() -> None:
    s = stored(vm("x"), vm("y", host_id="b"))
    first, second = twice(s, look(down("a", "no answer within 5 s"), up("b", dom("y"))))
    assert kinds(first) == ["host-unreachable"]
    ev = first.events[0]
    assert ev.host_id == "a" and ev.detail["vms_unknown"] == ["x"] and "no answer within 5 s" in ev.reason
    writes = {w.vm_id: dict(w.values) for w in first.vms}
    assert writes == {"x": {"state": "unknown"}}
    assert [(h.host_id, dict(h.values)) for h in first.hosts] == [("a", {"state": "unreachable"})]
    assert quiet(second)


def test_a_host_that_answers_again_is_up_and_its_vms_observed_again() -> None:
    s = stored(vm("x", state="unknown"), hosts=(host("a", "unreachable"), host("b")))
    first, second = twice(s, look(up("a", dom("x")), up("b")))
    assert kinds(first) == ["host-up"]
    assert [dict(w.values) for w in first.vms] == [{"state": "running"}]
    assert quiet(second)


def test_a_vm_found_on_another_host_has_moved() -> None:
    first, second = twice(stored(vm("x")), look(up("a"), up("b", dom("x"))))
    assert kinds(first) == ["moved"]
    assert first.events[0].detail["from"] == "a" and first.events[0].detail["to"] == "b"
    assert [dict(w.values) for w in first.vms] == [{"host_id": "b"}]
    assert quiet(second)


def test_a_vm_running_on_two_hosts_is_a_duplicate_and_its_record_is_not_chosen() -> None:
    first, second = twice(stored(vm("x")), look(up("a", dom("x")), up("b", dom("x"))))
    assert kinds(first) == ["duplicate"]
    assert first.events[0].detail["copies"] == {"a": "running", "b": "running"}
    assert not first.vms
    assert quiet(second)
    # A third host joins the split: reported again, with all three.
    three = plan(stored(vm("x"), hosts=(host("a"), host("b"), host("c"))),
                 look(up("a", dom("x")), up("b", dom("x")), up("c", dom("x"))), second.memory, T0)
    assert kinds(three) == ["duplicate"] and len(three.events[0].detail["copies"]) == 3


def test_an_inactive_copy_next_to_the_running_one_is_a_stale_copy() -> None:
    first, second = twice(stored(vm("x")), look(up("a", dom("x")), up("b", dom("x", "stopped"))))
    assert kinds(first) == ["stale-copy"]
    assert first.events[0].host_id == "a"
    assert not first.vms and quiet(second)


def test_an_incoming_migration_is_not_a_copy() -> None:
    obs = look(up("a", dom("x")), up("b", dom("x", "paused", persistent=False)))
    assert quiet(plan(stored(vm("x")), obs, Memory(), T0))


def test_a_guest_that_left_its_intent_drifts_once_and_its_intent_stays() -> None:
    first, second = twice(stored(vm("x")), look(up("a", dom("x", "stopped")), up("b")))
    assert kinds(first) == ["state-drift"]
    ev = first.events[0]
    assert ev.detail["desired"] == "running" and ev.detail["observed"] == "stopped"
    assert ev.reason.startswith("desired running, observed stopped")
    assert [dict(w.values) for w in first.vms] == [{"state": "stopped"}]
    assert all("desired_state" not in w.values for p in (first, second) for w in p.vms)
    assert quiet(second)
    # It runs again: the drift is over, said once.
    s2 = applied(stored(vm("x")), first, T0)
    back = plan(s2, look(up("a", dom("x")), up("b"), at=T0 + timedelta(seconds=5)), second.memory,
                T0 + timedelta(seconds=20))
    assert kinds(back) == ["drift-resolved"]


def test_a_changed_intent_gets_its_grace_before_it_is_drift() -> None:
    s = stored(vm("x", state="stopped", desired="running"))
    obs = look(up("a", dom("x", "stopped")), up("b"))
    cfg = Config(drift_grace_s=60)
    p1 = plan(s, obs, Memory(), T0, cfg)
    assert quiet(p1)
    later = T0 + timedelta(seconds=61)
    p2 = plan(s, dataclasses.replace(obs, started_at=later), p1.memory, later, cfg)
    assert kinds(p2) == ["state-drift"]
    p3 = plan(s, dataclasses.replace(obs, started_at=later), p2.memory, later + timedelta(seconds=5), cfg)
    assert quiet(p3)


def test_drift_waits_while_a_decision_for_the_vm_is_being_carried_out() -> None:
    s = stored(vm("x"), acting={"x": T0 - timedelta(seconds=5)})
    p = plan(s, look(up("a", dom("x", "stopped")), up("b")), Memory(), T0)
    assert kinds(p) == [] and [dict(w.values) for w in p.vms] == [{"state": "stopped"}]


def test_a_reported_drift_is_remembered_across_a_restart() -> None:
    memory = memory_from_events({"x": (FleetChange.STATE_DRIFT, {"desired": "running", "observed": "stopped"})})
    s = stored(vm("x", state="stopped"))
    assert quiet(plan(s, look(up("a", dom("x", "stopped")), up("b")), memory, T0))
    resolved = memory_from_events({"x": (FleetChange.DRIFT_RESOLVED, {"desired": "running",
                                                                       "observed": "running"})})
    assert resolved.drift == {}


def test_rows_written_during_the_look_are_left_for_the_next_pass() -> None:
    s = stored(vm("x", at=T0 + timedelta(milliseconds=5)))
    p = plan(s, look(up("a"), up("b")), Memory(), T0 + timedelta(seconds=1))
    assert quiet(p) and p.deferred == ("x",)


def test_a_resize_is_recorded_quietly() -> None:
    first, second = twice(stored(vm("x")), look(up("a", dom("x", vcpus=4, mem=4096)), up("b")))
    assert kinds(first) == []
    assert [dict(w.values) for w in first.vms] == [{"vcpus": 4, "memory_mib": 4096}]
    assert quiet(second)


def test_a_resize_rides_along_with_another_event() -> None:
    p = plan(stored(vm("x")), look(up("a"), up("b", dom("x", vcpus=4))), Memory(), T0)
    assert kinds(p) == ["moved"] and p.events[0].detail["resized"] == {"vcpus": [2, 4]}


def test_a_new_host_is_added_and_a_known_hosts_size_is_left_to_the_inventory() -> None:
    first, second = twice(stored(hosts=(host("a", vcpus=16),)), look(up("a"), up("b")))
    assert kinds(first) == ["host-added"]
    (added,) = first.hosts
    assert added.insert and added.host_id == "b"
    assert added.values["vcpus"] == 32 and added.values["labels"] == {"rack": "r1"}
    assert quiet(second)


def test_an_unreachable_host_unknown_to_postgresql_waits_until_it_answers() -> None:
    assert quiet(plan(stored(hosts=(host("a"),)), look(up("a"), down("b")), Memory(), T0))


def test_vms_of_unmanaged_hosts_gone_ones_and_deleted_ones_are_left_alone() -> None:
    s = stored(vm("elsewhere", host_id="z"), vm("never", host_id=None, state="pending"),
               vm("gone", state="vanished"), vm("bye", state="deleted"))
    obs = look(up("a", dom("bye")), up("b"))
    assert quiet(plan(s, obs, Memory(), T0))


def test_a_vanished_vm_that_comes_back_has_reappeared() -> None:
    first, second = twice(stored(vm("x", state="vanished", desired=None)), look(up("a"), up("b", dom("x"))))
    assert kinds(first) == ["reappeared"]
    assert [dict(w.values) for w in first.vms] == [{"host_id": "b", "state": "running"}]
    assert quiet(second)


def test_names_the_api_cannot_address_are_not_recorded() -> None:
    p = plan(stored(), look(up("a", dom("bad name")), up("b")), Memory(), T0)
    assert quiet(p) and p.unaddressable == ("bad name",)


# -- properties ------------------------------------------------------------------------------

STATES = st.sampled_from(["running", "stopped", "paused", "crashed"])
HOSTS = ["a", "b", "c"]


@st.composite
def fleets(draw: st.DrawFn) -> tuple[Stored, FleetObservation]:
    names = [f"v{i}" for i in range(draw(st.integers(0, 6)))]
    reachable = {h: draw(st.booleans()) for h in HOSTS}
    domains: dict[str, list[DomainObservation]] = {h: [] for h in HOSTS}
    for n in names:
        for h in draw(st.lists(st.sampled_from(HOSTS), max_size=2, unique=True)):
            domains[h].append(dom(n, draw(STATES), draw(st.integers(1, 4)), 1024 * draw(st.integers(1, 4)),
                                  persistent=draw(st.booleans())))
    rows = []
    for n in names:
        if draw(st.booleans()):
            rows.append(vm(n, draw(st.sampled_from([*HOSTS, None])),
                           draw(st.sampled_from(["running", "stopped", "unknown", "vanished"])),
                           draw(st.sampled_from(["running", "stopped", None])), 2, 2048))
    hosts = tuple(host(h, draw(st.sampled_from(["up", "unreachable"]))) for h in HOSTS if draw(st.booleans()))
    obs = look(*(up(h, *domains[h]) if reachable[h] else down(h) for h in HOSTS))
    return stored(*rows, hosts=hosts), obs


@settings(max_examples=300, deadline=None)
@given(fleets())
def test_a_second_pass_over_an_unchanged_fleet_writes_and_says_nothing(case: tuple[Stored, FleetObservation]) -> None:
    s, obs = case
    first, second = twice(s, obs, cfg=Config(drift_grace_s=0))
    assert quiet(second), (kinds(second), second.vms, second.hosts)
    # and a third, with the second's memory
    later = T0 + timedelta(seconds=30)
    third = plan(applied(applied(s, first, T0), second, T0), dataclasses.replace(obs, started_at=later),
                 second.memory, later, Config(drift_grace_s=0))
    assert quiet(third)


@settings(max_examples=300, deadline=None)
@given(fleets())
def test_intent_is_never_written_and_vms_of_silent_hosts_never_vanish(case: tuple[Stored, FleetObservation]) -> None:
    s, obs = case
    p = plan(s, obs, Memory(), T0)
    silent = {h for h, o in obs.hosts.items() if not o.reachable}
    assert all("desired_state" not in w.values for w in p.vms)
    for e in p.events:
        if e.change == FleetChange.VANISHED:
            assert s.vms[e.vm_id or ""].host_id not in silent
    for w in p.vms:
        if w.values.get("state") == "unknown":
            assert s.vms[w.vm_id].host_id in silent
