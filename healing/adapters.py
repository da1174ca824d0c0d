"""Pure adapters from the wire events (novacron.events) to the healer's observations, so the
stream agent that drives the Healer stays a few lines of plumbing."""

from __future__ import annotations

from novacron.healing.healer import RecoveryOutcome
from novacron.healing.health import MetricSeen, Observation, ResourceUsage

from novacron.events import ActionResult, ActionStatus, MetricName, MetricSample

# Metrics that are a utilisation in percent, and the resource name diagnosis reports.
_UTILISATION = {MetricName.CPU: "cpu", MetricName.MEMORY: "memory"}


def from_metric(sample: MetricSample) -> list[Observation]:
    """A metric sample is liveness evidence (for VMs without a guest agent) and, for
    utilisation metrics, a resource-usage reading (percent -> 0..1)."""
    out: list[Observation] = [MetricSeen(sample.vm_id, sample.occurred_at)]
    resource = _UTILISATION.get(sample.metric)
    if resource is not None:
        out.append(ResourceUsage("vm", sample.vm_id, resource,
                                 max(0.0, min(1.0, sample.value / 100.0)), sample.occurred_at))
    return out


def from_action_result(result: ActionResult) -> RecoveryOutcome | None:
    """The actuator's outcome for a healer plan; None for a skipped (not acted on) result."""
    if result.status == ActionStatus.SKIPPED:
        return None
    return RecoveryOutcome(result.decision_id, result.status == ActionStatus.SUCCEEDED,
                           result.occurred_at, result.detail)
