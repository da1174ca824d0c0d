"""The live group autoscaler's pure core: a VM group's members' feature vectors and the fleet
as libvirt holds it in, maybe a SCALE_OUT or SCALE_IN decision out.

A group is every VM whose NovaCron labels carry ``novacron.io/group: <group id>``; a clone
inherits its source's labels, so it joins the group it was cloned for. Optional labels on the
members (read from the template member, see :func:`template`):

- ``novacron.io/min-replicas`` / ``novacron.io/max-replicas``: the bounds when no stored
  policy sets ``rules.minReplicas`` / ``rules.maxReplicas`` for the group's labels;
- ``novacron.io/anti-affinity``: ``host``, ``rack`` or ``zone`` (hard anti-affinity of the
  replicas on that key) or ``none``, when no policy sets ``rules.antiAffinity``.

On a host, ``novacron.io/cordoned: "true"`` (or ``novacron.io/maintenance``) keeps new
replicas off it. A policy's value wins over a label, a label over the default.

Demand is counted in replicas, in event time: each member's latest CPU feature gives its busy
vCPUs (``last`` % of its allocation); the group's demand is their sum over the template's
vCPUs. A running member whose latest feature is older than ``stale_after_s`` (or which has none
yet, like a fresh clone) is counted at the mean utilisation of the fresh ones: it still holds
capacity and a load balancer still sends it its share, so leaving it out would read as idle
capacity and invite a scale-in. With no fresh member there is nothing measured and no decision.

The forecast is of the aggregate, not a sum of the members' forecasts: one serving call per
group; quantiles do not add (a sum of 80 % upper bounds is a wider-than-80 % bound of the
sum, so the group would be over-provisioned); and when load moves between replicas (a clone
starts taking traffic) the members' series jump while their sum does not.

Then ``rules.decide_group`` (the rule the fleet simulator measures) decides the size. A
scale-out places each new replica with the placement engine on the current fleet (hard
anti-affinity among the group's replicas, capacity, cordons and every other filter), and the
decision carries each placement's explanation and runner-up hosts; replicas that fit nowhere
are not ordered and the decision says why. A scale-in names the replicas to remove: clones
only (NovaCron never deletes a VM it did not create), newest first, never the last running
replica and never below ``minReplicas``.

A scale-out's clones count as pending (capacity ordered) until they show up in the fleet. What
the actuator reports on ``novacron.actions`` shortens that: a clone its outcome says was not
made stops being pending at once (:func:`learn_outcome`), so the next scale-up the rule allows
can order that capacity again; an outcome that never comes leaves the clone pending for lead
time + scale-up cooldown, then it is presumed failed. The host a clone failed on is excluded
from the group's placements for :data:`AVOID_FAILED_HOST_S` of event time, or until a clone of
the group is made there; when the excluded hosts are the only ones a replica fits, it is placed
without the exclusion (scaling beats avoiding), and the decision says so.

Likewise a scale-in's named replicas count as leaving until they leave the fleet, and an
outcome saying one was not removed (still defined somewhere after the actuator acted, or a
failed scale-in that cannot say) makes it count again at once; lead time + scale-up cooldown
stays the fallback.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from novacron.models.features import pooled_correlation
from novacron.placement.engine import Scheduler
from novacron.placement.state import FleetState
from novacron.placement.types import (
    AffinityTerm,
    Constraints,
    DecisionStatus,
    Host,
    LabelSelector,
    PlacementRequest,
    VMSpec,
)
from novacron.policy.effective import EffectivePolicy
from novacron.policy.schema import AutoScalingProfile

from novacron.events import (
    ActionKind,
    ActionResult,
    ActionStatus,
    Alternative,
    AutonomyMode,
    Decision,
    Forecast,
)

from .accuracy import AccuracyTracker
from .events import to_event
from .live import down_note_for, peak_bounds
from .policy import ScalingPolicy
from .rules import decide_group
from .types import ForecastView, GroupState, Observation

GROUP_LABEL = "novacron.io/group"
MIN_REPLICAS_LABEL = "novacron.io/min-replicas"
MAX_REPLICAS_LABEL = "novacron.io/max-replicas"
ANTI_AFFINITY_LABEL = "novacron.io/anti-affinity"
CORDONED_LABEL = "novacron.io/cordoned"
MAINTENANCE_LABEL = "novacron.io/maintenance"
# Written by the actuator on every clone: the source VM and the decision's event time, which
# orders clones for scale-in (newest first).
CLONE_OF_LABEL = "clone_of"
CLONED_AT_LABEL = "novacron.io/cloned-at"

TOPOLOGY_KEYS = ("host", "rack", "zone")
# How long, in event time, a group's scale-outs keep off a host where one of its clones just
# failed. A bound in time, not "until a clone succeeds there": while the host is avoided the
# group places nothing there, so a success could only come from the fallback. A quarter-hour
# spans several retries at the scale-up cooldown (none of them on the same host) and is short
# enough that a host whose fault was transient or fixed (a pool remounted, disk freed) is used
# again soon. Event time, as every decision reasons: a replay at 60x is not a wall-clock minute.
AVOID_FAILED_HOST_S = 900.0
# A group id names the clones (domain names) and is the decisions' target id.
GROUP_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,150}$")
Memory = dict[str, Any]


@dataclass(frozen=True, slots=True)
class FleetVm:
    vm_id: str
    host_id: str
    vcpus: int
    memory_mib: int
    labels: Mapping[str, str] = field(default_factory=dict)
    running: bool = True
    uuid: str = ""  # the libvirt domain's UUID: tells apart VMs that reuse a name

    @property
    def group(self) -> str | None:
        """The group id, or None (no label, or one that is not a valid id: see
        :func:`label_problem`)."""
        g = self.labels.get(GROUP_LABEL, "")
        return g if GROUP_ID.match(g) else None

    @property
    def is_clone(self) -> bool:
        return CLONE_OF_LABEL in self.labels

    @property
    def cloned_at(self) -> float:
        try:
            return float(self.labels.get(CLONED_AT_LABEL, "0"))
        except ValueError:
            return 0.0


@dataclass(frozen=True, slots=True)
class FleetHost:
    host_id: str
    vcpus: int
    memory_mib: int
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def cordoned(self) -> bool:
        return self.labels.get(CORDONED_LABEL, "").lower() == "true"

    @property
    def maintenance(self) -> bool:
        return self.labels.get(MAINTENANCE_LABEL, "").lower() == "true"


@dataclass(frozen=True, slots=True)
class FleetView:
    """Every reachable host and every domain defined on it (running or not)."""

    hosts: tuple[FleetHost, ...]
    vms: tuple[FleetVm, ...]
    # Indexes: the router asks for every feature vector, so no scan of the fleet per call.
    _by_id: dict[str, FleetVm] = field(init=False, repr=False, compare=False)
    _groups: dict[str, list[FleetVm]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        groups: dict[str, list[FleetVm]] = {}
        for v in sorted(self.vms, key=lambda v: v.vm_id):
            if v.group is not None:
                groups.setdefault(v.group, []).append(v)
        object.__setattr__(self, "_by_id", {v.vm_id: v for v in self.vms})
        object.__setattr__(self, "_groups", groups)

    def knows(self, vm_id: str) -> bool:
        return vm_id in self._by_id

    def get(self, vm_id: str) -> FleetVm | None:
        return self._by_id.get(vm_id)

    def group_of(self, vm_id: str) -> str | None:
        vm = self._by_id.get(vm_id)
        return vm.group if vm is not None else None

    def members(self, group_id: str) -> list[FleetVm]:
        return list(self._groups.get(group_id, ()))


def label_problem(vm: FleetVm) -> str | None:
    """Why ``vm``'s group label is ignored, if it is."""
    g = vm.labels.get(GROUP_LABEL)
    if g is None or GROUP_ID.match(g):
        return None
    return (f"{vm.vm_id}: {GROUP_LABEL}={g!r} is not a group id (1-150 of A-Z a-z 0-9 _ . -); "
            "the VM is in no group")


