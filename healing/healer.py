"""The Healer: a pure facade. Feed it observations (with their event time), ticks and recovery
outcomes; it answers with explained actions: a :class:`RecoveryPlan` to execute, or a
:class:`Hold` saying why it is deliberately not acting. It never reads a clock and does no
I/O; fencing goes through the injected :class:`Fencer`.

One incident per VM at a time, and every plan that starts a copy elsewhere carries a positive
fence proof: together these are what keeps a VM from ever running twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from novacron.healing.diagnosis import Diagnosis, DiagnosisSettings, FailureClass, diagnose
from novacron.healing.health import (
    HealthModel,
    Lifecycle,
    LifecycleEvent,
    Observation,
    VmHealth,
    VmState,
)
from novacron.healing.ladder import (
    BOOTS,
    DEFAULT_LADDERS,
    MOVES,
    RUNG_BUDGET_S,
    STARTS_ELSEWHERE,
    Incident,
    IncidentStatus,
    PlanStatus,
    RecoveryPlan,
    Rung,
    RungContext,
    not_applicable,
)
from novacron.healing.learning import BetaSampler, HostBootRecord, ThompsonLadder
from novacron.healing.safety import (
    BreakerSettings,
    Fencer,
    FenceRequest,
    FenceResult,
    MassActionBreaker,
    RestartLimiter,
    RestartSettings,
)

from novacron.events import (
    ActionKind,
    ActionResult,
    ActionStatus,
    Alternative,
    AutonomyMode,
    Decision,
)


class HoldKind(StrEnum):
    PARTITION = "partition"  # host cut off from the controller only: no evacuation
    NO_QUORUM = "no_quorum"
    BACKOFF = "backoff"
    BREAKER = "breaker"
    CAPACITY = "capacity"
    FENCE_FAILED = "fence_failed"  # no proof the old copy is dead: no failover
    NEEDS_OPERATOR = "needs_operator"
    OPERATOR_SHUTDOWN = "operator_shutdown"


@dataclass(frozen=True, slots=True)
class Hold:
    """A deliberate non-action, with its reason; NEEDS_OPERATOR is terminal for the VM/host."""

    kind: HoldKind
    subject_kind: str
    subject_id: str
    at: datetime
    reason: str
    diagnosis: Diagnosis | None = None
    retry_at: datetime | None = None

    def to_decision(self, mode: AutonomyMode = AutonomyMode.AUTO) -> Decision:
        trigger: dict[str, object] = {"hold": self.kind.value}
        if self.diagnosis is not None:
            trigger.update(health=self.diagnosis.failure.value, summary=self.diagnosis.summary)
        return Decision(
            occurred_at=self.at, action=ActionKind.NOOP,
            target_kind="host" if self.subject_kind == "host" else "vm",
            target_id=self.subject_id, params={"retry_at": self.retry_at.isoformat()
                                               if self.retry_at else None},
            trigger=trigger, explanation=f"{self.kind.value}: {self.reason}", mode=mode,
            decided_by="healer",
        )


HealingAction = RecoveryPlan | Hold


@dataclass(frozen=True, slots=True)
class RecoveryOutcome:
    """The actuator's report on a plan (by ``plan_id`` = the Decision's ``decision_id``)."""

    plan_id: uuid.UUID
    succeeded: bool
    at: datetime
    detail: str = ""


def _default_ladders() -> dict[FailureClass, tuple[Rung, ...]]:
    return dict(DEFAULT_LADDERS)


@dataclass(frozen=True, slots=True)
class HealerSettings:
    diagnosis: DiagnosisSettings = field(default_factory=DiagnosisSettings)
    restarts: RestartSettings = field(default_factory=RestartSettings)
    breakers: BreakerSettings = field(default_factory=BreakerSettings)
    ladders: Mapping[FailureClass, tuple[Rung, ...]] = field(default_factory=_default_ladders)
    budgets: Mapping[Rung, float] = field(default_factory=lambda: dict(RUNG_BUDGET_S))
    max_fence_attempts: int = 3
    # A failed move is retried once on another host before escalating: the target is the
    # likeliest culprit, and the next rung (often disaster recovery) costs minutes.
    reschedule_attempts: int = 1
    fence_retry_s: float = 5.0
    # Boots that failed on one host within the window before the host counts as a bad place
    # to boot: in-place restarts there are skipped, and it goes last as a target.
    host_boot_failures: int = 2
    host_boot_window_s: float = 3600.0
    learn: bool = True  # False: always the configured order (still explained)
    mode: AutonomyMode = AutonomyMode.AUTO


@dataclass(slots=True)
class _HostEpisode:
    diagnosis: Diagnosis
    fence: FenceResult | None = None
    fence_failures: int = 0
    retry_at: datetime | None = None
    terminal: bool = False


class Healer:
    def __init__(
        self,
        *,
        fencer: Fencer,
        rng: BetaSampler,
        settings: HealerSettings | None = None,
        learner: ThompsonLadder | None = None,
    ) -> None:
        self.s = settings or HealerSettings()
        self.fencer = fencer
        self.model = HealthModel()
        self.learner = learner or ThompsonLadder(rng, budgets=self.s.budgets)
        self.limiter = RestartLimiter(self.s.restarts)
        self.breaker = MassActionBreaker(self.s.breakers)
        self.host_boots = HostBootRecord(self.s.host_boot_failures, self.s.host_boot_window_s)
        self.incidents: dict[str, Incident] = {}  # open, by VM
        self.needs_operator: dict[str, Incident] = {}  # terminal, by VM, until cleared
        self.closed: list[Incident] = []
        self.plans: dict[uuid.UUID, RecoveryPlan] = {}
        self.fence_log: list[FenceResult] = []
        self._reserved: dict[uuid.UUID, tuple[str, int]] = {}
        self._hosts: dict[str, _HostEpisode] = {}
        self._last_hold: dict[str, HoldKind] = {}
        self._bad_hosts: set[str] = set()  # hosts with a diagnosis at the current tick
        self.now: datetime | None = None

    # ------------------------------------------------------------ inputs

    def observe(self, obs: Observation) -> list[HealingAction]:
        return self.observe_all((obs,))

    def observe_all(self, batch: Iterable[Observation]) -> list[HealingAction]:
        """Apply a batch (e.g. one collection round) and judge once at its latest time."""
        out: list[HealingAction] = []
        latest = self.now
        for obs in batch:
            self.model.observe(obs)
            latest = obs.at if latest is None or obs.at > latest else latest
            if isinstance(obs, LifecycleEvent) and obs.kind == Lifecycle.OPERATOR_SHUTDOWN:
                out.extend(self._honour_shutdown(obs))
            elif isinstance(obs, LifecycleEvent) and obs.kind == Lifecycle.CRASHED:
                self._crashed_on_probation(obs)
        if latest is None:
            return out
        return out + self.tick(latest)

    def tick(self, now: datetime) -> list[HealingAction]:
        """Re-judge at event time ``now``: timeouts, diagnoses, waiting incidents."""
        if self.now is not None and now < self.now:
            now = self.now  # event time never goes backwards inside the healer
        self.now = now
        out: list[HealingAction] = []
        for plan in [p for p in self.plans.values() if p.overdue(now)]:
            self._finish(plan, False, plan.deadline, f"timed out after {plan.budget_s:.0f}s",
                         PlanStatus.TIMED_OUT)
        diagnoses = diagnose(self.model, now, self.s.diagnosis)
        self._bad_hosts = {d.subject_id for d in diagnoses if d.subject_kind == "host"}
        down_or_cut = set()
        for d in diagnoses:
            if d.subject_kind == "host":
                out.extend(self._host(d, now))
                if d.failure in (FailureClass.HOST_DOWN, FailureClass.HOST_PARTITIONED):
                    down_or_cut.add(d.subject_id)
            elif d.subject_id not in self.incidents and d.subject_id not in self.needs_operator:
                self._open(d.subject_id, d, now)
        for host_id in [h for h in self._hosts if h not in down_or_cut]:
            del self._hosts[host_id]  # the host is back (or was only suspected): episode over
        for host_id in [k for k in self._last_hold if k.startswith("host:")]:
            if host_id[5:] not in down_or_cut:
                del self._last_hold[host_id]
        current = {d.subject_id: d for d in diagnoses if d.subject_kind == "vm"}
        for inc in sorted(self.incidents.values(), key=self._priority):
            out.extend(self._advance(inc, now, current))
        return out

    def report(self, outcome: RecoveryOutcome) -> list[HealingAction]:
        plan = self.plans.get(outcome.plan_id)
        if plan is not None and plan.status == PlanStatus.ISSUED:
            status = PlanStatus.SUCCEEDED if outcome.succeeded else PlanStatus.FAILED
            why = outcome.detail or ("succeeded" if outcome.succeeded else "failed")
            self._finish(plan, outcome.succeeded, outcome.at, why, status)
        return self.tick(outcome.at)  # a duplicate report is a no-op: effects are idempotent

    def report_result(self, result: ActionResult) -> list[HealingAction]:
        """The same as :meth:`report`, from the actuator's ActionResult event."""
        if result.status == ActionStatus.SKIPPED:
            return []  # not acted on (e.g. observe mode): the plan stays until its budget ends
        return self.report(RecoveryOutcome(result.decision_id,
                                           result.status == ActionStatus.SUCCEEDED,
                                           result.occurred_at, result.detail))

    def operator_clear(self, vm_id: str, at: datetime) -> None:
        """An operator took over a ``needs-operator`` VM: forget its caps and let it heal again."""
        inc = self.needs_operator.pop(vm_id, None)
        if inc is not None:
            self.closed.append(inc)
        self.limiter.clear(vm_id)
        self._last_hold.pop(f"vm:{vm_id}", None)
        if (vm := self.model.vms.get(vm_id)) is not None and vm.state != VmState.OPERATOR_STOPPED:
            self.model.set_running(vm_id, vm.host_id, at)

    # ------------------------------------------------------------ queries

    def in_flight(self) -> list[RecoveryPlan]:
        return [p for p in self.plans.values() if p.status == PlanStatus.ISSUED]

    def decisions(self, actions: Iterable[HealingAction]) -> list[Decision]:
        return [a.to_decision(self.s.mode) for a in actions]

    # ------------------------------------------------------------ internals

    def _priority(self, inc: Incident) -> tuple[int, datetime, str]:
        vm = self.model.vms.get(inc.vm_id)
        return (-(vm.priority if vm else 0), inc.opened_at, inc.vm_id)

    def _hold(self, key: str, hold: Hold) -> list[HealingAction]:
        """Emit a hold once per change of kind, not on every tick."""
        if self._last_hold.get(key) == hold.kind:
            return []
        self._last_hold[key] = hold.kind
        return [hold]

    def _honour_shutdown(self, obs: LifecycleEvent) -> list[HealingAction]:
        inc = self.incidents.pop(obs.vm_id, None)
        self.needs_operator.pop(obs.vm_id, None)
        if inc is None:
            return []
        inc.close(IncidentStatus.CANCELLED, obs.at, "operator shut the VM down")
        self.closed.append(inc)
        return self._hold(f"vm:{obs.vm_id}", Hold(
            HoldKind.OPERATOR_SHUTDOWN, "vm", obs.vm_id, obs.at,
            "operator shut the VM down: recovery cancelled, it will not be restarted",
            inc.diagnosis))

    def _crashed_on_probation(self, obs: LifecycleEvent) -> None:
        """A VM that crashes on the host it is being booted on, after the boot was issued,
        failed that boot: escalate now instead of waiting for the actuator's report or the
        rung's budget (the actuator drops a plan the healer has finished, as on a timeout)."""
        inc = self.incidents.get(obs.vm_id)
        plan = inc.in_flight if inc is not None else None
        if plan is None or plan.rung not in BOOTS or obs.at <= plan.issued_at:
            return
        if obs.host_id != (plan.target_host or plan.source_host):
            return
        self._finish(plan, False, obs.at, f"crashed again on {obs.host_id} "
                     f"{(obs.at - plan.issued_at).total_seconds():.1f}s into the boot",
                     PlanStatus.FAILED)

    def _host(self, d: Diagnosis, now: datetime) -> list[HealingAction]:
        key = f"host:{d.subject_id}"
        if d.failure == FailureClass.HOST_PARTITIONED:
            return self._hold(key, Hold(HoldKind.PARTITION, "host", d.subject_id, now,
                                        f"{d.summary}: management link lost, VMs keep running, "
                                        "no evacuation", d))
        if d.failure == FailureClass.HOST_DOWN and not d.actionable:
            return self._hold(key, Hold(HoldKind.NO_QUORUM, "host", d.subject_id, now,
                                        f"{d.summary}: waiting for quorum before acting", d))
        if d.failure == FailureClass.HOST_DOWN:
            return self._host_down(d, now)
        # Host-level storage errors move every VM; exhaustion moves the cheapest one to move.
        vms = [v for v in self.model.vms_on(d.subject_id) if v.state != VmState.OPERATOR_STOPPED]
        if d.failure == FailureClass.RESOURCE_EXHAUSTION:
            busy = [v for v in vms if v.vm_id in self.incidents]
            vms = [] if busy else sorted(vms, key=lambda v: (v.priority, -v.size, v.vm_id))[:1]
        for vm in vms:
            if vm.vm_id not in self.incidents and vm.vm_id not in self.needs_operator:
                self._open(vm.vm_id, d, now, host_level=True)
        return []

    def _host_down(self, d: Diagnosis, now: datetime) -> list[HealingAction]:
        host_id, key = d.subject_id, f"host:{d.subject_id}"
        ep = self._hosts.setdefault(host_id, _HostEpisode(d))
        if ep.terminal:
            return []
        if ep.fence is None:
            if ep.retry_at is not None and now < ep.retry_at:
                return []
            healthy = sum(1 for h in self.model.hosts
                          if self.model.controller_sees(h, now, self.s.diagnosis.host_timeout_s))
            verdict = self.breaker.check_evacuation(host_id, healthy, len(self.model.hosts), now)
            if not verdict.allowed:
                ep.retry_at = verdict.retry_at
                return self._hold(key, Hold(HoldKind.BREAKER, "host", host_id, now,
                                            f"{d.summary}; evacuation held: {verdict.reason}",
                                            d, verdict.retry_at))
            result = self.fencer.fence(FenceRequest("host", host_id, host_id, d.summary, now))
            self.fence_log.append(result)
            if not result.fenced:
                ep.fence_failures += 1
                if ep.fence_failures >= self.s.max_fence_attempts:
                    ep.terminal = True
                    self._last_hold.pop(key, None)
                    return self._hold(key, Hold(
                        HoldKind.NEEDS_OPERATOR, "host", host_id, now,
                        f"{d.summary}; fencing failed {ep.fence_failures} times "
                        f"({result.detail}): its VMs may still run, so none is restarted", d))
                ep.retry_at = now + timedelta(seconds=self.s.fence_retry_s)
                return self._hold(key, Hold(
                    HoldKind.FENCE_FAILED, "host", host_id, now,
                    f"{d.summary}; fence attempt {ep.fence_failures} failed ({result.detail}): "
                    "failover blocked until the host is proven dead", d, ep.retry_at))
            ep.fence = result
            self.breaker.record_evacuation(host_id, now)
        for vm in self.model.vms_on(host_id):
            if vm.vm_id in self.incidents or vm.vm_id in self.needs_operator:
                continue
            if vm.state == VmState.OPERATOR_STOPPED:
                continue  # honoured: it was off on purpose, it stays off
            vm_d = Diagnosis(FailureClass.HOST_DOWN, "vm", vm.vm_id, host_id, now,
                             f"its host {host_id} is down ({d.summary})",
                             {**d.evidence, "host_fenced_by": ep.fence.method})
            self._open(vm.vm_id, vm_d, now)
        return []

    def _context(self, vm: VmHealth, inc: Incident, now: datetime) -> RungContext:
        source_alive = (inc.diagnosis.failure != FailureClass.HOST_DOWN and self.model.
                        controller_sees(vm.host_id, now, self.s.diagnosis.host_timeout_s))
        standby = self.model.vms.get(vm.standby_id) if vm.standby_id else None
        has_standby = standby is not None and standby.state == VmState.RUNNING \
            and self._usable(standby.host_id, now, vm.host_id)
        zone = self.model.hosts[vm.host_id].zone if vm.host_id in self.model.hosts else None
        other_zone = any(h.zone != zone and self._usable(h.host_id, now, vm.host_id)
                         for h in self.model.hosts.values())
        return RungContext(vm.has_guest_agent, source_alive, has_standby, other_zone,
                           vm.scalable)

    def _usable(self, host_id: str, now: datetime, source: str) -> bool:
        if host_id == source or host_id in self._hosts:
            return False
        if not self.model.controller_sees(host_id, now, self.s.diagnosis.host_timeout_s):
            return False
        return host_id not in self._bad_hosts

    def _free(self, host_id: str) -> int:
        host = self.model.hosts[host_id]
        used = sum(v.size for v in self.model.vms_on(host_id)
                   if v.state != VmState.OPERATOR_STOPPED)
        held = sum(n for h, n in self._reserved.values() if h == host_id)
        return host.capacity - used - held

    def _target(
        self, vm: VmHealth, rung: Rung, now: datetime, avoid: set[str] | None = None,
        need: int | None = None,
    ) -> str | None:
        """Where ``rung`` would run; ``need`` overrides the free slots required (0: any)."""
        if rung in (Rung.RESTART_SERVICE, Rung.RESTART_VM):
            return vm.host_id
        if rung == Rung.FAILOVER:
            standby = self.model.vms.get(vm.standby_id) if vm.standby_id else None
            return standby.host_id if standby is not None else None
        if rung == Rung.SCALE and vm.host_id in self.model.hosts and self._free(vm.host_id) >= 1:
            return vm.host_id  # scale up in place while the host has headroom
        zone = self.model.hosts[vm.host_id].zone if vm.host_id in self.model.hosts else None
        want_other_zone = rung == Rung.DISASTER_RECOVERY
        candidates = [
            h for h in self.model.hosts.values()
            if self._usable(h.host_id, now, vm.host_id)
            and h.host_id not in (avoid or ())
            and (h.zone != zone) == want_other_zone
            and self._free(h.host_id) >= (vm.size if need is None else need)
            # spread moves: a host at its move limit is skipped rather than waited for
            and (need == 0 or rung not in MOVES
                 or self.breaker.in_flight(h.host_id) < self.s.breakers.max_migrations_per_host)
        ]
        if not candidates:
            return None
        # Hosts where boots keep failing go last; then the most free slots.
        return max(candidates, key=lambda h: (not self.host_boots.bad(h.host_id, now),
                                              self._free(h.host_id), h.host_id)).host_id

    def _open(self, vm_id: str, d: Diagnosis, now: datetime, host_level: bool = False) -> None:
        vm = self.model.vms[vm_id]
        ladder = tuple(self.s.ladders.get(d.failure, ()))
        if host_level and d.failure == FailureClass.RESOURCE_EXHAUSTION:
            ladder = tuple(r for r in ladder if r in MOVES)  # relieve the host: move a VM off
        inc = Incident(vm_id, d, ladder, now)
        ctx = self._context(vm, inc, now)
        usable = []
        for rung in ladder:
            why = not_applicable(rung, ctx)
            if why is None:
                usable.append(rung)
            else:
                inc.skipped.append(Alternative(option=rung.value, why_not=why))
        if self.s.learn:
            ranked = self.learner.rank(d.failure, usable)
            inc.order, inc.why_order = ranked.order, ranked.explain(d.failure)
        else:
            inc.order = tuple(usable)
            inc.why_order = f"configured order for {d.failure.value}"
        self.incidents[vm_id] = inc

    def _terminal(self, inc: Incident, now: datetime, why: str) -> list[HealingAction]:
        inc.close(IncidentStatus.NEEDS_OPERATOR, now, why)
        self.incidents.pop(inc.vm_id, None)
        self.needs_operator[inc.vm_id] = inc
        key = f"vm:{inc.vm_id}"
        self._last_hold.pop(key, None)
        return self._hold(key, Hold(HoldKind.NEEDS_OPERATOR, "vm", inc.vm_id, now,
                                    f"{inc.diagnosis.failure.value} ({inc.diagnosis.summary}); "
                                    f"{why}", inc.diagnosis))

    def _advance(
        self, inc: Incident, now: datetime, current: Mapping[str, Diagnosis]
    ) -> list[HealingAction]:
        if inc.in_flight is not None:
            return []
        key = f"vm:{inc.vm_id}"
        vm = self.model.vms.get(inc.vm_id)
        if vm is None or not self._still_broken(inc, current):
            # The problem cleared without (more) action, e.g. a late heartbeat or a restart that
            # came up just after its budget: escalating now would only disrupt.
            inc.close(IncidentStatus.RECOVERED, now, "cleared without further action")
            self.incidents.pop(inc.vm_id, None)
            self.closed.append(inc)
            self._last_hold.pop(key, None)
            return []
        if inc.status == IncidentStatus.NEEDS_OPERATOR:
            return self._terminal(inc, now, inc.waiting or "ladder exhausted")
        if inc.retry_at is not None and now < inc.retry_at:
            return []
        while (rung := inc.rung) is not None:
            why = not_applicable(rung, self._context(vm, inc, now))
            if why is not None:
                inc.escalate(f"not applicable now: {why}")
                continue
            if rung == Rung.RESTART_VM and self.host_boots.bad(vm.host_id, now):
                inc.escalate(f"boots failed {self.host_boots.recent(vm.host_id, now)} times on "
                             f"{vm.host_id} within {self.s.host_boot_window_s:.0f}s: the host "
                             "is the likelier culprit, so the VM moves")
                continue
            if rung in BOOTS:
                verdict = self.limiter.check(vm.vm_id, now)
                if verdict.terminal:
                    return self._terminal(inc, now, f"restart cap reached: {verdict.reason}")
                # Back-off spaces incidents (crash loops); an escalation inside one incident
                # is already paced by the failed rung, so only the cap applies to it.
                if not verdict.allowed and not inc.plans:
                    inc.retry_at = verdict.retry_at
                    return self._hold(key, Hold(HoldKind.BACKOFF, "vm", vm.vm_id, now,
                                                verdict.reason, inc.diagnosis, verdict.retry_at))
            target = self._target(vm, rung, now, inc.avoid)
            if target is None:
                if self._target(vm, rung, now, inc.avoid, need=0) is None:
                    # No usable host at all (not just a full one): waiting cannot help.
                    inc.escalate("no other healthy host for it")
                    continue
                if inc.waiting_since is None:
                    inc.waiting_since = now
                elif (now - inc.waiting_since).total_seconds() > self.s.budgets[rung]:
                    inc.waiting_since = None
                    inc.escalate("no capacity for it within its budget")
                    continue
                inc.waiting = "no host with capacity"
                return self._hold(key, Hold(HoldKind.CAPACITY, "vm", vm.vm_id, now,
                                            f"{rung.value}: no healthy host with {vm.size} free "
                                            f"slot(s); higher priorities go first", inc.diagnosis))
            source_alive = inc.diagnosis.failure != FailureClass.HOST_DOWN
            if rung in MOVES:
                verdict = self.breaker.check_move(vm.host_id if source_alive else None, target)
                if not verdict.allowed:
                    return self._hold(key, Hold(HoldKind.BREAKER, "vm", vm.vm_id, now,
                                                f"{rung.value} held: {verdict.reason}",
                                                inc.diagnosis))
            fence: FenceResult | None = None
            if rung in STARTS_ELSEWHERE:
                fence = self._fence_for(inc, vm, now)
                if not fence.fenced:
                    inc.fence_failures += 1
                    if inc.fence_failures >= self.s.max_fence_attempts:
                        return self._terminal(inc, now, f"fencing failed {inc.fence_failures} "
                                                         f"times ({fence.detail}); the old copy "
                                                         "may still run")
                    inc.retry_at = now + timedelta(seconds=self.s.fence_retry_s)
                    return self._hold(key, Hold(
                        HoldKind.FENCE_FAILED, "vm", vm.vm_id, now,
                        f"{rung.value} blocked: no proof the old copy is dead ({fence.detail})",
                        inc.diagnosis, inc.retry_at))
            return [self._issue(inc, vm, rung, target, fence, now, key)]
        return self._terminal(inc, now, inc.waiting or "ladder exhausted")

    def _still_broken(self, inc: Incident, current: Mapping[str, Diagnosis]) -> bool:
        if inc.diagnosis.failure == FailureClass.HOST_DOWN:
            return True  # its host was fenced: the VM is off until we start it
        if inc.diagnosis.subject_kind == "host":
            return inc.diagnosis.subject_id in self._bad_hosts
        return inc.vm_id in current

    def _fence_for(self, inc: Incident, vm: VmHealth, now: datetime) -> FenceResult:
        ep = self._hosts.get(vm.host_id)
        if ep is not None and ep.fence is not None and ep.fence.fenced:
            return ep.fence  # the whole host is proven off; one proof covers its VMs
        result = self.fencer.fence(FenceRequest("vm", vm.vm_id, vm.host_id,
                                                inc.diagnosis.summary, now))
        self.fence_log.append(result)
        return result

    def _issue(self, inc: Incident, vm: VmHealth, rung: Rung, target: str,
               fence: FenceResult | None, now: datetime, key: str) -> RecoveryPlan:
        attempt = len(inc.plans) + 1
        if attempt == 1:
            why = inc.why_order
        else:
            last = inc.skipped[-1] if inc.skipped else None
            verb = "retrying on another host" if last and last.option.startswith(rung.value) \
                else "escalated"
            why = (f"{verb} after {last.option} {last.why_not}" if last else verb)
            why += f"; remaining order from: {inc.why_order}"
        budget = self.s.budgets[rung]
        parts = [f"{inc.diagnosis.failure.value} on {vm.vm_id}: {inc.diagnosis.summary}",
                 f"rung {rung.value} (budget {budget:.0f}s): {why}"]
        if fence is not None:
            parts.append(f"old copy fenced first ({fence.request.scope} {fence.request.target_id}"
                         f" by {fence.method}: {fence.detail})")
        later = [Alternative(option=r.value, why_not="later rung: tried only if this one fails "
                                                     "or overruns its budget")
                 for r in inc.order[inc.position + 1:]]
        params: dict[str, object] = {}
        if rung == Rung.SCALE:
            params["direction"] = "up" if target == vm.host_id else "out"
        if rung == Rung.RESTART_SERVICE:
            params["services"] = sorted(vm.services_down)
        plan = RecoveryPlan(
            incident_id=inc.incident_id, diagnosis=inc.diagnosis, rung=rung, vm_id=vm.vm_id,
            source_host=vm.host_id, target_host=target, issued_at=now, budget_s=budget,
            attempt=attempt, explanation="; ".join(parts),
            alternatives=tuple(inc.skipped) + tuple(later), fence=fence, params=dict(params),
        )
        inc.plans.append(plan)
        inc.waiting, inc.retry_at, inc.waiting_since = None, None, None
        self.plans[plan.plan_id] = plan
        if rung in BOOTS:
            self.limiter.record(vm.vm_id, now)
        if rung in MOVES:
            source_alive = inc.diagnosis.failure != FailureClass.HOST_DOWN
            self.breaker.start_move(plan.plan_id, vm.host_id if source_alive else None, target)
        if target != vm.host_id:
            self._reserved[plan.plan_id] = (target, vm.size)
        self._last_hold.pop(key, None)
        return plan

    def _finish(self, plan: RecoveryPlan, success: bool, at: datetime, why: str,
                status: PlanStatus) -> None:
        plan.status = status
        self.breaker.finish_move(plan.plan_id)
        self._reserved.pop(plan.plan_id, None)
        duration = max(0.0, (at - plan.issued_at).total_seconds())
        self.learner.record(plan.diagnosis.failure, plan.rung, success, duration)
        if plan.rung in BOOTS and status == PlanStatus.FAILED:
            # A reported failure, not a timeout: a slow actuator says nothing about the host.
            self.host_boots.record(plan.target_host or plan.source_host, at)
        inc = self.incidents.get(plan.vm_id)
        if inc is None or inc.incident_id != plan.incident_id:
            return  # the incident was cancelled (operator shutdown) while this ran
        if success:
            # A scale-out adds a replica on the target; the VM itself stays where it runs
            # (recording it there made a later loss of the target move it: a second copy).
            moved = plan.rung != Rung.SCALE or plan.params.get("direction") != "out"
            self.model.set_running(plan.vm_id, (plan.target_host if moved else None)
                                   or plan.source_host, at)
            inc.close(IncidentStatus.RECOVERED, at, f"{plan.rung.value} {why}")
            self.incidents.pop(plan.vm_id, None)
            self.closed.append(inc)
            self._last_hold.pop(f"vm:{plan.vm_id}", None)
        elif (plan.rung in (Rung.LIVE_MIGRATE, Rung.COLD_MIGRATE) and plan.target_host
              and status == PlanStatus.FAILED and inc.reschedules < self.s.reschedule_attempts):
            # Only a reported failure points at the target; a timeout escalates as for any rung.
            inc.reschedules += 1
            inc.avoid.add(plan.target_host)
            inc.skipped.append(Alternative(option=f"{plan.rung.value} to {plan.target_host}",
                                           why_not=why))
        else:
            inc.escalate(f"{why}")
