"""A fleet simulator that runs the same decision code as the live agents, fast and offline.

A *fleet* is a set of VM groups on shared hosts. Each group's demand replays one real series
(in capacity units: 1.0 = one replica fully busy). Every step, in event time:

1. replicas whose boot (the provisioning delay) has finished start serving;
2. demand is observed: what exceeds the ready capacity is unserved and the step counts as
   SLA-violation minutes; every allocated replica (booting ones too) is paid for the step,
   at the same prices for every scaler (the policy's spot share, if it allows spot);
3. the scaler decides with what it knows up to now (a forecaster updated with each new
   observation, never with a later one) and the decision is applied: new replicas are placed
   on the host with the most free slots and serve after the boot time; removed replicas go
   at once (booting ones first).

Scalers: ``predictive`` (``rules.decide_group``, the live rule), ``reactive`` (the HPA
baseline of ``reactive.py``) and ``static`` (provisioned for the trace's peak). They see the
same demand on the same fleet shape, so their figures compare like for like.

A **reactive scaling event** is a scale-up decided when the observed utilisation of the
ready capacity was already at or above the policy's scale-up threshold: the capacity comes
after the load, not before it. A **false-positive scale-down** is a scale-down that causes an
SLA violation of that group within the lead time (the boot time of a replica, the time
capacity takes to come back): see ``count_false_positive_downs`` for exactly what is counted,
and for the wider count (any violation within the lead time) that is kept next to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from novacron.models.base import DAY_S, FloatArray, Forecaster

from .accuracy import AccuracyTracker
from .cost import hourly_cost, spot_units
from .policy import ScalingPolicy
from .reactive import HpaConfig, HpaState, hpa_desired
from .rules import decide_group
from .types import Direction, ForecastView, GroupState, Observation

ScalerName = Literal["predictive", "reactive", "static"]


@dataclass(frozen=True, slots=True)
class GroupTrace:
    name: str
    step_s: float
    start_s: float
    demand: FloatArray  # capacity units per step, warm-up included


@dataclass(frozen=True, slots=True)
class SimConfig:
    policy: ScalingPolicy
    boot_s: float = 300.0  # provisioning delay of a new replica (= the policy's lead time)
    warmup_s: float = DAY_S  # history the forecaster starts from; not scored
    host_slots: int = 16  # replicas per host
    host_headroom: float = 1.25  # hosts for this share above the static-peak need
    level: float = 0.8
    max_eval_steps: int | None = None
    # The HPA baseline's target utilisation; None: the policy's. A lower one buys the HPA fewer
    # SLA-violation minutes for more cost (the bench matches it to the predictive rule's).
    hpa_target: float | None = None


@dataclass(slots=True)
class Forecasts:
    """Per-step forecasts of one series, made in event time: row i uses data up to step i."""

    point: FloatArray  # (steps, horizon)
    upper: FloatArray
    model: str
    upper_down: FloatArray | None = None  # a higher-level bound for scale-downs, if any
    level_down: float | None = None
    level_down_steps: FloatArray | None = None  # its level per step, where it varies
    down_note: str | None = None  # why, on the steps where the level is above ``level_down``


def make_forecasts(
    trace: GroupTrace, first: int, steps: int, horizon: int,
    factories: Sequence[Callable[[], Forecaster]], level: float,
) -> Forecasts:  # fmt: skip
    """Forecasts made in event time: each model is fitted on the warm-up and then only
    ``update``d with each new observation. With several models the result is their envelope
    (the highest point and upper bound per step): a seasonal model sees the daily ramp coming,
    a short-memory one the level now, and the scaler must not miss either."""
    models = [f().fit(trace.demand[: first + 1], trace.step_s, trace.start_s) for f in factories]
    point = np.zeros((steps, horizon))
    upper = np.zeros((steps, horizon))
    for k in range(steps):
        for m in models:
            if k:
                m.update(trace.demand[first + k : first + k + 1])
            f = m.predict(horizon, (level,))
            np.maximum(point[k], f.point, out=point[k])
            np.maximum(upper[k], f.upper(level), out=upper[k])
    return Forecasts(point, upper, "+".join(m.name for m in models))


@dataclass(slots=True)
class GroupResult:
    name: str
    step_s: float
    demand: FloatArray
    allocated: FloatArray  # ready + booting, per step
    ready: FloatArray
    decisions: list[tuple[int, str, str]] = field(default_factory=list)  # (step, dir, rule)
    scale_ups: int = 0
    scale_downs: int = 0
    reactive_events: int = 0
    breach_scale_ups: int = 0  # scale-ups made while demand already exceeded the ready capacity
    false_positive_scale_downs: int = 0  # caused a violation (see count_false_positive_downs)
    false_positive_scale_downs_any_violation: int = 0  # followed by any violation
    # Per scale-down: (step, the steps from which each removed replica would have served).
    removals: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    fallback_steps: int = 0
    cost: float = 0.0
    clipped_by_hosts: int = 0

    @property
    def violation_minutes(self) -> float:
        return float(np.sum(self.demand > self.ready + 1e-9) * self.step_s / 60.0)

    @property
    def served(self) -> float:
        return float(np.minimum(self.demand, self.ready).sum())


@dataclass(slots=True)
class FleetResult:
    scaler: ScalerName
    groups: list[GroupResult]
    host_util_peak: FloatArray  # busiest host's utilisation per step


class _Hosts:
    """Replica slots on hosts; spread placement (most free slots first)."""

    def __init__(self, n_hosts: int, slots: int, n_groups: int) -> None:
        self.slots = slots
        self.count = np.zeros((n_groups, n_hosts), dtype=np.int64)

    def free(self) -> int:
        return int(self.count.shape[1] * self.slots - self.count.sum())

    def add(self, g: int, n: int) -> int:
        placed = 0
        for _ in range(n):
            used = self.count.sum(axis=0)
            h = int(np.argmin(used))
            if used[h] >= self.slots:
                break
            self.count[g, h] += 1
            placed += 1
        return placed

    def remove(self, g: int, n: int) -> None:
        for _ in range(n):
            h = int(np.argmax(self.count[g]))
            if self.count[g, h] == 0:
                return
            self.count[g, h] -= 1


def simulate_fleet(
    traces: Sequence[GroupTrace],
    cfg: SimConfig,
    scaler: ScalerName,
    forecasts: Sequence[Forecasts] | None = None,
) -> FleetResult:
    """Run one scaler over a fleet of groups that share hosts (all traces on one step)."""
    pol = cfg.policy
    steps_s = {t.step_s for t in traces}
    if len(steps_s) != 1:
        raise ValueError("a fleet's traces must share one step")
    step_s = steps_s.pop()
    first = int(cfg.warmup_s // step_s)
    lengths = [t.demand.size - first for t in traces]
    if cfg.max_eval_steps is not None:
        lengths = [min(n, cfg.max_eval_steps) for n in lengths]
    if min(lengths) < 1:
        raise ValueError("every trace needs more points than its warm-up")
    boot_steps = max(1, math.ceil(cfg.boot_s / step_s))
    lead_steps = boot_steps
    peaks = [
        math.ceil(float(t.demand[first : first + n].max()) - 1e-9) or 1
        for t, n in zip(traces, lengths, strict=True)
    ]
    n_hosts = max(1, math.ceil(sum(peaks) * cfg.host_headroom / cfg.host_slots))
    hosts = _Hosts(n_hosts, cfg.host_slots, len(traces))
    hpa_target = pol.target if cfg.hpa_target is None else cfg.hpa_target
    if not 0.0 < hpa_target <= 1.0:
        raise ValueError(f"hpa_target must be within (0, 1], got {hpa_target}")
    hpa_cfg = HpaConfig(hpa_target, 0.10, 300.0, pol.min_replicas, pol.max_replicas)

    results: list[GroupResult] = []
    ready = []
    booting: list[list[int]] = []  # per group: the step at which each booting replica serves
    states: list[GroupState] = []
    hpa_states: list[HpaState] = []
    trackers: list[AccuracyTracker] = []
    for g, (t, n) in enumerate(zip(traces, lengths, strict=True)):
        d0 = float(t.demand[first])
        start = (
            peaks[g]
            if scaler == "static"
            else max(pol.min_replicas, min(pol.max_replicas, math.ceil(d0 / pol.target - 1e-9)))
        )
        start = hosts.add(g, start)
        ready.append(start)
        booting.append([])
        states.append(GroupState(spot=0))
        hpa_states.append(HpaState())
        trackers.append(AccuracyTracker())
        results.append(
            GroupResult(t.name, step_s, t.demand[first : first + n].copy(), np.zeros(n), np.zeros(n))
        )
    horizon_n = int(max(lengths))
    host_peak = np.zeros(horizon_n)
    step_h = step_s / 3600.0
    load = np.zeros(len(traces))
    for k in range(horizon_n):
        load[:] = 0.0
        for g, (trace, n) in enumerate(zip(traces, lengths, strict=True)):
            r = results[g]
            if k >= n:
                if ready[g] or booting[g]:
                    hosts.remove(g, ready[g] + len(booting[g]))
                    ready[g], booting[g] = 0, []
                continue
            arrived = [b for b in booting[g] if b <= k]
            if arrived:
                ready[g] += len(arrived)
                booting[g] = [b for b in booting[g] if b > k]
            d = float(r.demand[k])
            alloc = ready[g] + len(booting[g])
            r.ready[k], r.allocated[k] = ready[g], alloc
            # Every scaler pays for its capacity the same way: the policy's spot share of it
            # (what the rule's decisions carry as spot_after), none where spot is not allowed.
            r.cost += hourly_cost(alloc, spot_units(alloc, pol), pol) * step_h
            load[g] = min(d, ready[g]) / alloc if alloc else 0.0
            if scaler == "static":
                continue
            at_s = trace.start_s + (first + k) * step_s
            if scaler == "predictive":
                fallback = None
                view = None
                if forecasts is not None:
                    fc = forecasts[g]
                    if k >= lead_steps:
                        past = k - lead_steps
                        trackers[g].record(
                            float(fc.point[past, lead_steps - 1]),
                            float(fc.upper[past, lead_steps - 1]),
                            float(r.demand[past]),
                            d,
                        )
                    fallback = trackers[g].poor_reason()
                    down = None if fc.upper_down is None else tuple(fc.upper_down[k].tolist())
                    lv_down, note = fc.level_down, None
                    if fc.level_down_steps is not None:
                        lv_down = float(fc.level_down_steps[k])
                        note = fc.down_note if fc.level_down is None or lv_down > fc.level_down else None
                    view = ForecastView(
                        tuple(fc.point[k].tolist()), tuple(fc.upper[k].tolist()), step_s, cfg.level,
                        fc.model, upper_down=down, level_down=lv_down, down_note=note,
                    )  # fmt: skip
                if fallback is not None or view is None:
                    r.fallback_steps += 1
                obs = Observation(at_s, d, ready[g], len(booting[g]))
                out = decide_group(trace.name, obs, view, states[g], pol, fallback)
                states[g] = out.state
                if out.decision is None:
                    continue
                desired, rule = out.decision.desired, out.decision.rule.value
            else:
                desired, hpa_states[g] = hpa_desired(at_s, d, ready[g], alloc, hpa_states[g], hpa_cfg)
                rule = "hpa"
                if desired == alloc:
                    continue
            if desired > alloc:
                placed = hosts.add(g, desired - alloc)
                r.clipped_by_hosts += desired - alloc - placed
                if placed == 0:
                    continue
                booting[g].extend([k + boot_steps] * placed)
                r.scale_ups += 1
                if ready[g] == 0 or d >= pol.scale_up_threshold * ready[g] - 1e-9:
                    r.reactive_events += 1
                if d > ready[g] + 1e-9:
                    r.breach_scale_ups += 1
                r.decisions.append((k, Direction.UP.value, rule))
            else:
                drop = alloc - desired
                hosts.remove(g, drop)
                cancel = min(drop, len(booting[g]))
                order = sorted(booting[g])
                booting[g] = order[: len(order) - cancel]
                ready[g] -= drop - cancel
                # Ready replicas would have served from the next step; cancelled boots later.
                r.removals.append((k, (k + 1,) * (drop - cancel) + tuple(order[len(order) - cancel :])))
                r.scale_downs += 1
                r.decisions.append((k, Direction.DOWN.value, rule))
        used = hosts.count.astype(np.float64).T @ load  # busy replica-equivalents per host
        host_peak[k] = float(used.max()) / cfg.host_slots if used.size else 0.0
    for r in results:
        caused, followed = count_false_positive_downs(r.demand, r.ready, r.removals, lead_steps)
        r.false_positive_scale_downs, r.false_positive_scale_downs_any_violation = caused, followed
    return FleetResult(scaler, results, host_peak)


def count_false_positive_downs(
    demand: FloatArray, ready: FloatArray, removals: Sequence[tuple[int, Sequence[int]]], lead_steps: int
) -> tuple[int, int]:
    """(causal, any): how many scale-downs were followed within ``lead_steps`` by an SLA violation.

    For a scale-down decided at step ``k`` (it takes effect from step ``k + 1``), the window is
    steps ``k+1 .. k+lead_steps``: capacity ordered when the violation shows would come too late.

    - *any*: some step of the window has demand above the ready capacity, whatever its cause
      (the issue's literal definition; it also counts violations that the capacity before the
      scale-down would not have prevented either).
    - *causal*: some step ``j`` of the window has ``ready[j] < demand[j] <= ready[j] + back[j]``,
      where ``back[j]`` counts the replicas this decision removed that would be serving at ``j``:
      ready ones from ``k + 1``, cancelled boots from the step their boot would have ended. So a
      violation counts when the removed replicas alone would have served it. ``ready[j]`` is the
      capacity actually in force, so later decisions are included as they happened: a later
      scale-up that is serving by ``j`` helps, a later scale-down in the window lowers ``ready[j]``
      and may make both scale-downs count (an over-count, never an under-count).
    """
    causal = anyv = 0
    for k, serve_from in removals:
        j = np.arange(k + 1, min(k + 1 + lead_steps, demand.size))
        if j.size == 0:
            continue
        short = demand[j] > ready[j] + 1e-9
        if not short.any():
            continue
        anyv += 1
        back = (np.asarray(serve_from)[None, :] <= j[:, None]).sum(axis=1)
        if np.any(short & (demand[j] <= ready[j] + back + 1e-9)):
            causal += 1
    return causal, anyv
