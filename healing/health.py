"""Health model: what the controller believes about each VM and host, in event time.

Inputs are small typed observations (lifecycle events, heartbeats, metric arrivals, anomaly
scores, resource usage, storage faults, host heartbeats seen by the controller and by peer
hosts). The model only records them; judging what they mean is diagnosis's job, so the same
state can be re-judged at any event time (``now``) without re-feeding anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

CONTROLLER = "controller"  # the observer name for heartbeats the controller itself receives

SubjectKind = Literal["vm", "host"]


class Lifecycle(StrEnum):
    """Lifecycle events as libvirt reports them, plus the operator's own shutdown."""

    STARTED = "started"
    STOPPED = "stopped"  # stopped without an operator asking: treated as a failure
    CRASHED = "crashed"
    PAUSED = "paused"
    RESUMED = "resumed"
    OPERATOR_SHUTDOWN = "operator_shutdown"


class VmState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    CRASHED = "crashed"
    PAUSED = "paused"
    OPERATOR_STOPPED = "operator_stopped"


@dataclass(frozen=True, slots=True)
class HostRegistered:
    host_id: str
    at: datetime
    zone: str = "zone-a"
    capacity: int = 16  # abstract slots (e.g. vCPUs); only used to pick recovery targets


@dataclass(frozen=True, slots=True)
class VmRegistered:
    vm_id: str
    host_id: str
    at: datetime
    has_guest_agent: bool = False
    priority: int = 0  # higher restarts first when capacity is short
    size: int = 1
    standby_id: str | None = None  # a warm standby for active-standby failover
    scalable: bool = False  # part of a group that can scale out/up
    running: bool = True


@dataclass(frozen=True, slots=True)
class VmTraitsChanged:
    """An operator changed a known VM's healing labels: its health record keeps its history."""

    vm_id: str
    at: datetime
    priority: int = 0
    standby_id: str | None = None
    has_guest_agent: bool = False


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    vm_id: str
    host_id: str
    kind: Lifecycle
    at: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class GuestHeartbeat:
    """A guest-agent ping; ``services_down`` names watched services that are not running."""

    vm_id: str
    at: datetime
    services_down: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class MetricSeen:
    """A metric sample arrived for the VM: the liveness signal when there is no guest agent."""

    vm_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AnomalyScore:
    subject_kind: SubjectKind
    subject_id: str
    score: float  # 0..1 from the stream's anomaly detector
    at: datetime
    resource: str | None = None


@dataclass(frozen=True, slots=True)
class ResourceUsage:
    subject_kind: SubjectKind
    subject_id: str
    resource: str  # "memory", "cpu", "disk"...
    utilisation: float  # 0..1
    at: datetime


@dataclass(frozen=True, slots=True)
class StorageFault:
    subject_kind: SubjectKind
    subject_id: str
    at: datetime
    detail: str = "I/O error"


@dataclass(frozen=True, slots=True)
class HostHeartbeat:
    """``observer`` saw ``host_id`` alive at ``at``: the controller, or a peer host's id."""

    host_id: str
    observer: str
    at: datetime


Observation = (
    HostRegistered
    | VmRegistered
    | VmTraitsChanged
    | LifecycleEvent
    | GuestHeartbeat
    | MetricSeen
    | AnomalyScore
    | ResourceUsage
    | StorageFault
    | HostHeartbeat
)


@dataclass(slots=True)
class VmHealth:
    vm_id: str
    host_id: str
    state: VmState
    state_since: datetime
    has_guest_agent: bool = False
    priority: int = 0
    size: int = 1
    standby_id: str | None = None
    scalable: bool = False
    last_heartbeat: datetime | None = None
    last_metric: datetime | None = None
    services_down: frozenset[str] = frozenset()
    anomaly: tuple[float, datetime, str | None] | None = None
    usage: dict[str, tuple[float, datetime]] = field(default_factory=dict)
    storage_faults: list[tuple[datetime, str]] = field(default_factory=list)

    def agent_reporting(self) -> bool:
        """The guest agent is the liveness signal only once it has spoken: a VM labelled with
        an agent that never reports (not installed, not started yet) is judged by its
        metrics, not declared hung for a silence that was always there."""
        return self.has_guest_agent and self.last_heartbeat is not None

    def last_alive(self) -> datetime:
        """Latest liveness evidence: guest agent if reporting, else metric arrival, else start."""
        signal = self.last_heartbeat if self.agent_reporting() else self.last_metric
        return max(signal, self.state_since) if signal is not None else self.state_since


@dataclass(slots=True)
class HostHealth:
    host_id: str
    zone: str
    capacity: int
    registered_at: datetime
    last_controller: datetime | None = None
    peer_seen: dict[str, datetime] = field(default_factory=dict)  # peer id -> last sighting
    anomaly: tuple[float, datetime, str | None] | None = None
    usage: dict[str, tuple[float, datetime]] = field(default_factory=dict)
    storage_faults: list[tuple[datetime, str]] = field(default_factory=list)

    def controller_silence_s(self, now: datetime) -> float:
        since = self.last_controller or self.registered_at
        return (now - since).total_seconds()


