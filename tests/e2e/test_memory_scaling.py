"""A VM's memory metric travels the whole way: Kafka, features, a served forecast, a
SCALE_MEMORY decision, a live balloon resize on a libvirt test host, its ActionResult."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from e2e_support import Pipeline, Tap, new_vm
from novacron.actuators.inspect import domain_state

from novacron import topics
from novacron.events import ActionKind, ActionResult, ActionStatus, Decision, MetricName, MetricSample, decode

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 3, 5, 9, tzinfo=UTC)


def memory_mib(p: Pipeline, vm: str) -> int:
    return int(domain_state(p.fleet.find_domain(vm)[1])["memory_mib"])


def results_for(raw: list[bytes], vm: str) -> list[ActionResult]:
    return [a for a in (decode(ActionResult, r) for r in raw)
            if a.target_id == vm and a.action is ActionKind.SCALE_MEMORY]  # fmt: skip


async def test_memory_pressure_leads_to_a_bigger_balloon(pipeline: Pipeline, producer: AIOKafkaProducer) -> None:
    host = "host-002"
    vm = new_vm(pipeline, host, "mem")
    assert memory_mib(pipeline, vm) == 2048
    async with Tap(pipeline.settings, topics.DECISIONS.name) as decisions, \
            Tap(pipeline.settings, topics.ACTIONS.name) as actions:  # fmt: skip
        for i in range(13):  # 12 backfilled minutes, then one live sample: 95 % of 2 GiB used
            s = MetricSample(occurred_at=T0 + timedelta(minutes=i), vm_id=vm, host_id=host,
                             metric=MetricName.MEMORY, value=95.0, allocated=2048, backfill=i < 12)
            await producer.send_and_wait(topics.METRICS_RAW.name, s.to_bytes(), key=vm.encode())
        raw = await actions.collect(lambda seen: bool(results_for(seen, vm)), 60)
        made = [d for d in (decode(Decision, r) for r in await decisions.collect(
            lambda seen: any(decode(Decision, r).target_id == vm for r in seen), 10)) if d.target_id == vm]
    [result] = results_for(raw, vm)
    assert result.status == ActionStatus.SUCCEEDED, result.detail
    [d] = made
    assert d.action is ActionKind.SCALE_MEMORY  # a memory feature never resizes vCPUs
    assert d.params["previous_memory_mib"] == 2048 and d.params["memory_mib"] > 2048
    assert "MiB" in d.explanation and result.decision_id == d.decision_id
    assert memory_mib(pipeline, vm) == result.after["memory_mib"] == d.params["memory_mib"]
