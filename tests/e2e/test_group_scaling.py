"""A VM group's load on Kafka leads, through the group agents, the placement engine and the
actuator, to a running clone on a libvirt test host the group's anti-affinity allows."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaProducer
from e2e_support import GROUP_T0, Pipeline, Tap, group_decisions, send_cpu
from novacron.actuators.clone import group_inventory
from novacron.actuators.xml import DomainSpec, domain_xml
from novacron.autoscaler.live_group import ANTI_AFFINITY_LABEL, CLONE_OF_LABEL, GROUP_LABEL

from novacron import topics
from novacron.events import (
    ActionKind,
    ActionResult,
    ActionStatus,
    Decision,
    FeatureVector,
    decode,
)

pytestmark = pytest.mark.e2e
T0 = GROUP_T0




def outcome(raw: list[bytes], d: Decision) -> list[ActionResult]:
    return [a for a in map(lambda r: decode(ActionResult, r), raw) if a.decision_id == d.decision_id]


async def test_group_load_leads_to_a_clone_where_the_placement_engine_said(
    pipeline: Pipeline, producer: AIOKafkaProducer
) -> None:
    group = f"shop-{uuid.uuid4().hex[:6]}"  # the fleet lives for the session; the broker longer
    vm, host = f"{group}-0", "host-000"
    spec = DomainSpec(name=vm, vcpus=2, max_vcpus=4, memory_mib=1024, max_memory_mib=2048,
                      labels={GROUP_LABEL: group, ANTI_AFFINITY_LABEL: "host"})
    conn = pipeline.fleet.host(host).get()
    conn.defineXML(domain_xml(spec)).create()
    async with Tap(pipeline.settings, topics.DECISIONS.name) as decisions, \
            Tap(pipeline.settings, topics.ACTIONS.name) as actions:
        for i in range(13):  # twelve backfilled minutes build state, the last one is live
            await send_cpu(producer, vm, host, i, 97.0, backfill=i < 12)
        raw = await decisions.collect(
            lambda seen: bool(group_decisions(seen, group, ActionKind.SCALE_OUT)), 90)
        [d] = group_decisions(raw, group, ActionKind.SCALE_OUT)
        done = await actions.collect(lambda seen: bool(outcome(seen, d)), 60)
        assert d.target_kind == "group" and "placement: " in d.explanation
        [result] = outcome(done, d)
        assert result.status == ActionStatus.SUCCEEDED, result.detail
    members = group_inventory(pipeline.fleet).members(group)
    clones = [m for m in members if m.is_clone]
    assert {c.vm_id for c in clones} == {c["name"] for c in d.params["clones"]}
    for c in clones:
        planned = next(p for p in d.params["clones"] if p["name"] == c.vm_id)
        assert c.running and c.host_id == planned["target_host"] != host  # anti-affinity
        assert c.labels[CLONE_OF_LABEL] == vm

    # The load goes away for good: the group scales in, removing the clones, never the original.
    # Five minutes at a time, each waited for on the features topic: the feature agent
    # publishes a VM's features at most once per batch it takes, so a burst would be one
    # evaluation.
    async with Tap(pipeline.settings, topics.DECISIONS.name) as decisions, \
            Tap(pipeline.settings, topics.ACTIONS.name) as actions, \
            Tap(pipeline.settings, topics.FEATURES.name) as features:
        scale_in: list[Decision] = []
        seen: list[bytes] = []
        # Up to two hours: the served band stays wide while the burst is in the 4-hour history
        # (0.6 -> 0.36 units over the first 40 minutes in one run), and the rule must not
        # scale in under it; the loop ends at the first scale-in.
        for start in range(13, 133, 5):
            for minute in range(start, start + 5):
                await send_cpu(producer, vm, host, minute, 3.0)
                for c in clones:
                    await send_cpu(producer, c.vm_id, c.host_id, minute, 3.0)
            last = T0 + timedelta(minutes=start + 4)
            await features.collect(lambda got, last=last: any(
                f.vm_id == vm and f.occurred_at == last
                for f in map(lambda r: decode(FeatureVector, r), got)), 30)
            seen += await decisions.collect(lambda _: True, 0.5)
            scale_in = group_decisions(seen, group, ActionKind.SCALE_IN)
            if scale_in:
                break
        if not scale_in:  # the last evaluation's decision may come after the last short look
            seen += await decisions.collect(
                lambda got: bool(group_decisions(got, group, ActionKind.SCALE_IN)), 30)
            scale_in = group_decisions(seen, group, ActionKind.SCALE_IN)
        assert scale_in, "no scale-in after two hours of 3 % load"
        done = await actions.collect(lambda got: bool(outcome(got, scale_in[0])), 60)
    [result] = outcome(done, scale_in[0])
    assert result.status == ActionStatus.SUCCEEDED, result.detail
    removed = {r["name"] for r in scale_in[0].params["remove"]}
    assert removed and removed <= {c.vm_id for c in clones}
    left = {m.vm_id for m in group_inventory(pipeline.fleet).members(group)}
    assert vm in left and not removed & left
