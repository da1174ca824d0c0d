"""Diagnosis: turn the health model into failure classes, each with the evidence behind it.

Hosts are judged first: a VM on a host the controller cannot see is never diagnosed on its
own, because its silence is the host's. A host the controller cannot see is "down" only when
a quorum of live peers also cannot see it; one live peer that still sees it means the host is
only cut off from the controller (a partition), and nothing is evacuated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from novacron.healing.health import HealthModel, HostHealth, SubjectKind, VmHealth, VmState

from novacron.events import HealthEvent, HealthState


class FailureClass(StrEnum):
    VM_CRASHED = "vm_crashed"
    VM_HUNG = "vm_hung"
    GUEST_SERVICE_DOWN = "guest_service_down"
    HOST_DOWN = "host_down"
    HOST_PARTITIONED = "host_partitioned"  # cut off from the controller only
    RESOURCE_EXHAUSTION = "resource_exhaustion"
    STORAGE_ERROR = "storage_error"


@dataclass(frozen=True, slots=True)
class DiagnosisSettings:
    host_timeout_s: float = 15.0  # vSphere HA declares a host failed after 15 s of silence
    peer_window_s: float = 15.0  # a peer's sighting older than this is a "cannot see" vote
    quorum_min_peers: int = 2  # never decide a host's fate on a single peer's word
    agent_timeout_s: float = 10.0  # guest-agent heartbeat silence => hung
    metric_stale_s: float = 30.0  # no agent: metric silence => hung (slower signal, wider bound)
    # Paused without an operator for this long => hung (libvirt's own pauses, e.g. the last
    # phase of a live migration, last a second or two).
    paused_hung_s: float = 15.0
    # A VM's silence means "hung" only while its host still reports; otherwise the silence
    # may be the host's, and the host diagnosis (with quorum) decides.
    host_fresh_s: float = 5.0
    storage_window_s: float = 60.0
    storage_min_faults: int = 1
    exhaustion_utilisation: float = 0.95
    anomaly_threshold: float = 0.9
    signal_window_s: float = 60.0  # usage and anomaly readings older than this are ignored


@dataclass(frozen=True, slots=True)
class Quorum:
    voters: tuple[str, ...]  # live peers (the controller sees them)
    see_alive: tuple[str, ...]
    needed: int

    @property
    def see_dead(self) -> tuple[str, ...]:
        return tuple(p for p in self.voters if p not in self.see_alive)

    @property
    def reached(self) -> bool:
        return not self.see_alive and len(self.see_dead) >= self.needed


@dataclass(frozen=True, slots=True)
class Diagnosis:
    failure: FailureClass
    subject_kind: SubjectKind
    subject_id: str
    host_id: str
    at: datetime
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    actionable: bool = True  # False: the class is suspected but acting is not yet safe

    def to_health_event(self) -> HealthEvent:
        degraded = {FailureClass.GUEST_SERVICE_DOWN, FailureClass.RESOURCE_EXHAUSTION,
                    FailureClass.HOST_PARTITIONED}
        state = HealthState.DEGRADED if self.failure in degraded else HealthState.FAILED
        if not self.actionable:
            state = HealthState.UNKNOWN
        evidence = {k: (v.isoformat() if isinstance(v, datetime) else v)
                    for k, v in self.evidence.items()}
        return HealthEvent(
            occurred_at=self.at, subject_kind=self.subject_kind, subject_id=self.subject_id,
            state=state, reason=f"{self.failure.value}: {self.summary}",
            evidence={"failure": self.failure.value, "host_id": self.host_id, **evidence},
        )


def quorum(model: HealthModel, host: HostHealth, now: datetime, s: DiagnosisSettings) -> Quorum:
    """Votes of the live peers on whether ``host`` is alive."""
    voters = tuple(sorted(
        h for h in model.hosts
        if h != host.host_id and model.controller_sees(h, now, s.host_timeout_s)
    ))
    alive = tuple(
        p for p in voters
        if (seen := host.peer_seen.get(p)) is not None
        and (now - seen).total_seconds() <= s.peer_window_s
    )
    needed = max(s.quorum_min_peers, len(voters) // 2 + 1)
    return Quorum(voters, alive, needed)


def diagnose_host(
    model: HealthModel, host: HostHealth, now: datetime, s: DiagnosisSettings
) -> Diagnosis | None:
    silence = host.controller_silence_s(now)
    if silence > s.host_timeout_s:
        q = quorum(model, host, now, s)
        evidence: dict[str, Any] = {
            "controller_silence_s": round(silence, 3), "peers_voting": list(q.voters),
            "peers_seeing_host": list(q.see_alive), "quorum_needed": q.needed,
        }
        if q.see_alive:
            return Diagnosis(
                FailureClass.HOST_PARTITIONED, "host", host.host_id, host.host_id, now,
                f"controller silent {silence:.0f}s but {len(q.see_alive)} peer(s) still see it",
                evidence,
            )
        if q.reached:
            return Diagnosis(
                FailureClass.HOST_DOWN, "host", host.host_id, host.host_id, now,
                f"silent {silence:.0f}s to the controller and to {len(q.see_dead)} live peers",
                evidence,
            )
        return Diagnosis(
            FailureClass.HOST_DOWN, "host", host.host_id, host.host_id, now,
            f"silent {silence:.0f}s; only {len(q.see_dead)} live peer vote(s), need {q.needed}",
            evidence, actionable=False,
        )
    storage = _storage(host.storage_faults, now, s)
    if storage is not None:
        return Diagnosis(FailureClass.STORAGE_ERROR, "host", host.host_id, host.host_id, now,
                         storage[0], storage[1])
    exhausted = _exhaustion(host.usage, host.anomaly, now, s)
    if exhausted is not None:
        return Diagnosis(FailureClass.RESOURCE_EXHAUSTION, "host", host.host_id, host.host_id,
                         now, exhausted[0], exhausted[1])
    return None


def diagnose_vm(
    vm: VmHealth, now: datetime, s: DiagnosisSettings, host_silence_s: float = 0.0
) -> Diagnosis | None:
    """One VM on a host the controller sees; precedence: crash, storage, hung, exhaustion,
    service. The most severe class wins because its rungs also cure the milder ones."""

    def make(failure: FailureClass, summary: str, evidence: dict[str, Any]) -> Diagnosis:
        evidence = {"state": vm.state.value, "state_since": vm.state_since, **evidence}
        return Diagnosis(failure, "vm", vm.vm_id, vm.host_id, now, summary, evidence)

    if vm.state == VmState.OPERATOR_STOPPED:
        return None  # honoured: an operator's shutdown is never "healed"
    if vm.state in (VmState.CRASHED, VmState.STOPPED):
        what = "crashed" if vm.state == VmState.CRASHED else "stopped without an operator"
        return make(FailureClass.VM_CRASHED, f"lifecycle event: {what}",
                    {"lifecycle_event": vm.state.value})
    storage = _storage(vm.storage_faults, now, s)
    if storage is not None:
        return make(FailureClass.STORAGE_ERROR, storage[0], dict(storage[1]))
    if vm.state == VmState.PAUSED:
        paused = (now - vm.state_since).total_seconds()
        if paused > s.paused_hung_s:
            return make(FailureClass.VM_HUNG, f"paused {paused:.0f}s without an operator",
                        {"paused_s": round(paused, 3)})
        return None
    silent = (now - vm.last_alive()).total_seconds()
    limit = s.agent_timeout_s if vm.agent_reporting() else s.metric_stale_s
    if silent > limit and host_silence_s <= s.host_fresh_s:
        signal = "guest agent heartbeat" if vm.agent_reporting() else "metrics"
        return make(FailureClass.VM_HUNG, f"no {signal} for {silent:.0f}s (limit {limit:.0f}s)",
                    {"signal": signal, "silence_s": round(silent, 3), "limit_s": limit})
    exhausted = _exhaustion(vm.usage, vm.anomaly, now, s)
    if exhausted is not None:
        return make(FailureClass.RESOURCE_EXHAUSTION, exhausted[0], dict(exhausted[1]))
    if vm.has_guest_agent and vm.services_down:
        down = sorted(vm.services_down)
        return make(FailureClass.GUEST_SERVICE_DOWN, f"guest alive, service(s) down: {down}",
                    {"services_down": down, "last_heartbeat": vm.last_heartbeat})
    return None


def _storage(
    faults: list[tuple[datetime, str]], now: datetime, s: DiagnosisSettings
) -> tuple[str, dict[str, Any]] | None:
    recent = [(t, d) for t, d in faults if 0 <= (now - t).total_seconds() <= s.storage_window_s]
    if len(recent) < s.storage_min_faults:
        return None
    return (f"{len(recent)} storage fault(s) in {s.storage_window_s:.0f}s: {recent[-1][1]}",
            {"storage_faults": len(recent), "last_fault": recent[-1][1]})


def _exhaustion(
    usage: Mapping[str, tuple[float, datetime]],
    anomaly: tuple[float, datetime, str | None] | None,
    now: datetime,
    s: DiagnosisSettings,
) -> tuple[str, dict[str, Any]] | None:
    fresh = {r: u for r, (u, t) in usage.items()
             if (now - t).total_seconds() <= s.signal_window_s}
    hot = {r: u for r, u in fresh.items() if u >= s.exhaustion_utilisation}
    if hot:
        resource = max(hot, key=lambda r: hot[r])
        return (f"{resource} at {hot[resource]:.0%} (limit {s.exhaustion_utilisation:.0%})",
                {"resource": resource, "utilisation": hot[resource]})
    if anomaly is not None:
        score, t, anomalous = anomaly
        fresh_anomaly = (now - t).total_seconds() <= s.signal_window_s
        if fresh_anomaly and score >= s.anomaly_threshold and anomalous is not None:
            return (f"anomaly score {score:.2f} on {anomalous}",
                    {"resource": anomalous, "anomaly_score": score})
    return None


def diagnose(model: HealthModel, now: datetime, s: DiagnosisSettings) -> list[Diagnosis]:
    """Every current problem, hosts first; VMs on hosts the controller cannot see are left to
    their host's diagnosis."""
    out: list[Diagnosis] = []
    hidden: set[str] = set()
    for host in sorted(model.hosts.values(), key=lambda h: h.host_id):
        d = diagnose_host(model, host, now, s)
        if d is not None:
            out.append(d)
            if d.failure in (FailureClass.HOST_DOWN, FailureClass.HOST_PARTITIONED):
                hidden.add(host.host_id)
    for vm in sorted(model.vms.values(), key=lambda v: v.vm_id):
        if vm.host_id in hidden:
            continue
        vm_host = model.hosts.get(vm.host_id)
        d = diagnose_vm(vm, now, s, vm_host.controller_silence_s(now) if vm_host else 0.0)
        if d is not None:
            out.append(d)
    return out