def template(members: Sequence[FleetVm]) -> FleetVm | None:
    """The member clones are made from: the first original (not a clone) by name, else the
    oldest clone. Its labels and size are the group's."""
    originals = [m for m in members if not m.is_clone]
    if originals:
        return originals[0]
    return min(members, key=lambda m: (m.cloned_at, m.vm_id), default=None)


# ----------------------------------------------------------------------------- the policy


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    scaling: ScalingPolicy
    anti_affinity: tuple[str, bool] | None  # (topology key, hard)
    mode_out: AutonomyMode
    mode_in: AutonomyMode
    sources: str  # where min, max and anti-affinity came from, for the explanation
    problems: tuple[str, ...] = ()  # labels ignored; a bounds conflict blocks decisions
    blocked: str | None = None


def default_group_policy() -> ScalingPolicy:
    """Replicas of a group: 1-10, moderate profile; a clone boots and serves within five
    minutes (the lead time), and a scale-in looks 30 minutes ahead."""
    return ScalingPolicy.from_profile("moderate", name="default-group", min_replicas=1,
                                      max_replicas=10, lead_time_s=300.0, horizon_s=1800.0)


def _int_label(labels: Mapping[str, str], key: str, problems: list[str]) -> int | None:
    raw = labels.get(key)
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        problems.append(f"{key}={raw!r} is not an integer; ignored")
        return None
    if not 0 <= value <= 10_000:
        problems.append(f"{key}={raw!r} is outside [0, 10000]; ignored")
        return None
    return value


