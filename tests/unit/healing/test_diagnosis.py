"""Every diagnosis class reached from its evidence, and the cases that must not be diagnosed."""

from __future__ import annotations

from healing_fleet import T0, t
from novacron.healing.diagnosis import (
    Diagnosis,
    DiagnosisSettings,
    FailureClass,
    diagnose,
)
from novacron.healing.health import (
    CONTROLLER,
    AnomalyScore,
    GuestHeartbeat,
    HealthModel,
    HostHeartbeat,
    HostRegistered,
    Lifecycle,
    LifecycleEvent,
    MetricSeen,
    ResourceUsage,
    StorageFault,
    VmRegistered,
    VmState,
    VmTraitsChanged,
)

from novacron.events import HealthState

S = DiagnosisSettings()


def model(hosts: int = 4, agent: bool = True) -> HealthModel:
    m = HealthModel()
    for i in range(hosts):
        m.observe(HostRegistered(f"h{i}", T0))
    m.observe(VmRegistered("vm1", "h0", T0, has_guest_agent=agent))
    m.observe(VmRegistered("vm2", "h1", T0, has_guest_agent=agent))
    return m


def beat(m: HealthModel, at: float, *, skip_controller: set[str] = frozenset(),  # type: ignore[assignment]
         dead: set[str] = frozenset(), vms: bool = True) -> None:  # type: ignore[assignment]
    for h in m.hosts:
        if h in dead:
            continue
        if h not in skip_controller:
            m.observe(HostHeartbeat(h, CONTROLLER, t(at)))
        for p in m.hosts:
            if p != h and p not in dead:
                m.observe(HostHeartbeat(h, p, t(at)))
    if vms:
        for v in m.vms.values():
            if v.host_id not in dead:
                m.observe(GuestHeartbeat(v.vm_id, t(at)))
                m.observe(MetricSeen(v.vm_id, t(at)))


def only(ds: list[Diagnosis]) -> Diagnosis:
    assert len(ds) == 1, ds
    return ds[0]


def test_healthy_fleet_has_no_diagnosis() -> None:
    m = model()
    beat(m, 5)
    assert diagnose(m, t(6), S) == []


def test_vm_crashed_from_lifecycle_event() -> None:
    m = model()
    beat(m, 5)
    m.observe(LifecycleEvent("vm1", "h0", Lifecycle.CRASHED, t(5.5)))
    d = only(diagnose(m, t(5.5), S))
    assert d.failure == FailureClass.VM_CRASHED and d.subject_id == "vm1"
    assert d.evidence["lifecycle_event"] == "crashed"


def test_unexpected_stop_is_a_crash_but_operator_shutdown_is_honoured() -> None:
    m = model()
    beat(m, 5)
    m.observe(LifecycleEvent("vm1", "h0", Lifecycle.STOPPED, t(6)))
    assert only(diagnose(m, t(6), S)).failure == FailureClass.VM_CRASHED
    m.observe(LifecycleEvent("vm2", "h1", Lifecycle.OPERATOR_SHUTDOWN, t(6)))
    m.observe(LifecycleEvent("vm2", "h1", Lifecycle.STOPPED, t(6.5)))
    assert m.vms["vm2"].state == VmState.OPERATOR_STOPPED
    assert [d.subject_id for d in diagnose(m, t(7), S)] == ["vm1"]


def test_vm_hung_from_guest_agent_silence() -> None:
    m = model()
    beat(m, 5)
    for s in range(6, 17):
        beat(m, s, vms=False)
        m.observe(GuestHeartbeat("vm2", t(s)))
    d = only(diagnose(m, t(16), S))
    assert d.failure == FailureClass.VM_HUNG and d.subject_id == "vm1"
    assert d.evidence["signal"] == "guest agent heartbeat" and d.evidence["silence_s"] == 11


def test_vm_hung_from_metric_staleness_without_agent() -> None:
    m = model(agent=False)
    beat(m, 5)
    for s in range(6, 37):
        beat(m, s, vms=False)
        m.observe(MetricSeen("vm2", t(s)))
    assert diagnose(m, t(34), S) == []  # metrics are a slower signal: wider bound
    d = only(diagnose(m, t(36), S))
    assert d.failure == FailureClass.VM_HUNG and d.evidence["signal"] == "metrics"


def test_an_agent_that_never_reported_is_not_the_liveness_signal() -> None:
    """Labelled with a guest agent that never speaks (not installed): judged by metrics, so
    metrics that keep coming keep it healthy, and their silence still finds a hang."""
    m = model(agent=True)
    beat(m, 5, vms=False)
    for s in range(6, 60):
        beat(m, s, vms=False)
        m.observe(MetricSeen("vm1", t(s)))
        m.observe(MetricSeen("vm2", t(s)))
    assert diagnose(m, t(59), S) == []  # 54 s without any heartbeat, metrics flowing
    for s in range(60, 92):
        beat(m, s, vms=False)
        m.observe(MetricSeen("vm2", t(s)))
    d = only(diagnose(m, t(91), S))
    assert d.subject_id == "vm1" and d.evidence["signal"] == "metrics"
    # Once the agent has spoken, its silence is what counts (the faster bound).
    m.observe(GuestHeartbeat("vm2", t(91)))
    for s in range(92, 103):
        beat(m, s, vms=False)
        m.observe(MetricSeen("vm2", t(s)))
    hung = {d.subject_id: d.evidence["signal"] for d in diagnose(m, t(102), S)}
    assert hung == {"vm1": "metrics", "vm2": "guest agent heartbeat"}


