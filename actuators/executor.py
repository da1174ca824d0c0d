"""Apply one decision to libvirt exactly once and report the verified outcome.

Kafka delivers at least once. The decision is claimed in the ledger before acting; a
redelivered decision whose outcome is recorded is skipped; one that was claimed but never
finished (the worker died mid-way) is reconciled by reading the domain: targets are absolute
(``vcpus: 3``, never ``+1``), so acting again cannot overshoot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import libvirt
from novacron.actuators.connection import ActuatorError, Fleet
from novacron.actuators.inspect import domain_state
from novacron.actuators.ledger import Ledger
from novacron.actuators.resize import set_memory, set_vcpus

from novacron.events import ActionKind, ActionResult, ActionStatus, AutonomyMode, Decision, utcnow

Operation = Callable[[libvirt.virDomain, Decision], None]


def _scale_vcpu(dom: libvirt.virDomain, decision: Decision) -> None:
    set_vcpus(dom, int(decision.params["vcpus"]))


def _scale_memory(dom: libvirt.virDomain, decision: Decision) -> None:
    set_memory(dom, int(decision.params["memory_mib"]))


def _verify_vcpu(after: dict[str, Any], decision: Decision) -> bool:
    return bool(after["vcpus"] == int(decision.params["vcpus"]))


def _verify_memory(after: dict[str, Any], decision: Decision) -> bool:
    return bool(after["memory_mib"] == int(decision.params["memory_mib"]))


OPERATIONS: dict[ActionKind, tuple[Operation, Callable[[dict[str, Any], Decision], bool]]] = {
    ActionKind.SCALE_VCPU: (_scale_vcpu, _verify_vcpu),
    ActionKind.SCALE_MEMORY: (_scale_memory, _verify_memory),
}


def _result(decision: Decision, status: ActionStatus, detail: str, started: float,
            before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
            host_id: str | None = None) -> ActionResult:
    return ActionResult(
        occurred_at=utcnow(), decision_id=decision.decision_id, action=decision.action,
        target_id=decision.target_id, host_id=host_id or decision.host_id, status=status,
        detail=detail, before=before or {}, after=after or {},
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def execute(decision: Decision, fleet: Fleet, ledger: Ledger, paused: bool = False) -> ActionResult | None:
    """Act on one decision. Returns the outcome, or None for a duplicate already handled."""
    started = time.perf_counter()
    if decision.mode != AutonomyMode.AUTO or paused or decision.action == ActionKind.NOOP:
        why = "global pause is on" if paused else (
            "no-op decision" if decision.action == ActionKind.NOOP
            else f"autonomy mode is {decision.mode.value}: not acting")
        result = _result(decision, ActionStatus.SKIPPED, why, started)
        if ledger.claim(decision):
            ledger.finish(result)
            return result
        return None
    if decision.action not in OPERATIONS:
        result = _result(decision, ActionStatus.FAILED,
                         f"no actuator for {decision.action.value} yet", started)
        if ledger.claim(decision):
            ledger.finish(result)
            return result
        return None

    # Already claimed and finished: a redelivery. Claimed but never finished (the worker died
    # mid-way): reconcile below, which is safe because the operation is absolute.
    if not ledger.claim(decision) and ledger.status(decision.decision_id) != "claimed":
        return None
    operation, verify = OPERATIONS[decision.action]
    try:
        host, dom = fleet.find_domain(decision.target_id, decision.host_id)
        before = domain_state(dom)
        if not verify(before, decision):
            operation(dom, decision)
        after = domain_state(dom)
    except (ActuatorError, libvirt.libvirtError, KeyError, ValueError) as exc:
        result = _result(decision, ActionStatus.FAILED, f"{type(exc).__name__}: {exc}", started)
        ledger.finish(result)
        return result
    if verify(after, decision):
        status, detail = ActionStatus.SUCCEEDED, f"{decision.action.value} applied and verified"
    else:
        status, detail = ActionStatus.FAILED, "state after acting does not match the decision"
    result = _result(decision, status, detail, started, before, after, host.host_id)
    ledger.finish(result)
    return result