def _from_policy(eff: EffectivePolicy | None, path: str) -> tuple[Any, str] | None:
    if eff is None:
        return None
    src = eff.source(path)
    if src.origin != "policy" or src.value is None:
        return None
    return src.value, f"policy {src.policy}"


def group_policy(labels: Mapping[str, str], base: ScalingPolicy,
                 effective: EffectivePolicy | None = None) -> GroupPolicy:
    """The group's bounds, profile, anti-affinity and autonomy: a stored policy's value (the
    effective policy of the template's labels) wins over the member labels, which win over
    ``base``."""
    problems: list[str] = []
    parts: list[str] = []

    def pick(path: str, label: str, default: int) -> int:
        got = _from_policy(effective, path)
        if got is not None:
            parts.append(f"{path.split('.')[-1]} {got[0]} from {got[1]}")
            return int(got[0])
        value = _int_label(labels, label, problems)
        if value is not None:
            parts.append(f"{path.split('.')[-1]} {value} from label {label}")
            return value
        return default

    low = pick("rules.minReplicas", MIN_REPLICAS_LABEL, base.min_replicas)
    high = pick("rules.maxReplicas", MAX_REPLICAS_LABEL, base.max_replicas)
    profile = _from_policy(effective, "rules.autoScaling")
    delay = _from_policy(effective, "rules.scaleDownDelay")
    anti: tuple[str, bool] | None = None
    got = _from_policy(effective, "rules.antiAffinity")
    if got is not None:
        anti = (str(got[0].get("topologyKey", "host")), got[0].get("mode") == "hard")
        parts.append(f"{'hard' if anti[1] else 'soft'} anti-affinity per {anti[0]} from {got[1]}")
    elif (raw := labels.get(ANTI_AFFINITY_LABEL)) is not None:
        key = raw.strip().lower()
        if key in TOPOLOGY_KEYS:
            anti = (key, True)
            parts.append(f"hard anti-affinity per {key} from label {ANTI_AFFINITY_LABEL}")
        elif key != "none":
            problems.append(f"{ANTI_AFFINITY_LABEL}={raw!r} is not host, rack, zone or none; "
                            "ignored")
    if anti is not None and anti[0] not in TOPOLOGY_KEYS:
        problems.append(f"anti-affinity per {anti[0]} cannot spread whole VMs; ignored")
        anti = None
    modes = {}
    for kind in ("scale_out", "scale_in"):
        got = _from_policy(effective, f"autonomy.{kind}")
        modes[kind] = AutonomyMode(got[0]) if got is not None else base.mode
    blocked = None
    try:
        scaling = ScalingPolicy.from_profile(
            AutoScalingProfile(profile[0]) if profile else base.profile,
            name=(effective.matched[0] if effective and effective.matched else base.name),
            min_replicas=low, max_replicas=high, lead_time_s=base.lead_time_s,
            horizon_s=base.horizon_s,
            scale_down_delay_s=float(delay[0]) if delay else None,
            cost=base.cost, mode=base.mode,
        )
    except ValueError as exc:  # min > max, from two sources: decisions wait until it is fixed
        blocked = f"replica bounds min {low} > max {high}: {exc}; fix the policy or labels"
        scaling = base
    return GroupPolicy(scaling, anti, modes["scale_out"], modes["scale_in"],
                       "; ".join(parts) or "bounds and anti-affinity from the default policy",
                       tuple(problems), blocked)


# ----------------------------------------------------------------------------- the load


def record_feature(memory: Memory, vm_id: str, at_s: float, util_pct: float, allocated: float,
                   history: Sequence[float], step_s: float,
                   correlations: Mapping[str, float] | None = None) -> Memory:
    """Keep a member's latest CPU feature (with its CPU's correlation to each of the VM's other
    metrics, when it has any); an older one arriving late changes nothing."""
    members = dict(memory.get("members") or {})
    old = members.get(vm_id)
    if old is not None and old["at"] >= at_s:
        return memory
    members[vm_id] = {"at": at_s, "util": max(0.0, util_pct), "alloc": allocated,
                      "history": [max(0.0, h) for h in history], "step_s": step_s}
    if correlations:
        members[vm_id]["corr"] = dict(correlations)
    return {**memory, "members": members, "event_s": max(at_s, memory.get("event_s") or at_s)}


