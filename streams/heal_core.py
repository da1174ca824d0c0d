"""The heal agent's pure part: wire events in, Healer decisions and healing records out.

No Faust, no Kafka, no database here (streams.heal does that), so it is tested without a
broker and shared with the chaos bench. The Healer is not thread-safe; every entry point
takes the lock, so callers may run them in worker threads (fencing blocks on libvirt).

A VM is watched from its first metric sample on: its metric silence is its liveness signal,
so a VM that never reported would look hung from the start. Liveness is the sample's
*arrival* (the healer's clock), not its event time: a replay or a backfill carries trace
times far from the clock that heartbeats and lifecycle events are stamped with.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from novacron.healing import (
    CONTROLLER,
    Healer,
    HealingAction,
    Hold,
    HoldKind,
    HostHeartbeat,
    HostRegistered,
    Lifecycle,
    LifecycleEvent,
    MetricSeen,
    Observation,
    VmRegistered,
    VmTraitsChanged,
)
from novacron.healing.labels import InventoryVm

from novacron.events import ActionResult, Decision, HealthEvent, MetricSample, utcnow

# (host id, labels, capacity, VMs) as actuators.placement_state.inventory; a VM given as a bare
# (vm id, running, size) gets the default healing traits (priority 0, no standby, no agent).
Inventory = Sequence[tuple[str, dict[str, str], int, Sequence[InventoryVm | tuple[str, bool, int]]]]


@dataclass(frozen=True, slots=True)
class HealingRecord:
    """One row for healing_events."""

    key: str
    subject_id: str
    diagnosis: str
    rung: str
    succeeded: bool | None
    duration_s: float | None
    occurred_at: datetime
    evidence: dict[str, Any]


@dataclass(slots=True)
class Step:
    decisions: list[Decision] = field(default_factory=list)
    records: list[HealingRecord] = field(default_factory=list)

    def extend(self, other: Step) -> None:
        self.decisions.extend(other.decisions)
        self.records.extend(other.records)


def classify(raw: bytes | str | None) -> MetricSample | HealthEvent | ActionResult | None:
    """One message of the heal agent's topics, recognised by its fields; None if unreadable."""
    data = _parse(raw)
    return _validate(data) if data is not None else None


