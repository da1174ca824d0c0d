"""Decision ids derive from the target, the window's event time, the kind and the target's
incarnation, so a window decided twice (a worker restarted before its state was written back)
gives one id, while a VM defined again under the same name gets new ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from novacron.autoscaler.events import decision_id_for
from novacron.autoscaler.live import default_vcpu_policy, evaluate

from novacron.events import ActionKind, FeatureVector, MetricName

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def busy(vm: str = "vm-1") -> FeatureVector:
    return FeatureVector(occurred_at=T0, vm_id=vm, metric=MetricName.CPU, window_s=900, count=13,
                         last=97.0, mean=97.0, std=0.0, p95=97.0, ewma=97.0, history=[97.0] * 13,
                         allocated=2, host_id="host-1")


def test_the_same_window_decided_twice_from_scratch_gives_one_id() -> None:
    first, _ = evaluate(busy(), None, {}, default_vcpu_policy(), "serving down", incarnation="u1")
    again, _ = evaluate(busy(), None, {}, default_vcpu_policy(), "serving down", incarnation="u1")
    assert first is not None and again is not None
    assert first.decision_id == again.decision_id
    assert first.decision_id == decision_id_for("vm-1", T0, ActionKind.SCALE_VCPU, "u1")


def test_other_windows_kinds_targets_and_incarnations_get_other_ids() -> None:
    ids = {decision_id_for("vm-1", T0, ActionKind.SCALE_VCPU, "u1"),
           decision_id_for("vm-1", T0 + timedelta(minutes=1), ActionKind.SCALE_VCPU, "u1"),
           decision_id_for("vm-1", T0, ActionKind.SCALE_MEMORY, "u1"),
           decision_id_for("vm-2", T0, ActionKind.SCALE_VCPU, "u1"),
           decision_id_for("vm-1", T0, ActionKind.SCALE_VCPU, "u2")}
    assert len(ids) == 5
    # The same instant in another time zone is the same window.
    assert decision_id_for("vm-1", T0.astimezone(), ActionKind.SCALE_VCPU) == \
        decision_id_for("vm-1", T0, ActionKind.SCALE_VCPU)