def group_correlations(memory: Memory) -> dict[str, float]:
    """The group's CPU correlation with each other metric: its members' latest, pooled
    (``models.features.pooled_correlation``) over the members that report that metric."""
    by_metric: dict[str, list[float]] = {}
    for member in (memory.get("members") or {}).values():
        for metric, r in (member.get("corr") or {}).items():
            by_metric.setdefault(metric, []).append(r)
    out: dict[str, float] = {}
    for metric, rs in sorted(by_metric.items()):
        pooled = pooled_correlation(rs)
        if pooled is not None:
            out[metric] = pooled
    return out


@dataclass(frozen=True, slots=True)
class GroupLoad:
    demand: float  # replicas' worth of busy vCPUs
    unit_vcpus: int  # vCPUs of one replica (the template's)
    fresh: tuple[str, ...]
    imputed: tuple[str, ...]  # running members counted at the fresh members' mean
    history: tuple[float, ...]  # the aggregate, in % of one replica, oldest first
    step_s: float

    @property
    def mean_utilisation(self) -> float:
        n = len(self.fresh) + len(self.imputed)
        return self.demand / n if n else 0.0


def group_load(memory: Memory, running: Sequence[FleetVm], now_s: float, unit_vcpus: int,
               stale_after_s: float) -> GroupLoad | None:
    """The group's demand now and its recent history; None when no member is fresh."""
    feats = memory.get("members") or {}
    fresh = [(m, feats[m.vm_id]) for m in running
             if m.vm_id in feats and now_s - feats[m.vm_id]["at"] <= stale_after_s]
    if not fresh or unit_vcpus < 1:
        return None
    # A feature without an allocation is relative to the member's vCPUs as libvirt has them.
    alloc = {m.vm_id: f["alloc"] or m.vcpus for m, f in fresh}
    busy = sum(f["util"] / 100.0 * alloc[m.vm_id] for m, f in fresh)
    mean_util = busy / sum(alloc.values())
    seen = {m.vm_id for m, _ in fresh}
    stale = [m for m in running if m.vm_id not in seen]
    demand = (busy + sum(mean_util * m.vcpus for m in stale)) / unit_vcpus
    # Members' histories aligned on their latest point: a member contributes where it has
    # values (a clone that did not exist then contributed nothing).
    length = max(len(f["history"]) for _, f in fresh)
    agg = [0.0] * length
    for m, f in fresh:
        h = f["history"]
        for i, v in enumerate(h):
            agg[length - len(h) + i] += v * alloc[m.vm_id] / unit_vcpus  # % of one replica
    step = min(f["step_s"] for _, f in fresh)
    return GroupLoad(demand, unit_vcpus, tuple(m.vm_id for m, _ in fresh),
                     tuple(m.vm_id for m in stale), tuple(agg),
                     step)


# ----------------------------------------------------------------------------- the decision


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision | None
    memory: Memory
    note: str | None = None  # why a decision the rule wanted was not made (logged)


def _state(memory: Memory) -> GroupState:
    s = memory.get("state") or {}
    return GroupState(s.get("last_up_s"), s.get("last_down_s"), s.get("low_since_s"),
                      int(s.get("spot", 0)))


def _stored(st: GroupState) -> dict[str, Any]:
    return {"last_up_s": st.last_up_s, "last_down_s": st.last_down_s,
            "low_since_s": st.low_since_s, "spot": st.spot}


def fleet_state(fleet: FleetView) -> FleetState:
    """The placement engine's state of the fleet: every defined domain holds its capacity
    (a stopped one would take it back when started)."""
    hosts = [Host(host_id=h.host_id, vcpus=h.vcpus, memory_mib=h.memory_mib,
                  rack=h.labels.get("rack", "rack-0"), zone=h.labels.get("zone", "zone-0"),
                  labels=dict(h.labels), cordoned=h.cordoned, maintenance=h.maintenance)
             for h in fleet.hosts]
    state = FleetState(hosts)
    placed = [v for v in fleet.vms if v.host_id in state.index]
    state.place_many([VMSpec(v.vm_id, v.vcpus, v.memory_mib, labels=dict(v.labels))
                      for v in placed], [state.index[v.host_id] for v in placed])
    return state


def clone_names(group_id: str, decision_id: uuid.UUID, n: int) -> list[str]:
    """Derived from the decision, so acting on it again finds the same clones."""
    return [f"{group_id[:180]}-c{decision_id.hex[:8]}-{i}" for i in range(n)]


