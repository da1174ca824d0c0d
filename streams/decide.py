"""Decision agent: forecast each VM's CPU and memory through the BentoML service, then let the
autoscaler decide (``autoscaler.live.evaluate`` -> ``autoscaler.rules.decide_vcpus`` or
``decide_memory``, the rule the fleet simulator measures) under the VM's vertical policy: the
runtime's, with what a stored policy matching the VM's labels sets (autonomy for scale_vcpu or
scale_memory, profile, scale-down delay). CPU and memory are decided apart, each with its own
state, so a VM may get a vCPU resize and a memory resize from the same minute's features. Members of
a VM group are left to the group agents. If serving is down or slow, or a VM's forecasts have
lately been poor, the reactive rule decides and the decision says so. Each vector's outcome
(forecast, or fallback with its reason) is counted (streams.coverage). Event time throughout."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from influxdb_client.client.write.point import Point
from novacron.autoscaler.live import evaluate, level_down_for, memory_policy, vcpu_policy
from novacron.autoscaler.policy import ScalingPolicy
from novacron.serving.schemas import MIN_HISTORY
from novacron.streams import coverage, runtime
from novacron.streams.app import JSON_SCHEMA, app, decisions_topic, features_topic, forecasts_topic
from novacron.streams.collect_rates import is_host_subject
from novacron.streams.deadletter import decode_or_dead_letter, send_dead_letter
from novacron.streams.fleet_view import ROUTING_MAX_AGE_S, cache
from novacron.streams.served import served_forecasts
from novacron.streams.table_writes import write_states
from novacron.streams.tsdb import TSDBWriter, decision_point, forecast_points, outcome_point

from novacron import topics as registry
from novacron.events import Decision, FeatureVector, Forecast, MetricName

log = logging.getLogger(__name__)
_VERTICAL = (MetricName.CPU, MetricName.MEMORY)  # the metrics a VM is resized on

# vm_id (CPU) or "vm_id|memory" -> {"eval": last evaluation (event time, unix s), plus the
# autoscaler's memory: its rule state and the VM's forecast-accuracy record} (autoscaler.live)
decider_state = app.Table(
    "decider-state", default=dict, partitions=app.conf.topic_partitions, schema=JSON_SCHEMA
)


# The agent takes vectors in batches (up to DECIDE_BATCH_MAX or DECIDE_BATCH_WITHIN_S) and asks
# the serving layer for all their forecasts in one call: one call per vector could not keep up
# with a fleet's vectors per second on a busy machine, and a restarted worker's backlog (one
# vector per emit period, streams.features) would queue behind it.
DECIDE_BATCH_MAX = 500
DECIDE_BATCH_WITHIN_S = 0.2


@app.agent(features_topic)
async def decision_agent(stream: Any) -> None:
    writer = TSDBWriter(runtime.current().tsdb_url)
    try:
        async for events in stream.take_events(DECIDE_BATCH_MAX, within=DECIDE_BATCH_WITHIN_S):
            await _decide_batch(stream, events, writer)
    finally:
        await writer.close()


@dataclass
class _Due:
    """A vector to decide on, with what its evaluation needs."""

    event: Any
    fv: FeatureVector
    key: str
    vm: Any  # the fleet view's VM, or None
    policy: ScalingPolicy
    level_down: float


async def _decide_batch(stream: Any, events: list[Any], writer: TSDBWriter) -> None:
    """Each vector in order; one serving call for all the forecasts the batch needs. A key's
    vectors are evaluated in event order, each on the state the previous one left.

    Effects go in this order: the outcomes (and forecast and decision points) to the TSDB,
    then forecasts and decisions to Kafka, then the state. A worker killed in between reads
    the batch again: before the state was written, it decides again (the same decision ids,
    so the actuator's ledger acts once); after, the vectors are already decided and their
    outcomes already written."""
    rt = runtime.current()
    outcomes: list[Point] = []
    evals: dict[str, float | None] = {}  # key -> last evaluation, this batch included
    due: list[_Due] = []
    for event in events:
        fv = await decode_or_dead_letter(
            FeatureVector, registry.FEATURES.name, event.key, event.value, "decision_agent"
        )
        if fv is None or fv.metric not in _VERTICAL or fv.backfill or is_host_subject(fv.vm_id):
            continue  # a host's own features are for dashboards, not a VM to resize
        coverage.count(coverage.READ)
        key = fv.vm_id if fv.metric is MetricName.CPU else f"{fv.vm_id}|{fv.metric.value}"
        if key not in evals:
            evals[key] = decider_state[key].get("eval")
        now = fv.occurred_at.timestamp()
        last = evals[key]
        if last is not None and now - last < rt.evaluate_every_s:
            # Read again after a restart: decided before (its decision, if any, was sent).
            outcomes.append(_outcome(fv, coverage.SKIPPED, coverage.ALREADY_DECIDED))
            continue
        # Group members are scaled as a group (streams.decide_group), never resized here too.
        vm = (await cache.fleet(ROUTING_MAX_AGE_S)).get(fv.vm_id)
        if vm is not None and vm.group is not None:
            outcomes.append(_outcome(fv, coverage.SKIPPED, coverage.GROUP_MEMBER))
            continue
        policies = await cache.policy_set()
        effective = (policies.effective(vm.labels, cache.tags_of(vm.vm_id))
                     if policies is not None and vm is not None else None)  # fmt: skip
        policy = (vcpu_policy(rt.scaling, effective) if fv.metric is MetricName.CPU
                  else memory_policy(rt.memory_scaling, effective))  # fmt: skip
        evals[key] = now
        # The scale-down level is higher on a bursty series.
        due.append(_Due(event, fv, key, vm, policy, level_down_for(fv.history, fv.step_s)))
    asked = [d for d in due if len(d.fv.history) >= MIN_HISTORY]
    served = dict(zip((id(d) for d in asked), await served_forecasts(
        [(d.fv.vm_id, d.fv.metric, d.fv.history, d.fv.step_s, d.fv.occurred_at, d.level_down)
         for d in asked]), strict=True))
    states: dict[str, dict[str, Any]] = {}
    last_event: dict[str, Any] = {}
    points: list[Point] = []
    forecasts: list[Forecast] = []
    decisions: list[Decision] = []
    failed: list[tuple[Any, str]] = []
    for d in due:  # evaluate is pure: the effects follow below
        fv = d.fv
        state = states.get(d.key)
        if state is None:
            state = dict(decider_state[d.key])
        state["eval"] = fv.occurred_at.timestamp()
        forecast, upper_down, fallback = served.get(
            id(d), (None, None, f"history too short ({len(fv.history)} points)"))
        outcomes.append(_outcome(fv, coverage.FORECAST, "") if forecast is not None
                        else _outcome(fv, coverage.FALLBACK, coverage.fallback_reason(fallback or "")))
        if forecast is not None:
            forecasts.append(forecast)
            points.extend(forecast_points(forecast))
        try:
            # The domain's UUID goes into the decision id: the same window decided again after
            # a restart is the same decision to the actuator's ledger (autoscaler.events).
            decision, state = evaluate(fv, forecast, state, d.policy, fallback, upper_down,
                                       d.level_down,
                                       incarnation=d.vm.uuid if d.vm is not None else "")
        except ValueError as exc:  # e.g. a forecast that does not validate
            failed.append((d.event, f"decision failed: {exc}"))
        else:
            if decision is not None:
                decisions.append(decision)
                points.append(decision_point(decision))
        states[d.key] = state
        last_event[d.key] = d.event
    await writer.write_points(outcomes + points)
    for forecast in forecasts:
        await forecasts_topic.send(key=forecast.key.encode(), value=forecast.to_bytes())
    for decision in decisions:
        await decisions_topic.send(key=decision.key.encode(), value=decision.to_bytes())
    for event, why in failed:
        await send_dead_letter(registry.FEATURES.name, event.key, event.value, why, "decision_agent")
    write_states(stream, decider_state, states, last_event)


def _outcome(fv: FeatureVector, outcome: str, reason: str) -> Point:
    """Counted, and as a TSDB point at the vector's event time (see streams.coverage)."""
    coverage.count(outcome, reason)
    return outcome_point(fv, coverage.MEASUREMENT, outcome, reason)
