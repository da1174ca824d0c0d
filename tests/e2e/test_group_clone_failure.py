"""A clone the actuator could not make stops counting as pending as soon as its outcome is on
novacron.actions: the group agent orders the capacity again once the scale-up cooldown has
passed, not after lead time + cooldown, on another host than the one that failed, and says
why."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaProducer
from e2e_support import GROUP_T0, Pipeline, Tap, group_decisions, send_cpu
from novacron.actuators.xml import DiskSpec, DomainSpec, domain_xml
from novacron.autoscaler.live_group import ANTI_AFFINITY_LABEL, GROUP_LABEL, default_group_policy

from novacron import topics
from novacron.events import (
    ActionKind,
    ActionResult,
    ActionStatus,
    DeadLetter,
    Decision,
    FeatureVector,
    InvalidEvent,
    decode,
)

pytestmark = pytest.mark.e2e
T0 = GROUP_T0




def outcome(raw: list[bytes], d: Decision) -> list[ActionResult]:
    found = []
    for r in raw:
        try:
            a = decode(ActionResult, r)
        except InvalidEvent:  # the malformed one this test sends
            continue
        if a.decision_id == d.decision_id:
            found.append(a)
    return found


async def test_a_failed_clone_is_ordered_again_without_waiting_for_the_timeout(
    pipeline: Pipeline, producer: AIOKafkaProducer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="novacron.streams.decide_group")
    group = f"lost-{uuid.uuid4().hex[:6]}"
    vm, host = f"{group}-0", "host-000"
    # A writable disk in no storage pool of any host: every clone of it is refused.
    disk = DiskSpec(source=f"/var/lib/elsewhere/{group}.qcow2", target="vda")
    spec = DomainSpec(name=vm, vcpus=2, max_vcpus=4, memory_mib=1024, max_memory_mib=2048,
                      labels={GROUP_LABEL: group, ANTI_AFFINITY_LABEL: "host"}, disks=(disk,))
    pipeline.fleet.host(host).get().defineXML(domain_xml(spec)).create()
    scaling = default_group_policy()
    timeout = timedelta(seconds=scaling.lead_time_s + scaling.scale_up_cooldown_s)
    async with Tap(pipeline.settings, topics.DECISIONS.name) as decisions, \
            Tap(pipeline.settings, topics.ACTIONS.name) as actions, \
            Tap(pipeline.settings, topics.FEATURES.name) as features, \
            Tap(pipeline.settings, topics.DEADLETTER.name) as dead:
        # A malformed outcome goes to the dead letters, one of a decision the group never made
        # is passed over; the agent goes on.
        junk = b'{"decision_id": "not a uuid", "status": "failed"}'
        await producer.send_and_wait(topics.ACTIONS.name, junk, key=group.encode())
        await producer.send_and_wait(topics.ACTIONS.name, ActionResult(
            occurred_at=T0, decision_id=uuid.uuid4(), action=ActionKind.SCALE_OUT,
            target_id=group, status=ActionStatus.FAILED, detail="not ours",
            duration_ms=1.0).to_bytes(), key=group.encode())
        letters = await dead.collect(lambda got: any(
            dl.worker == "group_scaler" and dl.source_key == group
            for dl in (decode(DeadLetter, r) for r in got)), 30)
        [letter] = [dl for dl in (decode(DeadLetter, r) for r in letters)
                    if dl.worker == "group_scaler" and dl.source_key == group]
        assert letter.source_topic == topics.ACTIONS.name and letter.payload == junk.decode()
        for i in range(13):
            await send_cpu(producer, vm, host, i, 97.0, backfill=i < 12)
        raw = await decisions.collect(
            lambda seen: bool(group_decisions(seen, group, ActionKind.SCALE_OUT)), 90)
        [first] = group_decisions(raw, group, ActionKind.SCALE_OUT)
        [lost] = first.params["clones"]
        done = await actions.collect(lambda seen: bool(outcome(seen, first)), 60)
        [result] = outcome(done, first)
        assert result.status == ActionStatus.FAILED and "no storage pool" in result.detail

        # Minute by minute (each waited for, so each is an evaluation), short of the timeout.
        again: list[Decision] = []
        seen: list[bytes] = []
        minute = 13
        while not again and T0 + timedelta(minutes=minute) - first.occurred_at < timeout:
            await send_cpu(producer, vm, host, minute, 97.0)
            at = T0 + timedelta(minutes=minute)
            await features.collect(lambda got, at=at: any(
                f.vm_id == vm and f.occurred_at == at
                for f in map(lambda r: decode(FeatureVector, r), got)), 30)
            seen += await decisions.collect(
                lambda got: len(group_decisions(got, group, ActionKind.SCALE_OUT)) > 0, 2)
            again = group_decisions(seen, group, ActionKind.SCALE_OUT)
            minute += 1
    assert again, "the failed clone still held the scale-up until the timeout"
    d = again[0]
    assert d.occurred_at - first.occurred_at < timeout
    assert d.trigger["pending"] == 0 and d.trigger["released_clones"] == [lost["name"]]
    assert f"ordered again after clone {lost['name']} failed on {lost['target_host']}" in d.explanation
    # The fleet has another host free of the group: the second scale-out avoids the failed one.
    assert [c["target_host"] for c in d.params["clones"]] == [
        next(h for h in ("host-001", "host-002") if h != lost["target_host"])]
    assert d.trigger["avoided_hosts"] == [lost["target_host"]]
    assert f"avoided {lost['target_host']} for another" in d.explanation
    assert any(f"clone {lost['name']} failed on {lost['target_host']}" in r.getMessage()
               and r.getMessage().endswith("no longer pending") for r in caplog.records)
