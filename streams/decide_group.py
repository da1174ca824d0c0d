"""Group decision agent: horizontal scaling of VM groups (``autoscaler.live_group``).

A group's members' features arrive on whichever partitions their VM ids hash to, and a group's
state must be whole in one place however many partitions the worker has. So the feature agent,
when it publishes a CPU feature of a VM labelled ``novacron.io/group``, also sends it to the
internal ``novacron.features.by-group`` topic keyed by group id (a repartition, as Faust's
``group_by`` does, written out so membership can come from libvirt; see streams.fleet_view).
``group_scaler`` reads that topic; its table, keyed by group id, lives on the group's partition
and holds the members' latest features and the rule's memory. When the group's event time (its
newest member feature) has moved ``evaluate_every_s`` since the last evaluation, it forecasts
the aggregate through the serving layer (the reactive rule decides when serving is down or the
history short, and says so), reads the fleet and the stored policies, and lets
``evaluate_group`` decide; the decision goes to ``novacron.decisions`` for the actuator agent.
Backfilled features build state only.

The agent also reads ``novacron.actions`` (keyed by target id, so a group's outcomes come on
its table's partition): an outcome of one of the group's scale-outs that says clones were not
made releases them at once (``learn_outcome``), logged with the actuator's reason, and the
group's next scale-outs keep off the host they failed on for a while; an outcome of a scale-in
that says a replica was not removed makes it count as serving again. Either way the group's
next evaluation reads the fleet afresh, so a clone made (or a replica removed) before the
actuator failed is counted as it is.

The fleet and the policies are read at most every few seconds of wall time: that is when to
ask libvirt and the database again, not a time any decision reasons with.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any

from influxdb_client.client.write.point import Point
from novacron.actuators.approval import approved_id
from novacron.autoscaler.live import level_down_for
from novacron.autoscaler.live_group import (
    GroupLoad,
    default_group_policy,
    evaluate_group,
    group_correlations,
    group_load,
    group_policy,
    learn_outcome,
    record_feature,
    template,
)
from novacron.serving.schemas import MIN_HISTORY
from novacron.streams import runtime
from novacron.streams.app import JSON_SCHEMA, app, decisions_topic
from novacron.streams.deadletter import send_dead_letter
from novacron.streams.fleet_view import PLACING_MAX_AGE_S, cache
from novacron.streams.served import Served, served_forecast
from novacron.streams.tsdb import TSDBWriter, decision_point, group_correlation_point

from novacron import topics as registry
from novacron.events import (
    ActionResult,
    Decision,
    FeatureVector,
    Forecast,
    InvalidEvent,
    MetricName,
    decode,
)

log = logging.getLogger(__name__)

# group id -> {"members": latest feature per member, "event_s", "eval", the rule's state,
# the aggregate forecast's accuracy record, clones ordered, replicas being removed and hosts
# avoided}
# (see autoscaler.live_group)
group_state = app.Table("group-scaler-state", default=dict, partitions=app.conf.topic_partitions,
                        schema=JSON_SCHEMA)
# The groups' features and the actuators' outcomes; both keyed by group id for a group's
# decisions, with the same partition count, so one table partition sees both.
group_inputs = app.topic(registry.GROUP_FEATURES.name, registry.ACTIONS.name,
                         value_serializer="raw", key_serializer="raw")
# Groups whose next evaluation must read the fleet afresh: an outcome released clones, and a
# view read before the actuator made the others would count them neither pending nor running.
_reread: set[str] = set()


async def forecast_of(group: str, load: GroupLoad, at_s: float, level_down: float) -> Served:
    """The aggregate's forecast at LEVEL (in % of one replica), its upper bound at
    ``level_down``, or why there is none."""
    if len(load.history) < MIN_HISTORY:
        return None, None, f"history too short ({len(load.history)} points)"
    return await served_forecast(group, MetricName.CPU, load.history, load.step_s,
                                 datetime.fromtimestamp(at_s, UTC), level_down)


@app.agent(group_inputs)
async def group_scaler(stream: Any) -> None:
    writer = TSDBWriter(runtime.current().tsdb_url)
    try:
        async for event in stream.events():
            if event.message.topic == registry.ACTIONS.name:
                await _outcome(event)
                continue
            decision, points = await _one(event)
            if decision is not None:
                await decisions_topic.send(key=decision.key.encode(), value=decision.to_bytes())
                points.append(decision_point(decision))
            if points:
                await writer.write_points(points)
    finally:
        await writer.close()


async def _outcome(event: Any) -> None:
    """Learn what an actuator made of one of a group's scale-outs or scale-ins; every other
    outcome (a VM's, a group this partition holds no state of) is passed over."""
    try:
        result = decode(ActionResult, event.value)
    except InvalidEvent as exc:
        await send_dead_letter(registry.ACTIONS.name, event.key, event.value, exc.reason,
                               "group_scaler")
        return
    group = result.target_id
    # The key places the message, and the table's entry on the same partition is the group's.
    if (event.key or b"") != group.encode() or group not in group_state:
        return
    memory, note = learn_outcome(dict(group_state[group]), result, copy_id=approved_id)
    if note is None:
        return
    log.info("%s", note)
    group_state[group] = memory
    _reread.add(group)


async def _one(event: Any) -> tuple[Decision | None, list[Point]]:
    """The group's decision, if any, and its points for the TSDB (the decision's is added by
    the caller once published)."""
    group = (event.key or b"").decode("utf-8", "replace")
    try:
        fv = decode(FeatureVector, event.value)
    except InvalidEvent as exc:
        await send_dead_letter(registry.GROUP_FEATURES.name, event.key, event.value, exc.reason,
                               "group_scaler")
        return None, []
    if fv.metric != MetricName.CPU:
        return None, []
    rt = runtime.current()
    corr = {m.value: r for m, r in (fv.correlations or {}).items()}
    state = record_feature(dict(group_state[group]), fv.vm_id, fv.occurred_at.timestamp(),
                           fv.last, fv.allocated or 0.0, fv.history, fv.step_s, corr)
    now = float(state["event_s"])
    last = state.get("eval")
    if fv.backfill or (last is not None and now - last < rt.evaluate_every_s):
        group_state[group] = state
        return None, []
    # Once per evaluation: how the group's CPU moves with its other metrics (members pooled).
    pooled = group_correlations(state)
    points = [group_correlation_point(group, datetime.fromtimestamp(now, UTC), pooled)] if pooled else []
    try:
        view = await cache.fleet(0.0 if group in _reread else PLACING_MAX_AGE_S)
        _reread.discard(group)
        members = view.members(group)
        tpl = template(members)
        pset = await cache.policy_set()
        base = dataclasses.replace(default_group_policy(), mode=rt.scaling.mode)
        labels = dict(tpl.labels) if tpl else {}
        # The template's tags are the group's, as its labels are (clones are made from it).
        tags = cache.tags_of(tpl.vm_id) if tpl else frozenset()
        policy = group_policy(labels, base, pset.effective(labels, tags) if pset else None)
        cache.warn_once(group, policy.problems)
        stale_s = max(3 * rt.feature_emit_every_s, rt.evaluate_every_s)
        forecast: Forecast | None = None
        upper_down: list[float] | None = None
        fallback: str | None = "no member of the group in the fleet"
        running = [m for m in members if m.running]
        load = group_load(state, running, now, tpl.vcpus, stale_s) if tpl else None
        level_down: float | None = None
        if load is not None:
            level_down = level_down_for(load.history, load.step_s)  # higher on a bursty series
            forecast, upper_down, fallback = await forecast_of(group, load, now, level_down)
        out = evaluate_group(group, state, view, policy, now, stale_after_s=stale_s,
                             forecast=forecast, fallback_reason=fallback, upper_down=upper_down,
                             level_down=level_down if upper_down is not None else None)
    except ValueError as exc:  # e.g. a forecast or a fleet that does not validate
        await send_dead_letter(registry.GROUP_FEATURES.name, event.key, event.value,
                               f"group decision failed: {exc}", "group_scaler")
        group_state[group] = {**state, "eval": now}
        return None, points
    if out.note:
        log.info("%s", out.note)
    group_state[group] = out.memory
    return out.decision, points