def _place(group_id: str, fleet: FleetView, tpl: FleetVm, names: Sequence[str],
           anti: tuple[str, bool] | None, exclude: frozenset[str] = frozenset(),
           ) -> tuple[list[dict[str, Any]], list[Alternative], str]:
    """Place ``names`` one after the other (each sees the ones before); stops at the first
    that fits nowhere. Hosts in ``exclude`` take none, unless they are the only hosts a replica
    fits: then it is placed without the exclusion, and its placement says
    ``"exclusion_dropped": True``. Returns the placements, the first one's runner-up hosts and
    why the rest were not placed (empty when all were)."""
    state = fleet_state(fleet)
    scheduler = Scheduler(state)
    terms: tuple[AffinityTerm, ...] = ()
    if anti is not None:
        terms = (AffinityTerm(LabelSelector.of({GROUP_LABEL: group_id}), anti[0], anti=True,
                              hard=anti[1]),)
    labels = {k: v for k, v in tpl.labels.items() if k not in (CLONE_OF_LABEL, CLONED_AT_LABEL)}
    out: list[dict[str, Any]] = []
    alts: list[Alternative] = []
    for name in names:
        vm = VMSpec(name, tpl.vcpus, tpl.memory_mib, labels=labels)
        d = scheduler.decide(PlacementRequest(vm, Constraints(affinity=terms,
                                                              exclude_hosts=exclude)), commit=True)
        dropped = False
        if d.status != DecisionStatus.PLACED and exclude:  # a pending decision committed nothing
            d = scheduler.decide(PlacementRequest(vm, Constraints(affinity=terms)), commit=True)
            dropped = d.status == DecisionStatus.PLACED
        if d.status != DecisionStatus.PLACED or d.target_node is None:
            return out, alts, d.explanation
        out.append({"name": name, "target_host": d.target_node, "score": d.score,
                    "placement": d.explanation,
                    "trace": [[f, n] for f, n in d.trace]})
        if dropped:
            out[-1]["exclusion_dropped"] = True
        if not alts:
            alts = [Alternative(option=f"place {name} on {a.node}", score=a.score,
                                why_not=a.why_lost) for a in d.alternatives]
    return out, alts, ""


