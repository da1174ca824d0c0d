"""A VM group's load on Kafka leads, through the group agents, the placement engine and the
actuator, to a running clone on a libvirt test host the group's anti-affinity allows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from e2e_support import Pipeline, Tap
from novacron.actuators.clone import group_inventory
from novacron.actuators.xml import DomainSpec, domain_xml
from novacron.autoscaler.live_group import ANTI_AFFINITY_LABEL, CLONE_OF_LABEL, GROUP_LABEL

from novacron import topics
from novacron.events import ActionKind, ActionResult, ActionStatus, Decision, MetricName, MetricSample, decode

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 3, 4, 9, tzinfo=UTC)


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
            s = MetricSample(occurred_at=T0 + timedelta(minutes=i), vm_id=vm, host_id=host,
                             metric=MetricName.CPU, value=97.0, allocated=2, backfill=i < 12)
            await producer.send_and_wait(topics.METRICS_RAW.name, s.to_bytes(), key=vm.encode())
        raw = await decisions.collect(lambda seen: any(
            decode(Decision, r).target_id == group for r in seen), 90)
        [d] = [x for x in map(lambda r: decode(Decision, r), raw) if x.target_id == group]
        done = await actions.collect(lambda seen: any(
            decode(ActionResult, r).decision_id == d.decision_id for r in seen), 60)
    assert d.action is ActionKind.SCALE_OUT and d.target_kind == "group"
    assert d.decided_by.startswith("autoscaler/") and "placement: " in d.explanation
    [result] = [a for a in map(lambda r: decode(ActionResult, r), done)
                if a.decision_id == d.decision_id]
    assert result.status == ActionStatus.SUCCEEDED, result.detail
    members = group_inventory(pipeline.fleet).members(group)
    clones = [m for m in members if m.is_clone]
    assert {c.vm_id for c in clones} == {c["name"] for c in d.params["clones"]}
    for c in clones:
        planned = next(p for p in d.params["clones"] if p["name"] == c.vm_id)
        assert c.running and c.host_id == planned["target_host"] != host  # anti-affinity
        assert c.labels[CLONE_OF_LABEL] == vm
