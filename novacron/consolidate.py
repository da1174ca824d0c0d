"""Consolidation: the fleet as libvirt shows it -> the optimizer's rebalance plan -> ordered,
explained live MIGRATE decisions, executed one at a time through the executor (or published
for the actuator agent).

Only running guests move (live migration needs a running guest); a stopped domain keeps its
capacity reserved where it is defined, since starting it would take that capacity back. The
replicas of a scaling group are kept on distinct hosts: they exist to survive a host's loss.
Moves run in the plan's order and stop at the first that fails: each later move was planned
to fit only after the earlier ones freed room.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from novacron import topics
from novacron.actuators.clone import group_inventory
from novacron.actuators.connection import Fleet
from novacron.actuators.executor import execute
from novacron.actuators.ledger import Ledger
from novacron.autoscaler.live_group import FleetView
from novacron.events import ActionKind, ActionResult, ActionStatus, AutonomyMode, Decision, utcnow
from novacron.placement.optimizer_plan import MigrationPlan, rebalance
from novacron.placement.state import FleetState
from novacron.placement.types import Host, HostClass, VMSpec

DECIDED_BY = "consolidator"


@dataclass(frozen=True)
class ConsolidationSettings:
    """Overcommit and prices per host (else ``overcommit_*`` and 1.0), the optimizer's budget
    and each move's time budget."""

    overcommit_cpu: float = 1.0
    overcommit_memory: float = 1.0
    host_overcommit: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    prices: Mapping[str, float] = field(default_factory=dict)
    time_limit_s: float = 2.0
    max_moves: int | None = None
    move_cost: float = 0.01
    seed: int = 0
    move_budget_s: float = 120.0
    keep_groups_apart: bool = True
    mode: AutonomyMode = AutonomyMode.AUTO


@dataclass(frozen=True)
class ConsolidationPlan:
    plan: MigrationPlan
    decisions: tuple[Decision, ...]
    skipped_vms: tuple[str, ...]  # stopped domains: they hold capacity but do not move

    @property
    def explanation(self) -> str:
        if not self.plan.moves:
            return f"nothing to consolidate: {self.plan.explanation}"
        freed = ", ".join(self.plan.freed_hosts) or "none"
        return f"{self.plan.explanation}; hosts freed: {freed}"


@dataclass
class ConsolidationReport:
    plan: ConsolidationPlan
    results: list[ActionResult] = field(default_factory=list)
    stopped: str | None = None  # why execution stopped before the end of the plan
    freed: tuple[str, ...] = ()  # the plan's freed hosts that run no guest afterwards
    not_freed: tuple[str, ...] = ()
    published: int = 0

    @property
    def succeeded(self) -> bool:
        return self.stopped is None and not self.not_freed


def fleet_state(view: FleetView, settings: ConsolidationSettings) -> tuple[FleetState, list[str]]:
    """The placement engine's state with the running guests placed; stopped domains' sizes
    held back on their hosts. Returns (state, the stopped domains' ids)."""
    classes: dict[str, HostClass] = {}
    hosts: list[Host] = []
    stopped = [v for v in view.vms if not v.running]
    for h in view.hosts:
        cpu, mem = settings.host_overcommit.get(
            h.host_id, (settings.overcommit_cpu, settings.overcommit_memory))
        held = [v for v in stopped if v.host_id == h.host_id]
        classes[h.host_id] = HostClass(
            name=h.host_id, overcommit={"cpu": cpu, "memory": mem},
            reserved_vcpus=float(sum(v.vcpus for v in held)),
            reserved_memory_mib=float(sum(v.memory_mib for v in held)),
            price_per_hour=settings.prices.get(h.host_id, 1.0))
        hosts.append(Host(host_id=h.host_id, vcpus=h.vcpus, memory_mib=h.memory_mib,
                          host_class=h.host_id, rack=h.labels.get("rack", "rack-0"),
                          zone=h.labels.get("zone", "zone-0"), labels=dict(h.labels),
                          cordoned=h.cordoned, maintenance=h.maintenance))
    state = FleetState(hosts, classes)
    running = [v for v in view.vms if v.running and v.host_id in state.index]
    state.place_many([VMSpec(v.vm_id, v.vcpus, v.memory_mib, labels=dict(v.labels))
                      for v in running], [state.index[v.host_id] for v in running])
    return state, sorted(v.vm_id for v in stopped)