def evaluate_group(
    group_id: str, memory: Memory, fleet: FleetView, policy: GroupPolicy, now_s: float, *,
    stale_after_s: float = 180.0, forecast: Forecast | None = None,
    fallback_reason: str | None = None, upper_down: Sequence[float] | None = None,
    level_down: float | None = None, decision_id: uuid.UUID | None = None,
    avoid_failed_host_s: float = AVOID_FAILED_HOST_S,
) -> Outcome:
    """One evaluation of one group at event time ``now_s``. ``forecast`` is of the group's
    aggregate in % of one replica (:attr:`GroupLoad.history`); ``upper_down`` its upper bound
    at ``level_down`` (``live.level_down_for``; the decision says why when it is the higher
    one). ``decision_id`` (by default derived from the group, the event time, the kind and the
    template's domain UUID: :func:`events.decision_id_for`) also names the clones, so a window
    decided again after a restart orders the same clones under the same ledger entry, while a
    trace replayed onto a fleet defined afresh does not find its previous run's. A host a clone
    failed on is avoided for ``avoid_failed_host_s`` of event time after the outcome said so
    (:func:`learn_outcome`)."""
    members = fleet.members(group_id)
    tpl = template(members)
    memory = {**memory, "eval": now_s,
              "members": {k: v for k, v in (memory.get("members") or {}).items()
                          if k in {m.vm_id for m in members}}}
    if tpl is None:
        return Outcome(None, memory, f"group {group_id}: no member in the fleet")
    if policy.blocked:
        return Outcome(None, memory, f"group {group_id}: {policy.blocked}")
    running = [m for m in members if m.running]
    # Ordered clones not in the fleet yet are pending; named replicas still there are leaving.
    seen = {m.vm_id for m in members}
    timeout = policy.scaling.lead_time_s + policy.scaling.scale_up_cooldown_s
    ordered = {n: (t, h) for n, (t, h) in (memory.get("ordered") or {}).items()
               if n not in seen and now_s - t <= timeout}
    removing = {n: t for n, t in (memory.get("removing") or {}).items()
                if n in seen and now_s - t <= timeout}
    # Which decision ordered which clones, for its outcome (see learn_outcome); and the clones
    # an outcome released, which the next scale-out names as the reason, unless they showed
    # up after all (made before the actuator failed), until the timeout would have.
    orders = {d: kept for d, names in (memory.get("orders") or {}).items()
              if (kept := [n for n in names if n in ordered])}
    released = {n: (t, why) for n, (t, why) in (memory.get("released") or {}).items()
                if n not in seen and now_s - t <= timeout}
    # Hosts a clone failed on, kept off for a while (see AVOID_FAILED_HOST_S).
    avoid = {h: (t, why) for h, (t, why) in (memory.get("avoid") or {}).items()
             if now_s - t <= avoid_failed_host_s}
    # Likewise for scale-ins: which decision named which replicas, and the replicas an outcome
    # said were not removed, which the next decision names (however late it comes: the
    # scale-down delay is longer than the timeout) while they are in the fleet.
    removals = {d: kept for d, names in (memory.get("removals") or {}).items()
                if (kept := [n for n in names if n in removing])}
    kept_back = {n: (t, why) for n, (t, why) in (memory.get("not_removed") or {}).items()
                 if n in seen}
    serving = [m for m in running if m.vm_id not in removing]
    memory = {**memory, "ordered": ordered, "removing": removing, "orders": orders,
              "released": released, "avoid": avoid, "removals": removals,
              "not_removed": kept_back}
    load = group_load(memory, serving, now_s, tpl.vcpus, stale_after_s)
    if load is None:
        return Outcome(None, memory, f"group {group_id}: no member has a fresh feature")
    sp = policy.scaling
    tracker = AccuracyTracker()
    for row in memory.get("accuracy", []):
        tracker.record(*row)
    pending = []
    for due, point, upper, naive in memory.get("pending", []):
        if due <= now_s:
            tracker.record(point, upper, naive, load.demand)
        else:
            pending.append([due, point, upper, naive])
    view = None
    if forecast is not None:
        note = down_note_for(level_down) if level_down is not None else None
        # The higher of the served bands and the group's own peak bound (see live.peak_bounds).
        peak, peak_down = peak_bounds(load.history, load.step_s, forecast,
                                      level_down if upper_down is not None else None)
        view = ForecastView.from_event(forecast, 1.0, upper_down, level_down, note,
                                       peak_upper=peak, peak_upper_down=peak_down)
        lead = view.steps(sp.lead_time_s)
        pending.append([now_s + lead * view.step_s, view.point[lead - 1],
                        max(view.upper[:lead]), load.demand])
        if fallback_reason is None:
            fallback_reason = tracker.poor_reason()
    obs = Observation(at_s=now_s, demand=load.demand, ready=len(serving), pending=len(ordered))
    step = decide_group(group_id, obs, view, _state(memory), sp, fallback_reason)
    memory = {**memory, "accuracy": [list(r) for r in tracker.rows()],
              "pending": pending[-tracker.window:]}
    d = step.decision
    if d is None:
        return Outcome(None, {**memory, "state": _stored(step.state)})
    up = d.delta > 0
    event = to_event(d, host_id=tpl.host_id, mode=policy.mode_out if up else policy.mode_in,
                     incarnation=tpl.uuid)
    decision_id = decision_id or event.decision_id
    # Only a decision that will (or may, once approved) be carried out is waited for.
    acts = event.mode in (AutonomyMode.AUTO, AutonomyMode.APPROVE)
    base = {**event.params, "group": group_id, "source_vm": tpl.vm_id,
            "source_host": tpl.host_id, "policy_sources": policy.sources}
    trigger = {**event.trigger, "fresh_members": list(load.fresh),
               "imputed_members": list(load.imputed), "unit_vcpus": load.unit_vcpus}
    # A replica a failed scale-in left in place serves again: the next decision says so.
    stayed = (f"; {'; '.join(w for _, w in kept_back.values())}" if kept_back else "")
    if kept_back:
        trigger["not_removed"] = sorted(kept_back)
    if up:
        names = clone_names(group_id, decision_id, d.delta)
        # Clones ordered but not in the fleet yet hold their hosts, so the next scale-out
        # keeps its anti-affinity with them and does not count their capacity as free.
        coming = tuple(FleetVm(n, h, tpl.vcpus, tpl.memory_mib, tpl.labels)
                       for n, (_, h) in ordered.items())
        placed, alts, why = _place(group_id, FleetView(fleet.hosts, fleet.vms + coming), tpl,
                                   names, policy.anti_affinity, frozenset(avoid))
        if not placed:  # nothing ordered: the rule's memory stays as it was, so it retries
            return Outcome(None, memory, f"group {group_id}: wanted {d.current} -> {d.desired} "
                           f"replicas, but no replica can be placed: {why}")
        desired = d.current + len(placed)
        text = "; ".join(f"{p['name']}: {p['placement']}" for p in placed)
        short = f"; only {len(placed)} of {d.delta} placed ({why})" if why else ""
        again = (f"; ordered again after {'; '.join(w for _, w in released.values())}"
                 if released else "")
        explanation = (f"{d.explanation}; placement: {text}{short}{again}"
                       f"{_avoided(avoid, placed, now_s, avoid_failed_host_s)}{stayed}")
        params = {**base, "replicas": desired, "delta": len(placed), "clones": placed,
                  "target_host": placed[0]["target_host"], "name": placed[0]["name"]}
        if released:
            trigger["released_clones"] = sorted(released)
            released = {}
        if avoid:
            trigger["avoided_hosts"] = sorted(avoid)
        if acts:
            ordered = {**ordered, **{p["name"]: (now_s, p["target_host"]) for p in placed}}
            orders = {**orders, str(decision_id): [p["name"] for p in placed]}
        action, host_id = ActionKind.SCALE_OUT, placed[0]["target_host"]
        alternatives = [*event.alternatives, *alts]
    else:
        floor = max(sp.min_replicas, 1)
        clones = sorted((m for m in serving if m.is_clone),
                        key=lambda m: (m.cloned_at, m.vm_id), reverse=True)
        n = min(-d.delta, len(serving) - floor, len(clones))
        if n <= 0:
            return Outcome(None, memory, f"group {group_id}: wanted {d.current} -> {d.desired} "
                           "replicas, but no clone can be removed (originals are never removed; "
                           f"at least {floor} must stay)")
        gone = clones[:n]
        desired = d.current - n
        short = f"; only {n} of {-d.delta} removable" if n < -d.delta else ""
        explanation = (f"{d.explanation}; removing {', '.join(m.vm_id for m in gone)} "
                       f"(newest clones first){short}{stayed}")
        params = {**base, "replicas": desired, "delta": -n,
                  "remove": [{"name": m.vm_id, "host": m.host_id} for m in gone]}
        if acts:
            removing = {**removing, **{m.vm_id: now_s for m in gone}}
            removals = {**removals, str(decision_id): [m.vm_id for m in gone]}
        action, host_id = ActionKind.SCALE_IN, gone[0].host_id
        alternatives = list(event.alternatives)
    decision = Decision(
        decision_id=decision_id, occurred_at=event.occurred_at, action=action,
        target_kind="group", target_id=group_id, host_id=host_id, params=params,
        trigger=trigger, policy=event.policy, score=float(desired), explanation=explanation,
        alternatives=alternatives, mode=event.mode, decided_by=event.decided_by,
    )
    memory = {**memory, "state": _stored(step.state), "ordered": ordered, "removing": removing,
              "orders": orders, "released": released, "removals": removals, "not_removed": {}}
    return Outcome(decision, memory)


