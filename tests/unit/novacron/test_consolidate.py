"""The consolidation use case's pure part: the fleet's view to a plan of explained, ordered
live MIGRATE decisions (no libvirt: the real moves are in tests/unit/actuators/test_real_hosts)."""

from __future__ import annotations

from novacron.autoscaler.live_group import GROUP_LABEL as GROUP
from novacron.autoscaler.live_group import FleetHost, FleetView, FleetVm

from novacron.consolidate import ConsolidationSettings, fleet_state, plan_consolidation, publish_plan
from novacron.events import ActionKind, Decision


def view(vms: list[FleetVm], hosts: int = 3, vcpus: int = 4) -> FleetView:
    return FleetView(tuple(FleetHost(f"h{i}", vcpus, 16384, {"rack": f"r{i}"}) for i in range(hosts)),
                     tuple(vms))


def test_a_spread_fleet_is_packed_and_the_moves_explained() -> None:
    fleet = view([FleetVm("a", "h0", 1, 512), FleetVm("b", "h1", 1, 512), FleetVm("c", "h2", 1, 512)])
    planned = plan_consolidation(fleet, ConsolidationSettings(time_limit_s=0.3))
    plan = planned.plan
    assert plan.executable and plan.hosts_used_after == 1 and len(plan.freed_hosts) == 2
    assert len(planned.decisions) == 2
    for i, d in enumerate(planned.decisions, 1):
        assert d.action == ActionKind.MIGRATE and d.decided_by == "consolidator"
        assert d.params["rung"] == "live_migrate" and d.params["step"] == i
        assert d.params["target_host"] not in plan.freed_hosts
        assert d.params["source_host"] in plan.freed_hosts
        assert d.host_id == d.params["target_host"]
        assert "frees" in d.explanation and plan.explanation in d.explanation
    assert len({d.params["plan_id"] for d in planned.decisions}) == 1


def test_stopped_guests_hold_their_room_and_stay() -> None:
    # h0 is full of stopped guests: nothing may move onto it, and they do not move.
    fleet = view([FleetVm("off1", "h0", 2, 512, running=False),
                  FleetVm("off2", "h0", 2, 512, running=False),
                  FleetVm("a", "h1", 1, 512), FleetVm("b", "h2", 1, 512)])
    state, stopped = fleet_state(fleet, ConsolidationSettings())
    assert stopped == ["off1", "off2"]
    assert int(state.cap[state.index["h0"], 0]) == 0  # 4 vCPUs, all held
    planned = plan_consolidation(fleet, ConsolidationSettings(time_limit_s=0.3))
    assert [d.params["target_host"] for d in planned.decisions] in (["h1"], ["h2"])
    assert all(d.target_id in ("a", "b") for d in planned.decisions)


def test_overcommit_lets_more_pack_and_group_replicas_stay_apart() -> None:
    replicas = [FleetVm(f"web-{i}", f"h{i}", 2, 512, {GROUP: "web"}) for i in range(3)]
    packed = plan_consolidation(view(replicas, vcpus=2),
                                ConsolidationSettings(overcommit_cpu=4.0, time_limit_s=0.3,
                                                      keep_groups_apart=False))
    assert packed.plan.hosts_used_after == 1
    apart = plan_consolidation(view(replicas, vcpus=2),
                               ConsolidationSettings(overcommit_cpu=4.0, time_limit_s=0.3))
    assert apart.decisions == () and apart.plan.hosts_used_after == 3
    assert "nothing to consolidate" in apart.explanation


async def test_a_published_plan_keeps_its_order_on_the_decisions_topic() -> None:
    sent: list[tuple[str, bytes, bytes]] = []

    class Recorder:
        async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> None:
            sent.append((topic, key, value))

    fleet = view([FleetVm("a", "h0", 1, 512), FleetVm("b", "h1", 1, 512), FleetVm("c", "h2", 1, 512)])
    planned = plan_consolidation(fleet, ConsolidationSettings(time_limit_s=0.3))
    assert await publish_plan(Recorder(), planned) == len(planned.decisions) == 2
    assert [t for t, _, _ in sent] == ["novacron.decisions"] * 2
    assert [Decision.model_validate_json(v).decision_id for _, _, v in sent] == \
        [d.decision_id for d in planned.decisions]
    assert [k.decode() for _, k, _ in sent] == [d.target_id for d in planned.decisions]
