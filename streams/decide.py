"""Decision agent: forecast each VM's CPU and memory through the BentoML service, then let the
autoscaler decide (``autoscaler.live.evaluate`` -> ``autoscaler.rules.decide_vcpus`` or
``decide_memory``, the rule the fleet simulator measures) under the VM's vertical policy: the
runtime's, with what a stored policy matching the VM's labels sets (autonomy for scale_vcpu or
scale_memory, profile, scale-down delay). CPU and memory are decided apart, each with its own
state, so a VM may get a vCPU resize and a memory resize from the same minute's features. Members of
a VM group are left to the group agents. If serving is down or slow, or a VM's forecasts have
lately been poor, the reactive rule decides and the decision says so. Event time throughout."""

from __future__ import annotations

import logging
from typing import Any

from influxdb_client.client.write.point import Point
from novacron.autoscaler.live import evaluate, level_down_for, memory_policy, vcpu_policy
from novacron.serving.schemas import MIN_HISTORY
from novacron.streams import runtime
from novacron.streams.app import JSON_SCHEMA, app, decisions_topic, features_topic, forecasts_topic
from novacron.streams.deadletter import decode_or_dead_letter, send_dead_letter
from novacron.streams.fleet_view import ROUTING_MAX_AGE_S, cache
from novacron.streams.served import Served, served_forecast
from novacron.streams.tsdb import TSDBWriter, decision_point, forecast_points

from novacron import topics as registry
from novacron.events import FeatureVector, Forecast, MetricName

log = logging.getLogger(__name__)
_VERTICAL = (MetricName.CPU, MetricName.MEMORY)  # the metrics a VM is resized on

# vm_id (CPU) or "vm_id|memory" -> {"eval": last evaluation (event time, unix s), plus the
# autoscaler's memory: its rule state and the VM's forecast-accuracy record} (autoscaler.live)
decider_state = app.Table(
    "decider-state", default=dict, partitions=app.conf.topic_partitions, schema=JSON_SCHEMA
)


async def forecast_for(fv: FeatureVector, level_down: float) -> Served:
    """(forecast at LEVEL, its upper bound at ``level_down``, why there is none)."""
    return await served_forecast(fv.vm_id, fv.metric, fv.history, fv.step_s, fv.occurred_at,
                                 level_down)


@app.agent(features_topic)
async def decision_agent(stream: Any) -> None:
    writer = TSDBWriter(runtime.current().tsdb_url)
    try:
        await _decide_each(stream, writer)
    finally:
        await writer.close()


async def _decide_each(stream: Any, writer: TSDBWriter) -> None:
    async for event in stream.events():
        fv = await decode_or_dead_letter(
            FeatureVector, registry.FEATURES.name, event.key, event.value, "decision_agent"
        )
        if fv is None or fv.metric not in _VERTICAL or fv.backfill:
            continue
        rt = runtime.current()
        key = fv.vm_id if fv.metric is MetricName.CPU else f"{fv.vm_id}|{fv.metric.value}"
        state = dict(decider_state[key])
        now = fv.occurred_at.timestamp()
        if state.get("eval") is not None and now - state["eval"] < rt.evaluate_every_s:
            continue
        # Group members are scaled as a group (streams.decide_group), never resized here too.
        vm = (await cache.fleet(ROUTING_MAX_AGE_S)).get(fv.vm_id)
        if vm is not None and vm.group is not None:
            continue
        policies = await cache.policy_set()
        effective = (policies.effective(vm.labels, cache.tags_of(vm.vm_id))
                     if policies is not None and vm is not None else None)  # fmt: skip
        policy = (vcpu_policy(rt.scaling, effective) if fv.metric is MetricName.CPU
                  else memory_policy(rt.memory_scaling, effective))  # fmt: skip
        state["eval"] = now
        forecast: Forecast | None = None
        upper_down: list[float] | None = None
        fallback: str | None = f"history too short ({len(fv.history)} points)"
        level_down = level_down_for(fv.history, fv.step_s)  # higher on a bursty series
        if len(fv.history) >= MIN_HISTORY:
            forecast, upper_down, fallback = await forecast_for(fv, level_down)
        points: list[Point] = []
        if forecast is not None:
            await forecasts_topic.send(key=forecast.key.encode(), value=forecast.to_bytes())
            points.extend(forecast_points(forecast))
        try:
            # The domain's UUID goes into the decision id: the same window decided again after
            # a restart is the same decision to the actuator's ledger (autoscaler.events).
            decision, state = evaluate(fv, forecast, state, policy, fallback, upper_down, level_down,
                                       incarnation=vm.uuid if vm is not None else "")
        except ValueError as exc:  # e.g. a forecast that does not validate
            await send_dead_letter(
                registry.FEATURES.name, event.key, event.value, f"decision failed: {exc}", "decision_agent"
            )
            decider_state[key] = state
            continue
        if decision is not None:
            await decisions_topic.send(key=decision.key.encode(), value=decision.to_bytes())
            points.append(decision_point(decision))
        decider_state[key] = state
        await writer.write_points(points)