def _avoided(avoid: Mapping[str, tuple[float, str]], placed: Sequence[Mapping[str, Any]],
             now_s: float, window_s: float) -> str:
    """What a scale-out's explanation says of the hosts it kept off."""
    if not avoid:
        return ""
    hosts = ", ".join(sorted(avoid))
    why = "; ".join(w for _, w in avoid.values())
    until = max(0, round((max(t for t, _ in avoid.values()) + window_s - now_s) / 60))
    dropped = [str(p["name"]) for p in placed if p.get("exclusion_dropped")]
    if dropped:
        return (f"; avoiding {hosts} (after {why}) left no host for {', '.join(dropped)}, "
                "so placed without avoiding them rather than not scaling")
    return f"; avoided {hosts} for another {until} min after {why}"


# ----------------------------------------------------------------------------- outcomes


def _made(after: Mapping[str, Any]) -> dict[str, bool]:
    """Clone name -> whether it runs somewhere, as the actuator read the fleet after acting
    (``after["clones"][name]["running_on"]``); empty when the result does not say (the
    actuator stopped at an error before reading it)."""
    clones = after.get("clones")
    if not isinstance(clones, Mapping):
        return {}
    return {str(n): bool(c["running_on"]) for n, c in clones.items()
            if isinstance(c, Mapping) and isinstance(c.get("running_on"), list)}


