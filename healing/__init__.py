"""novacron.healing: the pure self-healing core (health model, diagnosis, recovery ladder,
safety guards, learned rung order) behind one facade, :class:`Healer`. No I/O, no clock."""

from novacron.healing.diagnosis import Diagnosis, DiagnosisSettings, FailureClass, diagnose
from novacron.healing.healer import (
    Healer,
    HealerSettings,
    HealingAction,
    Hold,
    HoldKind,
    RecoveryOutcome,
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
    Observation,
    ResourceUsage,
    StorageFault,
    VmRegistered,
    VmTraitsChanged,
)
from novacron.healing.ladder import RUNG_BUDGET_S, RecoveryPlan, Rung
from novacron.healing.learning import ThompsonLadder
from novacron.healing.safety import Fencer, FenceRequest, FenceResult, TestFencer

__all__ = [
    "CONTROLLER",
    "RUNG_BUDGET_S",
    "AnomalyScore",
    "Diagnosis",
    "DiagnosisSettings",
    "FailureClass",
    "FenceRequest",
    "FenceResult",
    "Fencer",
    "GuestHeartbeat",
    "Healer",
    "HealerSettings",
    "HealingAction",
    "HealthModel",
    "Hold",
    "HoldKind",
    "HostHeartbeat",
    "HostRegistered",
    "Lifecycle",
    "LifecycleEvent",
    "MetricSeen",
    "Observation",
    "RecoveryOutcome",
    "RecoveryPlan",
    "ResourceUsage",
    "Rung",
    "StorageFault",
    "TestFencer",
    "ThompsonLadder",
    "VmRegistered",
    "VmTraitsChanged",
    "diagnose",
]