def test_changed_healing_labels_update_a_known_vm_in_place() -> None:
    m = model(agent=False)
    beat(m, 5)
    m.observe(VmTraitsChanged("vm1", t(6), priority=7, standby_id="vm2", has_guest_agent=True))
    vm = m.vms["vm1"]
    assert (vm.priority, vm.standby_id, vm.has_guest_agent) == (7, "vm2", True)
    assert vm.last_metric == t(5) and vm.state_since == T0  # its history is kept
    m.observe(VmTraitsChanged("nobody", t(6), priority=1))  # an unknown VM: ignored
    assert "nobody" not in m.vms


def test_vm_paused_too_long_is_hung() -> None:
    m = model()
    m.observe(LifecycleEvent("vm1", "h0", Lifecycle.PAUSED, t(1)))
    beat(m, 10)
    assert diagnose(m, t(10), S) == []
    beat(m, 17)
    d = only(diagnose(m, t(17), S))
    assert d.failure == FailureClass.VM_HUNG and d.evidence["paused_s"] == 16


def test_guest_service_down() -> None:
    m = model()
    beat(m, 5)
    m.observe(GuestHeartbeat("vm1", t(6), frozenset({"nginx"})))
    d = only(diagnose(m, t(6), S))
    assert d.failure == FailureClass.GUEST_SERVICE_DOWN
    assert d.evidence["services_down"] == ["nginx"]


def test_resource_exhaustion_from_usage_and_from_anomaly() -> None:
    m = model()
    beat(m, 5)
    m.observe(ResourceUsage("vm", "vm1", "memory", 0.97, t(5)))
    m.observe(AnomalyScore("vm", "vm2", 0.95, t(5), resource="cpu"))
    ds = diagnose(m, t(5), S)
    assert [(d.subject_id, d.failure, d.evidence["resource"]) for d in ds] == [
        ("vm1", FailureClass.RESOURCE_EXHAUSTION, "memory"),
        ("vm2", FailureClass.RESOURCE_EXHAUSTION, "cpu"),
    ]
    beat(m, 100)  # old readings expire
    assert diagnose(m, t(100), S) == []


def test_storage_errors_on_vm_and_host() -> None:
    m = model()
    beat(m, 5)
    m.observe(StorageFault("vm", "vm1", t(5), "virtio-blk EIO"))
    m.observe(StorageFault("host", "h2", t(5), "multipath lost"))
    ds = {d.subject_id: d for d in diagnose(m, t(5), S)}
    assert ds["vm1"].failure == FailureClass.STORAGE_ERROR
    assert ds["vm1"].evidence["last_fault"] == "virtio-blk EIO"
    assert ds["h2"].failure == FailureClass.STORAGE_ERROR and ds["h2"].subject_kind == "host"


def test_host_down_needs_quorum_of_peers() -> None:
    m = model()
    beat(m, 0)
    for s in range(1, 20):
        beat(m, s, dead={"h0"})
    d = only(diagnose(m, t(19), S))
    assert d.failure == FailureClass.HOST_DOWN and d.actionable
    assert d.evidence["peers_voting"] == ["h1", "h2", "h3"] and d.evidence["quorum_needed"] == 2
    # vm1 lives on h0: its silence is the host's, not a separate VM diagnosis
    assert d.subject_id == "h0"
    assert d.to_health_event().state == HealthState.FAILED


def test_host_cut_off_from_controller_only_is_a_partition() -> None:
    m = model()
    for s in range(0, 20):
        beat(m, s, skip_controller={"h0"} if s > 0 else set())
    d = only(diagnose(m, t(19), S))
    assert d.failure == FailureClass.HOST_PARTITIONED
    assert d.evidence["peers_seeing_host"] == ["h1", "h2", "h3"]


def test_host_silence_without_enough_live_peers_is_not_actionable() -> None:
    m = model(hosts=2)  # one peer can never make a quorum of two
    beat(m, 0)
    for s in range(1, 20):
        beat(m, s, dead={"h0"})
    d = only(diagnose(m, t(19), S))
    assert d.failure == FailureClass.HOST_DOWN and not d.actionable
    assert d.to_health_event().state == HealthState.UNKNOWN


def test_dead_peers_do_not_vote() -> None:
    m = model(hosts=4)
    beat(m, 0)
    for s in range(1, 20):
        beat(m, s, dead={"h0", "h1", "h2"})
    ds = {d.subject_id: d for d in diagnose(m, t(19), S)}
    # h3 is the only live voter: no host may be declared down on one voice
    assert all(not d.actionable for d in ds.values())


def test_late_lifecycle_event_does_not_undo_newer_state() -> None:
    m = model()
    m.observe(LifecycleEvent("vm1", "h0", Lifecycle.STARTED, t(10)))
    m.observe(LifecycleEvent("vm1", "h0", Lifecycle.CRASHED, t(5)))
    assert m.vms["vm1"].state == VmState.RUNNING