def _left(after: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Replica name -> the hosts still holding a copy and its state there, as the actuator read
    the fleet after a scale-in (``after["removed"][name]["copies"]``); empty when the result
    does not say."""
    removed = after.get("removed")
    if not isinstance(removed, Mapping):
        return {}
    return {str(n): {str(h): str(st) for h, st in r["copies"].items()}
            for n, r in removed.items()
            if isinstance(r, Mapping) and isinstance(r.get("copies"), Mapping)}


def _ordered_by(orders: Mapping[str, Any], result: ActionResult,
                copy_id: Callable[[uuid.UUID], uuid.UUID] | None) -> str | None:
    """The key of ``orders`` (a decision id) the result answers for."""
    return next((d for d in orders
                 if d == str(result.decision_id)
                 or (copy_id is not None and copy_id(uuid.UUID(d)) == result.decision_id)), None)


def _detail(result: ActionResult) -> str:
    """The actuator's reason, on one line and short enough for a log line and an explanation."""
    return " ".join(result.detail.split())[:300]


def _keep_waiting(index: dict[str, list[str]], key: str, waiting: Mapping[str, Any]) -> None:
    """Keep under decision ``key`` only its names still ``waiting``; drop the key when none is."""
    still = [n for n in index.pop(key) if n in waiting]
    if still:
        index[key] = still


def learn_outcome(memory: Memory, result: ActionResult, *,
                  copy_id: Callable[[uuid.UUID], uuid.UUID] | None = None,
                  ) -> tuple[Memory, str | None]:
    """What the actuator's outcome of one of this group's scale-outs or scale-ins says; the
    memory to keep and, when it changed, why (for the log).

    Scale-out: a clone the outcome reads as running nowhere was not made, and a failed outcome
    that does not say which clones were made (the actuator stopped at an error) made none that
    is not in the fleet: such clones stop being pending at once, and the host each was meant
    for is avoided by the group's placements (:data:`AVOID_FAILED_HOST_S`, from the group's
    event time). A clone made on an avoided host (placed there because nothing else fitted)
    ends the avoidance. Made clones stay pending until they show up in the fleet.

    Scale-in: a named replica the outcome reads as still defined on some host, or every named
    one of a failed outcome that does not say, stops counting as leaving at once (the fleet,
    read afresh, tells whether it still runs and serves).

    A skipped outcome (the decision waits for an operator), an outcome of any other action, and
    one of a decision this memory did not order (unknown, or whose replicas all showed up,
    left, or timed out) change nothing. ``copy_id`` gives the decision id an operator-approved
    copy of a decision carries (``actuators.approval.approved_id``): the copy's outcome answers
    for the original."""
    if result.status is ActionStatus.SKIPPED:
        return memory, None
    if result.action is ActionKind.SCALE_IN:
        return _learn_scale_in(memory, result, copy_id)
    if result.action is not ActionKind.SCALE_OUT:
        return memory, None
    orders: dict[str, list[str]] = dict(memory.get("orders") or {})
    key = _ordered_by(orders, result, copy_id)
    if key is None:
        return memory, None
    ordered = dict(memory.get("ordered") or {})
    made = _made(result.after)
    detail = _detail(result)
    released = dict(memory.get("released") or {})
    avoid = dict(memory.get("avoid") or {})
    since = float(memory.get("event_s") or 0.0)
    notes = []
    for name in orders[key]:
        if name not in ordered:
            continue
        if made.get(name, result.status is not ActionStatus.FAILED):
            host = ordered[name][1]
            if made.get(name) and host in avoid:
                del avoid[host]
                notes.append(f"clone {name} was made on {host}: no longer avoided")
            continue
        at, host = ordered.pop(name)
        how = "failed" if result.status is ActionStatus.FAILED else "was not made"
        why = f"clone {name} {how} on {host}: {detail}"
        released[name] = (at, why)
        avoid[host] = (max(since, at), why)
        notes.append(f"{why}; {host} avoided by the next placements; no longer pending")
    if not notes:
        return memory, None
    _keep_waiting(orders, key, ordered)
    return ({**memory, "ordered": ordered, "orders": orders, "released": released,
             "avoid": avoid},
            f"group {result.target_id}: " + "; ".join(notes))


def _learn_scale_in(memory: Memory, result: ActionResult,
                    copy_id: Callable[[uuid.UUID], uuid.UUID] | None,
                    ) -> tuple[Memory, str | None]:
    removals: dict[str, list[str]] = dict(memory.get("removals") or {})
    key = _ordered_by(removals, result, copy_id)
    if key is None:
        return memory, None
    removing = dict(memory.get("removing") or {})
    left = _left(result.after)
    detail = _detail(result)
    kept_back = dict(memory.get("not_removed") or {})
    notes = []
    for name in removals[key]:
        if name not in removing:
            continue
        if name in left:
            if not left[name]:
                continue  # gone from every host: removed
            where = ", ".join(f"{h} ({st})" for h, st in sorted(left[name].items()))
            why = f"replica {name} was not removed (still on {where}): {detail}"
        elif result.status is ActionStatus.FAILED:  # the actuator stopped before it could say
            why = f"replica {name} may not have been removed (scale-in failed): {detail}"
        else:
            continue
        at = removing.pop(name)
        kept_back[name] = (at, why)
        notes.append(f"{why}; no longer counted as leaving")
    if not notes:
        return memory, None
    _keep_waiting(removals, key, removing)
    return ({**memory, "removing": removing, "removals": removals, "not_removed": kept_back},
            f"group {result.target_id}: " + "; ".join(notes))