def decisions_for(plan: MigrationPlan, *, at: datetime, budget_s: float = 120.0,
                  mode: AutonomyMode = AutonomyMode.AUTO) -> list[Decision]:
    """One live MIGRATE decision per move, in the plan's order, each explained by the plan.
    None for a plan that is not executable in any order found."""
    if not plan.executable:
        return []
    plan_id = str(uuid.uuid4())
    n = len(plan.moves)
    freed = list(plan.freed_hosts)
    out = []
    for i, mv in enumerate(plan.moves, 1):
        what = (f"consolidation move {i}/{n}: {mv.vm_id} {mv.source} -> {mv.target}"
                + (" (a parking hop: it breaks a cycle of moves waiting for each other's room)"
                   if mv.parking else ""))
        out.append(Decision(
            occurred_at=at, action=ActionKind.MIGRATE, target_kind="vm", target_id=mv.vm_id,
            host_id=mv.target,
            params={"rung": "live_migrate", "source_host": mv.source, "target_host": mv.target,
                    "budget_s": budget_s, "plan_id": plan_id, "step": i, "steps": n,
                    "parking": mv.parking, "freed_hosts": freed},
            trigger={"consolidation": {
                "hosts_used_before": plan.hosts_used_before,
                "hosts_used_after": plan.hosts_used_after,
                "cost_per_hour_before": round(plan.cost_per_hour_before, 4),
                "cost_per_hour_after": round(plan.cost_per_hour_after, 4)}},
            explanation=f"{what}; plan: {plan.explanation}; frees {', '.join(freed) or 'no host'}",
            mode=mode, decided_by=DECIDED_BY))
    return out


def _groups(view: FleetView) -> dict[str, str]:
    return {v.vm_id: g for v in view.vms if v.running and (g := v.group) is not None}


def plan_consolidation(view: FleetView, settings: ConsolidationSettings | None = None,
                       at: datetime | None = None) -> ConsolidationPlan:
    """Pure: the fleet's view in, the plan and its decisions out."""
    s = settings or ConsolidationSettings()
    state, stopped = fleet_state(view, s)
    plan = rebalance(state, time_limit=s.time_limit_s, max_moves=s.max_moves,
                     move_cost=s.move_cost, seed=s.seed,
                     anti_affinity_groups=_groups(view) if s.keep_groups_apart else None)
    decisions = decisions_for(plan, at=at or utcnow(), budget_s=s.move_budget_s, mode=s.mode)
    return ConsolidationPlan(plan, tuple(decisions), tuple(stopped))


def _running_on(view: FleetView, hosts: Sequence[str]) -> dict[str, list[str]]:
    return {h: sorted(v.vm_id for v in view.vms if v.host_id == h and v.running) for h in hosts}


def consolidate(fleet: Fleet, ledger: Ledger, settings: ConsolidationSettings | None = None, *,
                dry_run: bool = False, publish: Callable[[Decision], None] | None = None,
                on_plan: Callable[[ConsolidationPlan], None] | None = None,
                on_result: Callable[[ActionResult], None] | None = None) -> ConsolidationReport:
    """Plan from what libvirt shows now, then execute the moves one by one through the
    executor (``publish``: hand them over in order instead; ``dry_run``: plan only). The
    freed hosts are checked afterwards: a host counts as freed when it runs no guest."""
    planned = plan_consolidation(group_inventory(fleet), settings)
    report = ConsolidationReport(planned)
    if on_plan is not None:
        on_plan(planned)
    if dry_run or not planned.decisions:
        return report
    if publish is not None:
        for d in planned.decisions:
            publish(d)
        report.published = len(planned.decisions)
        return report
    for d in planned.decisions:
        result = execute(d, fleet, ledger)
        if result is None:  # the same decision was executed before: never expected here
            report.stopped = f"{d.target_id}: decision {d.decision_id} already executed"
            break
        report.results.append(result)
        if on_result is not None:
            on_result(result)
        if result.status != ActionStatus.SUCCEEDED:
            report.stopped = (f"move {d.params['step']}/{d.params['steps']} of {d.target_id} "
                              f"{result.status.value}: {result.detail}; the later moves were "
                              "planned on its room, so they are not made")
            break
    left = _running_on(group_inventory(fleet), planned.plan.freed_hosts)
    report.freed = tuple(h for h, vms in left.items() if not vms)
    report.not_freed = tuple(h for h, vms in left.items() if vms)
    return report


class _Producer(Protocol):
    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> Any: ...


async def publish_plan(producer: _Producer, planned: ConsolidationPlan) -> int:
    """Send the plan's decisions to novacron.decisions in order (the actuator agent executes
    them; keyed by VM, so one VM's moves keep their order). Returns how many were sent."""
    for d in planned.decisions:
        await producer.send_and_wait(topics.DECISIONS.name, value=d.to_bytes(),
                                     key=d.key.encode())
    return len(planned.decisions)