_MAX_FAULTS = 32  # bounded memory: diagnosis only looks at a recent window


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


class HealthModel:
    """Per-VM and per-host state built from observations; no clock, no I/O."""

    def __init__(self) -> None:
        self.vms: dict[str, VmHealth] = {}
        self.hosts: dict[str, HostHealth] = {}

    def observe(self, obs: Observation) -> None:
        match obs:
            case HostRegistered():
                self.hosts[obs.host_id] = HostHealth(obs.host_id, obs.zone, obs.capacity, obs.at)
            case VmRegistered():
                state = VmState.RUNNING if obs.running else VmState.STOPPED
                self.vms[obs.vm_id] = VmHealth(
                    obs.vm_id, obs.host_id, state, obs.at, obs.has_guest_agent, obs.priority,
                    obs.size, obs.standby_id, obs.scalable,
                )
            case VmTraitsChanged():
                if (vm := self.vms.get(obs.vm_id)) is not None:
                    vm.priority, vm.standby_id = obs.priority, obs.standby_id
                    vm.has_guest_agent = obs.has_guest_agent
            case LifecycleEvent():
                self._lifecycle(obs)
            case GuestHeartbeat():
                vm = self.vms.get(obs.vm_id)
                if vm is not None and (vm.last_heartbeat is None or obs.at >= vm.last_heartbeat):
                    vm.last_heartbeat = obs.at
                    vm.services_down = obs.services_down
            case MetricSeen():
                if (vm := self.vms.get(obs.vm_id)) is not None:
                    vm.last_metric = _later(vm.last_metric, obs.at)
            case AnomalyScore():
                subject = self._subject(obs.subject_kind, obs.subject_id)
                fresher = subject is not None and (
                    subject.anomaly is None or obs.at >= subject.anomaly[1])
                if subject is not None and fresher:
                    subject.anomaly = (obs.score, obs.at, obs.resource)
            case ResourceUsage():
                subject = self._subject(obs.subject_kind, obs.subject_id)
                if subject is not None:
                    prev = subject.usage.get(obs.resource)
                    if prev is None or obs.at >= prev[1]:
                        subject.usage[obs.resource] = (obs.utilisation, obs.at)
            case StorageFault():
                subject = self._subject(obs.subject_kind, obs.subject_id)
                if subject is not None:
                    subject.storage_faults.append((obs.at, obs.detail))
                    del subject.storage_faults[:-_MAX_FAULTS]
            case HostHeartbeat():
                if (host := self.hosts.get(obs.host_id)) is None:
                    return
                if obs.observer == CONTROLLER:
                    host.last_controller = _later(host.last_controller, obs.at)
                elif obs.observer != obs.host_id:
                    host.peer_seen[obs.observer] = _later(host.peer_seen.get(obs.observer), obs.at)

    def _subject(self, kind: SubjectKind, subject_id: str) -> VmHealth | HostHealth | None:
        return self.vms.get(subject_id) if kind == "vm" else self.hosts.get(subject_id)

    def _lifecycle(self, obs: LifecycleEvent) -> None:
        vm = self.vms.get(obs.vm_id)
        if vm is None:
            return
        if obs.at < vm.state_since:
            return  # an older event delivered late must not undo a newer state
        new = {
            Lifecycle.STARTED: VmState.RUNNING,
            Lifecycle.RESUMED: VmState.RUNNING,
            Lifecycle.STOPPED: VmState.STOPPED,
            Lifecycle.CRASHED: VmState.CRASHED,
            Lifecycle.PAUSED: VmState.PAUSED,
            Lifecycle.OPERATOR_SHUTDOWN: VmState.OPERATOR_STOPPED,
        }[obs.kind]
        if vm.state == VmState.OPERATOR_STOPPED and obs.kind == Lifecycle.STOPPED:
            return  # the stop that follows an operator's shutdown is not a failure
        vm.state, vm.state_since, vm.host_id = new, obs.at, obs.host_id
        if new == VmState.RUNNING:
            vm.services_down = frozenset()

    def set_running(self, vm_id: str, host_id: str, at: datetime) -> None:
        """An actuator reported the VM running on ``host_id`` (after a recovery)."""
        if (vm := self.vms.get(vm_id)) is not None and at >= vm.state_since:
            vm.state, vm.state_since, vm.host_id = VmState.RUNNING, at, host_id
            vm.services_down = frozenset()
            vm.storage_faults.clear()
            vm.usage.clear()
            vm.anomaly = None

    def controller_sees(self, host_id: str, now: datetime, timeout_s: float) -> bool:
        host = self.hosts.get(host_id)
        return host is not None and host.controller_silence_s(now) <= timeout_s

    def vms_on(self, host_id: str) -> Iterator[VmHealth]:
        return (vm for vm in self.vms.values() if vm.host_id == host_id)
