"""One metric travels the whole way on real components."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from e2e_support import Pipeline, Tap, new_vm, wait_for
from novacron.actuators.inspect import domain_state
from novacron.store import models
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from novacron import topics
from novacron.events import (
    ActionKind,
    ActionResult,
    ActionStatus,
    AutonomyMode,
    DeadLetter,
    Decision,
    FeatureVector,
    MetricName,
    MetricSample,
    decode,
)

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def vcpus(p: Pipeline, vm: str) -> int:
    return int(domain_state(p.fleet.find_domain(vm)[1])["vcpus"])


async def send_load(producer: AIOKafkaProducer, vm: str, host: str, value: float,
                    history: int = 12) -> None:
    """``history`` backfilled minutes, then one live sample, all at ``value`` % CPU of 2 vCPUs."""
    for i in range(history + 1):
        s = MetricSample(occurred_at=T0 + timedelta(minutes=i), vm_id=vm, host_id=host,
                         metric=MetricName.CPU, value=value, allocated=2, backfill=i < history)
        await producer.send_and_wait(topics.METRICS_RAW.name, s.to_bytes(), key=vm.encode())


def results_for(raw: list[bytes], vm: str, action: ActionKind = ActionKind.SCALE_VCPU,
                ) -> list[ActionResult]:
    """The outcomes for one VM and kind of action (the healer may act on test VMs too)."""
    return [a for a in map(lambda r: decode(ActionResult, r), raw)
            if a.target_id == vm and a.action == action]


async def test_a_metric_leads_to_a_changed_domain_an_action_and_rows(
    pipeline: Pipeline, producer: AIOKafkaProducer, sessions: sessionmaker[Session]
) -> None:
    host = "host-000"
    vm = new_vm(pipeline, host, "chain")
    assert vcpus(pipeline, vm) == 2
    async with Tap(pipeline.settings, topics.ACTIONS.name) as tap:
        await send_load(producer, vm, host, 97.0)
        raw = await tap.collect(lambda seen: bool(results_for(seen, vm)), 60)
    [result] = results_for(raw, vm)
    assert result.status == ActionStatus.SUCCEEDED, result.detail
    assert vcpus(pipeline, vm) == result.after["vcpus"] > 2
    with sessions() as s:
        event = s.get(models.ScalingEvent, result.decision_id) or wait_for(
            lambda: s.get(models.ScalingEvent, result.decision_id), 10, "the scaling event row")
        assert event.vm_id == vm and event.decided_by == "autoscaler/predictive"
        assert "upper bound" in event.explanation and event.alternatives
        assert event.trigger["rule"] == "predictive"
        action = s.get(models.Action, result.decision_id)
        assert action is not None and action.status == "succeeded"
        assert action.after["vcpus"] == result.after["vcpus"]
    # The features also reach the time-series DB, in event time.
    export = f"{pipeline.settings.tsdb_url}/api/v1/export"
    match = {"match[]": f'novacron_features_p95{{vm_id="{vm}"}}'}
    rows = wait_for(lambda: httpx.get(export, params=match, timeout=5).text.strip(), 20,
                    "features in VictoriaMetrics")
    series = json.loads(rows.splitlines()[0])
    assert series["values"][-1] == pytest.approx(97.0)
    assert series["timestamps"][-1] == int((T0 + timedelta(minutes=12)).timestamp() * 1000)
    for name in ("novacron_forecast_upper", "novacron_scaling_desired"):
        match = {"match[]": f'{name}{{vm_id="{vm}"}}'}
        assert wait_for(lambda m=match: httpx.get(export, params=m, timeout=5).text.strip(), 20,
                        f"{name} in VictoriaMetrics")


async def test_a_malformed_message_is_dead_lettered_and_the_worker_goes_on(
    pipeline: Pipeline, producer: AIOKafkaProducer
) -> None:
    vm = new_vm(pipeline, "host-001", "chain")
    junk = b'{"vm_id": "' + vm.encode() + b'", "oops"'
    async with Tap(pipeline.settings, topics.DEADLETTER.name) as dead, \
            Tap(pipeline.settings, topics.FEATURES.name) as feats:
        await producer.send_and_wait(topics.METRICS_RAW.name, junk, key=vm.encode())
        good = MetricSample(occurred_at=T0, vm_id=vm, metric=MetricName.CPU, value=12.5,
                            allocated=2, backfill=True)
        await producer.send_and_wait(topics.METRICS_RAW.name, good.to_bytes(), key=vm.encode())
        letters = await dead.collect(
            lambda seen: any(decode(DeadLetter, r).source_key == vm for r in seen), 30)
        features = await feats.collect(
            lambda seen: any(decode(FeatureVector, r).vm_id == vm for r in seen), 30)
    letter = next(d for d in map(lambda r: decode(DeadLetter, r), letters) if d.source_key == vm)
    assert letter.source_topic == topics.METRICS_RAW.name
    assert "Invalid JSON" in letter.reason and letter.worker == "feature_agent"
    assert letter.payload.encode() == junk  # nothing lost
    fv = next(f for f in map(lambda r: decode(FeatureVector, r), features) if f.vm_id == vm)
    assert fv.last == 12.5


async def test_the_same_decision_twice_changes_libvirt_once(
    pipeline: Pipeline, producer: AIOKafkaProducer, sessions: sessionmaker[Session]
) -> None:
    vm = new_vm(pipeline, "host-001", "chain")
    d = Decision(occurred_at=T0, action=ActionKind.SCALE_VCPU, target_id=vm,
                 params={"vcpus": 5}, explanation="test: redelivery", decided_by="test")
    async with Tap(pipeline.settings, topics.ACTIONS.name) as tap:
        await producer.send_and_wait(topics.DECISIONS.name, d.to_bytes(), key=vm.encode())
        await tap.collect(lambda seen: bool(results_for(seen, vm)), 30)
        assert vcpus(pipeline, vm) == 5
        # An operator resizes the VM; a redelivery of the old decision must not undo that.
        from novacron.actuators.resize import set_vcpus

        set_vcpus(pipeline.fleet.find_domain(vm)[1], 3)
        await producer.send_and_wait(topics.DECISIONS.name, d.to_bytes(), key=vm.encode())
        # A marker on the same key (same partition) proves the duplicate was consumed.
        marker = Decision(occurred_at=T0, action=ActionKind.SCALE_VCPU, target_id=vm,
                          params={"vcpus": 8}, explanation="marker", decided_by="test",
                          mode=AutonomyMode.OBSERVE)
        await producer.send_and_wait(topics.DECISIONS.name, marker.to_bytes(), key=vm.encode())
        raw = await tap.collect(
            lambda seen: any(a.decision_id == marker.decision_id for a in results_for(seen, vm)), 30)
    assert vcpus(pipeline, vm) == 3
    assert [a.decision_id for a in results_for(raw, vm)].count(d.decision_id) == 0
    with sessions() as s:
        rows = s.scalars(select(models.Action).where(models.Action.decision_id == d.decision_id))
        assert len(list(rows)) == 1


def scaling_decisions(raw: list[bytes], vm: str) -> list[Decision]:
    return [d for d in map(lambda r: decode(Decision, r), raw)
            if d.target_id == vm and d.decided_by.startswith("autoscaler/")]


async def test_with_serving_stopped_the_decision_falls_back_to_reactive(
    pipeline: Pipeline, producer: AIOKafkaProducer
) -> None:
    host = "host-002"
    vm = new_vm(pipeline, host, "chain")
    pipeline.server.stop()
    try:
        assert not pipeline.server.ready()
        async with Tap(pipeline.settings, topics.DECISIONS.name) as tap:
            await send_load(producer, vm, host, 96.0)
            raw = await tap.collect(lambda seen: bool(scaling_decisions(seen, vm)), 60)
    finally:
        await asyncio.to_thread(pipeline.server.start)
    d = scaling_decisions(raw, vm)[0]
    assert d.decided_by == "autoscaler/reactive"
    assert "serving unavailable" in d.explanation
    assert d.trigger["fallback_reason"].startswith("serving unavailable")
    assert d.params["vcpus"] > 2