def _parse(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _is_metric(data: dict[str, Any]) -> bool:
    return "metric" in data and "vm_id" in data


def _validate(data: dict[str, Any]) -> MetricSample | HealthEvent | ActionResult | None:
    model: type[MetricSample] | type[HealthEvent] | type[ActionResult]
    if _is_metric(data):
        model = MetricSample
    elif "subject_kind" in data:
        model = HealthEvent
    elif "decision_id" in data and "status" in data:
        model = ActionResult
    else:
        return None
    try:
        return model.model_validate(data)
    except ValueError:
        return None


class HealLoop:
    def __init__(self, healer: Healer, now: Callable[[], datetime] = utcnow) -> None:
        self.healer = healer
        self.now = now
        self._lock = threading.Lock()
        self._hosts: dict[str, tuple[dict[str, str], int]] = {}
        self._vms: dict[str, tuple[str, InventoryVm]] = {}  # host, VM: known from the inventory
        self._watched: set[str] = set()

    # ------------------------------------------------------------ inputs

    def register(self, inventory: Inventory, at: datetime) -> Step:
        """Hosts and VMs as the inventory shows them now. Called at start and again
        periodically: new VMs (clones, VMs the API created) get their labels' traits, and a
        watched VM whose healing labels changed has its traits updated in place."""
        obs: list[Observation] = []
        with self._lock:
            for host_id, labels, capacity, vms in inventory:
                if host_id not in self._hosts:
                    obs.append(HostRegistered(host_id, at, labels.get("zone", "zone-a"), capacity))
                self._hosts[host_id] = (labels, capacity)
                for vm in vms:
                    known = vm if isinstance(vm, InventoryVm) else InventoryVm(*vm)
                    before = self._vms.get(known.vm_id)
                    self._vms[known.vm_id] = (host_id, known)
                    t = known.traits
                    if known.vm_id in self._watched and before is not None and before[1].traits != t:
                        obs.append(VmTraitsChanged(known.vm_id, at, t.priority, t.standby_id,
                                                   t.has_guest_agent))
            return self._step(self.healer.observe_all(obs) if obs else [])

    def ingest(self, raws: Iterable[bytes | str | None]) -> Step:
        obs: list[Observation] = []
        results: list[ActionResult] = []
        arrived = self.now()
        live: set[str] = set()  # VMs whose liveness this batch already carries
        for raw in raws:
            data = _parse(raw)
            if data is None:
                continue
            # Most of the traffic is metrics; skip validating those that cannot change the
            # healer: a backfill (never liveness) or a VM already seen alive in this batch
            # (same arrival time, so the same MetricSeen).
            if _is_metric(data) and (data.get("backfill") is True
                                     or (isinstance(data["vm_id"], str) and data["vm_id"] in live)):
                continue
            ev = _validate(data)
            if isinstance(ev, MetricSample):
                if not ev.backfill:
                    obs.extend(self._watch(ev.vm_id, ev.host_id, arrived))
                    # Liveness only: load (high CPU, memory) is the autoscaler's business; fed
                    # here too, the healer would migrate a VM the autoscaler is scaling up.
                    obs.append(MetricSeen(ev.vm_id, arrived))
                    if ev.vm_id in self._watched:  # else a later sample may name its host
                        live.add(ev.vm_id)
            elif isinstance(ev, HealthEvent):
                life = _lifecycle(ev)
                if life is not None and life.vm_id in self._watched:
                    obs.append(life)
            elif isinstance(ev, ActionResult):
                results.append(ev)
        with self._lock:
            actions = self.healer.observe_all(obs) if obs else []
            records = []
            for r in results:
                plan = self.healer.plans.get(r.decision_id)
                if plan is None:
                    continue  # not the healer's decision
                actions.extend(self.healer.report_result(r))
                records.append(HealingRecord(
                    key=str(r.decision_id), subject_id=plan.vm_id,
                    diagnosis=plan.diagnosis.failure.value, rung=plan.rung.value,
                    succeeded=None if r.status.value == "skipped" else r.status.value == "succeeded",
                    duration_s=max(0.0, (r.occurred_at - plan.issued_at).total_seconds()),
                    occurred_at=r.occurred_at,
                    evidence={"decision_id": str(r.decision_id), "incident_id": str(plan.incident_id),
                              "source_host": plan.source_host, "target_host": plan.target_host,
                              "attempt": plan.attempt, "detail": r.detail,
                              "explanation": plan.explanation,
                              "fence": plan.fence.detail if plan.fence else None}))
            step = self._step(actions)
            step.records[:0] = records
            return step

    def seen(self, vms: Iterable[tuple[str, str | None]], arrived: datetime) -> Step:
        """Live metric samples of these (vm id, host id) arrived at ``arrived`` (what
        :meth:`ingest` does with a live sample, for samples decoded elsewhere)."""
        obs: list[Observation] = []
        with self._lock:
            for vm_id, host_id in vms:
                obs.extend(self._watch(vm_id, host_id, arrived))
                obs.append(MetricSeen(vm_id, arrived))
            return self._step(self.healer.observe_all(obs) if obs else [])

    def heartbeat(self, alive_hosts: Iterable[str], now: datetime) -> Step:
        """The controller reached these hosts at ``now``; also the periodic re-judgement."""
        obs: list[Observation] = [HostHeartbeat(h, CONTROLLER, now) for h in alive_hosts]
        with self._lock:
            return self._step(self.healer.observe_all(obs) if obs else self.healer.tick(now))

    def tick(self, now: datetime) -> Step:
        with self._lock:
            return self._step(self.healer.tick(now))

    # ------------------------------------------------------------ internals

    def _watch(self, vm_id: str, host_id: str | None, at: datetime) -> list[Observation]:
        if vm_id in self._watched:
            return []
        known = self._vms.get(vm_id)
        host = host_id or (known[0] if known else None)
        if host is None or host not in self._hosts:
            return []
        self._watched.add(vm_id)
        vm = known[1] if known else InventoryVm(vm_id, True, 1)
        t = vm.traits
        return [VmRegistered(vm_id, host, at - timedelta(microseconds=1), size=vm.size,
                             priority=t.priority, standby_id=t.standby_id,
                             has_guest_agent=t.has_guest_agent)]

    def _step(self, actions: list[HealingAction]) -> Step:
        step = Step()
        for d in self.healer.decisions(actions):
            if d.params.get("rung") == "failover":
                # The plan names the failed VM; the actuator needs the standby it promotes.
                vm = self.healer.model.vms.get(d.target_id)
                standby = vm.standby_id if vm is not None else None
                d = d.model_copy(update={"params": {**d.params, "standby_id": standby}})
            step.decisions.append(d)
        for a in actions:
            if isinstance(a, Hold) and a.kind == HoldKind.NEEDS_OPERATOR:
                step.records.append(HealingRecord(
                    key=f"needs-operator:{a.subject_id}:{a.at.isoformat()}",
                    subject_id=a.subject_id,
                    diagnosis=a.diagnosis.failure.value if a.diagnosis else "unknown",
                    rung="needs_operator", succeeded=False, duration_s=None, occurred_at=a.at,
                    evidence={"reason": a.reason}))
        return step


def _lifecycle(ev: HealthEvent) -> LifecycleEvent | None:
    kind = ev.evidence.get("lifecycle")
    host = ev.evidence.get("host_id")
    if ev.subject_kind != "vm" or not isinstance(kind, str) or not isinstance(host, str):
        return None
    try:
        return LifecycleEvent(ev.subject_id, host, Lifecycle(kind), ev.occurred_at,
                              str(ev.evidence.get("detail", "")))
    except ValueError:
        return None
