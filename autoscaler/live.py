"""The live decision agent's pure core: one feature vector (and maybe a forecast) in, maybe a
vCPU or memory decision out, with the memory to keep per VM and metric as a JSON-able dict.

The agent (``streams/decide.py``) does the I/O: it asks the serving layer for a forecast,
keeps the memory in a Faust table and publishes the decision. Everything here runs in event
time (the feature vector's ``occurred_at``) and goes through ``rules.decide_vcpus`` (a CPU
feature) or ``rules.decide_memory`` (a memory feature, in units of ``MEMORY_UNIT_MIB``): both
are ``rules.decide``, the rule the fleet simulator measures, so what is benchmarked is what runs.

The memory holds the rule's ``GroupState`` and the forecast-accuracy record of the VM: each
forecast's point and upper bound at the lead time wait until that time has come in event
time, then are scored against what was measured (``AccuracyTracker``); when the record turns
poor, the rule falls back to reactive thresholds for that VM and says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from novacron.policy.effective import EffectivePolicy
from novacron.policy.schema import AutoScalingProfile

from novacron.events import AutonomyMode, Decision, FeatureVector, Forecast, MetricName

from .accuracy import AccuracyTracker
from .events import to_event
from .online import BURSTY_NOTE, bursty_now, peak_bound_now
from .policy import CostModel, ScalingPolicy
from .rules import decide_memory, decide_vcpus
from .types import ForecastView, GroupState, Observation

Memory = dict[str, Any]
# The served forecast's level for scale-ups, and the higher one scale-downs respect (the
# levels bench.fleet_autoscaling chose on development series: 0.8 and 0.9).
LEVEL = 0.8
LEVEL_DOWN = 0.9
# The scale-down level on a bursty series (``online.bursty``), also chosen on development series.
LEVEL_DOWN_BURSTY = 0.97
# Memory is resized in steps of this many MiB (a balloon target; the rule counts units).
MEMORY_UNIT_MIB = 256
# Price of one memory unit per hour against 1.0 per vCPU: cloud list prices put a GiB at
# about an eighth of a vCPU (so 256 MiB at 1/32), which is what a cost delta should weigh.
MEMORY_UNIT_COST = CostModel(on_demand_per_hour=1 / 32, spot_per_hour=0.3 / 32)


def level_down_for(history: Sequence[float], step_s: float) -> float:
    """The level a series' scale-down bound should have now, from its own history (oldest
    first, ending now, one point per ``step_s``): ``LEVEL_DOWN_BURSTY`` when the history is
    bursty over its last day (``online.bursty``, the classification the fleet simulator
    measures), else ``LEVEL_DOWN``. For the agent that asks the serving layer for the bound."""
    if len(history) < 2:
        return LEVEL_DOWN
    return LEVEL_DOWN_BURSTY if bursty_now(history, step_s) else LEVEL_DOWN


def peak_bounds(
    history: Sequence[float], step_s: float, forecast: Forecast, level_down: float | None
) -> tuple[list[float] | None, list[float] | None]:
    """Bounds on the peak to come (``online.peak_bound_now``, from the series' own recent
    history, in its unit) at the forecast's level and at ``level_down``, one per forecast step;
    (None, None) when the history is not on the forecast's step. The rule then respects the
    higher of these and the served bands: the served model's bands are per step and were
    calibrated across many series, while what a scaling decision needs is a bound on the peak,
    calibrated on this series, which is what ``bench.fleet_autoscaling`` measures the rule with."""
    if not history or abs(step_s - forecast.step_s) > 1e-9:
        return None, None
    n = len(forecast.point)
    up = peak_bound_now(history, step_s, n, forecast.level).tolist()
    down = peak_bound_now(history, step_s, n, level_down).tolist() if level_down is not None else None
    return up, down


def down_note_for(level_down: float) -> str | None:
    """Why scale-downs respect a bound above ``LEVEL_DOWN`` (for the decision's explanation)."""
    return BURSTY_NOTE if level_down > LEVEL_DOWN else None


def default_vcpu_policy() -> ScalingPolicy:
    """Vertical scaling of one VM: 1-8 vCPUs, moderate profile; a live resize serves within
    about two minutes (the lead time), and a scale-down looks over the whole served horizon."""
    return ScalingPolicy.from_profile(
        "moderate", name="default", min_replicas=1, max_replicas=8, lead_time_s=120.0, horizon_s=900.0
    )


def default_memory_policy() -> ScalingPolicy:
    """Memory of one VM: 512 MiB to 16 GiB in ``MEMORY_UNIT_MIB`` steps (the actuator also
    holds it under the domain's maximum memory), moderate profile; a balloon resize serves
    within a minute, and a shrink looks over the whole served horizon, since memory taken
    from under a guest's working set swaps or kills, it does not just run slower."""
    return ScalingPolicy.from_profile(
        "moderate", name="default", min_replicas=512 // MEMORY_UNIT_MIB,
        max_replicas=16 * 1024 // MEMORY_UNIT_MIB, lead_time_s=60.0, horizon_s=900.0,
        cost=MEMORY_UNIT_COST,
    )  # fmt: skip


def vcpu_policy(base: ScalingPolicy, effective: EffectivePolicy | None) -> ScalingPolicy:
    """One VM's vertical policy: what a stored policy sets for it (autonomy for
    ``scale_vcpu``, the autoScaling profile, scaleDownDelay) over ``base``. Fields only the
    built-in defaults fill are ignored, so a fleet without policies keeps ``base`` whole."""
    return _vertical_policy(base, effective, "scale_vcpu")


def memory_policy(base: ScalingPolicy, effective: EffectivePolicy | None) -> ScalingPolicy:
    """``vcpu_policy`` for memory: the autonomy a stored policy sets for ``scale_memory``."""
    return _vertical_policy(base, effective, "scale_memory")


def _vertical_policy(base: ScalingPolicy, effective: EffectivePolicy | None, action: str) -> ScalingPolicy:
    if effective is None or not effective.matched:
        return base

    def set_by_policy(path: str) -> Any:
        src = effective.source(path)
        return src.value if src.origin == "policy" and src.value is not None else None

    mode = set_by_policy(f"autonomy.{action}")
    profile = set_by_policy("rules.autoScaling")
    delay = set_by_policy("rules.scaleDownDelay")
    if mode is None and profile is None and delay is None:
        return replace(base, name=effective.matched[0])
    return ScalingPolicy.from_profile(
        AutoScalingProfile(profile) if profile is not None else base.profile,
        name=effective.matched[0], min_replicas=base.min_replicas, max_replicas=base.max_replicas,
        lead_time_s=base.lead_time_s, horizon_s=base.horizon_s,
        # A profile set by the policy brings its own delay unless the policy sets one.
        scale_down_delay_s=(float(delay) if delay is not None
                            else None if profile is not None else base.scale_down_delay_s),
        spot_allowed=base.spot_allowed, spot_max_fraction=base.spot_max_fraction, cost=base.cost,
        mode=AutonomyMode(mode) if mode is not None else base.mode,
    )


def _state(memory: Memory) -> GroupState:
    s = memory.get("state") or {}
    return GroupState(s.get("last_up_s"), s.get("last_down_s"), s.get("low_since_s"), int(s.get("spot", 0)))


def _tracker(memory: Memory) -> AccuracyTracker:
    tr = AccuracyTracker()
    for row in memory.get("accuracy", []):
        tr.record(*row)
    return tr


def _score_due(memory: Memory, tracker: AccuracyTracker, now: float, demand: float) -> list[list[float]]:
    """Score the forecasts whose lead time has come; return those still waiting."""
    waiting = []
    for due, point, upper, naive in memory.get("pending", []):
        if due <= now:
            tracker.record(point, upper, naive, demand)
        else:
            waiting.append([due, point, upper, naive])
    return waiting


def evaluate(
    fv: FeatureVector,
    forecast: Forecast | None,
    memory: Memory,
    policy: ScalingPolicy,
    fallback_reason: str | None = None,
    upper_down: Sequence[float] | None = None,
    level_down: float = LEVEL_DOWN,
    memory_unit_mib: int = MEMORY_UNIT_MIB,
    incarnation: str = "",
) -> tuple[Decision | None, Memory]:
    """One evaluation of one VM's vCPUs (a CPU feature) or memory (a memory feature, whose
    ``allocated`` is MiB, counted in ``memory_unit_mib`` units). ``fallback_reason`` says why
    there is no forecast (serving down, history too short); a poor accuracy record adds its
    own reason. ``upper_down`` is the forecast's upper bound at ``level_down`` (in %), if
    served: the agent asks for :func:`level_down_for` the VM's history. ``incarnation`` (the
    VM's domain UUID) goes into the decision's id (:func:`events.decision_id_for`)."""
    if fv.metric not in (MetricName.CPU, MetricName.MEMORY):
        raise ValueError(f"vertical scaling reads cpu or memory features, not {fv.metric.value}")
    unit_mib = memory_unit_mib if fv.metric is MetricName.MEMORY else 0
    alloc = fv.allocated
    if alloc is None or alloc < 1:
        return None, memory  # nothing to scale against
    if unit_mib:
        alloc = alloc / unit_mib  # in the rule's units
    now = fv.occurred_at.timestamp()
    current = max(1, round(alloc))
    if not policy.min_replicas <= current <= policy.max_replicas:
        # The runtime's bounds limit where the rule may take a VM; a VM made outside them (a
        # 16-vCPU database under the 1..8 default) is not resized for that alone.
        policy = replace(policy, min_replicas=min(policy.min_replicas, current),
                         max_replicas=max(policy.max_replicas, current))  # fmt: skip
    demand = max(0.0, fv.last) * alloc / 100.0  # units busy now
    tracker = _tracker(memory)
    pending = _score_due(memory, tracker, now, demand)
    view: ForecastView | None = None
    if forecast is not None:
        peak, peak_down = peak_bounds(fv.history, fv.step_s, forecast,
                                      level_down if upper_down is not None else None)
        view = ForecastView.from_event(forecast, alloc, upper_down, level_down,
                                       down_note_for(level_down), peak_upper=peak,
                                       peak_upper_down=peak_down)  # fmt: skip
        lead = view.steps(policy.lead_time_s)
        pending.append([now + lead * view.step_s, view.point[lead - 1], max(view.upper[:lead]), demand])
    if fallback_reason is None and view is not None:
        fallback_reason = tracker.poor_reason()
    obs = Observation(at_s=now, demand=demand, ready=current)
    if unit_mib:
        step = decide_memory(fv.vm_id, obs, view, _state(memory), policy, unit_mib, fallback_reason)
    else:
        step = decide_vcpus(fv.vm_id, obs, view, _state(memory), policy, fallback_reason)
    st = step.state
    new_memory: Memory = {
        **memory,
        "state": {"last_up_s": st.last_up_s, "last_down_s": st.last_down_s,
                  "low_since_s": st.low_since_s, "spot": st.spot},
        "accuracy": [list(r) for r in tracker.rows()],
        "pending": pending[-tracker.window :],
    }  # fmt: skip
    if step.decision is None:
        return None, new_memory
    mode: AutonomyMode = policy.mode
    return (to_event(step.decision, host_id=fv.host_id, mode=mode, incarnation=incarnation),
            new_memory)
