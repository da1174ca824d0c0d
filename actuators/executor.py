"""Apply one decision to libvirt exactly once and report the verified outcome.

Kafka delivers at least once. The decision is claimed in the ledger before acting; a
redelivered decision whose outcome is recorded is skipped; one that was claimed but never
finished (the worker died mid-way) is reconciled by reading the domain: targets are absolute
(``vcpus: 3``, never ``+1``), so acting again cannot overshoot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import libvirt
from novacron.actuators import create, lifecycle
from novacron.actuators.clone import clone, clone_name, group_inventory, remove_clone
from novacron.actuators.connection import ActuatorError, Fleet
from novacron.actuators.deadline import Deadline
from novacron.actuators.inspect import domain_state
from novacron.actuators.ledger import Ledger
from novacron.actuators.migrate import migrate
from novacron.actuators.placement_state import UNREACHABLE, where
from novacron.actuators.resize import set_memory, set_vcpus

from novacron.events import ActionKind, ActionResult, ActionStatus, AutonomyMode, Decision, utcnow

DomainOperation = Callable[[libvirt.virDomain, Decision], None]
Verify = Callable[[dict[str, Any], Decision], bool]
# What an operation did: its text, or its text and facts only the act itself can tell (a live
# migration's downtime), which join the outcome's ``after``.
Applied = str | tuple[str, dict[str, Any]]
DEFAULT_BUDGET_S = 120.0


@dataclass(frozen=True, slots=True)
class Operation:
    """One action kind: read the state it is judged by, act, and verify the result.

    ``apply`` runs when ``verify`` does not already hold, and also on a fresh claim when
    ``act_when_fresh`` (a restart must happen even though the VM reads "running": it is hung);
    a claim interrupted mid-way is only reconciled, never repeated blindly.
    """

    observe: Callable[[Fleet, Decision], dict[str, Any]]
    apply: Callable[[Fleet, Decision, Deadline], Applied]
    verify: Verify
    act_when_fresh: bool = False


def on_domain(operation: DomainOperation, verify: Verify) -> Operation:
    """An operation on the decision's domain where it is (vertical resize and the like)."""

    def observe(fleet: Fleet, decision: Decision) -> dict[str, Any]:
        host, dom = fleet.find_domain(decision.target_id, decision.host_id)
        return {**domain_state(dom), "host_id": host.host_id}

    def apply(fleet: Fleet, decision: Decision, _deadline: Deadline) -> str:
        operation(fleet.find_domain(decision.target_id, decision.host_id)[1], decision)
        return f"{decision.action.value} applied"

    return Operation(observe, apply, verify)


def _scale_vcpu(dom: libvirt.virDomain, decision: Decision) -> None:
    set_vcpus(dom, int(decision.params["vcpus"]))


def _scale_memory(dom: libvirt.virDomain, decision: Decision) -> None:
    set_memory(dom, int(decision.params["memory_mib"]))


def _verify_vcpu(after: dict[str, Any], decision: Decision) -> bool:
    return bool(after["vcpus"] == int(decision.params["vcpus"]))


def _verify_memory(after: dict[str, Any], decision: Decision) -> bool:
    return bool(after["memory_mib"] == int(decision.params["memory_mib"]))


# ------------------------------------------------------------------ healing operations
# Decisions from the healer carry params.rung, source_host, target_host and the fence proof.


def _source(decision: Decision) -> str:
    src = decision.params.get("source_host") or decision.host_id
    if not src:
        raise ActuatorError(f"{decision.action.value} of {decision.target_id}: no source host")
    return str(src)


def _target(decision: Decision) -> str:
    tgt = decision.params.get("target_host") or decision.host_id
    if not tgt:
        raise ActuatorError(f"{decision.action.value} of {decision.target_id}: no target host")
    return str(tgt)


def _fenced(decision: Decision) -> bool:
    fence = decision.params.get("fence")
    return isinstance(fence, dict) and fence.get("fenced") is True


def _observe_vm(fleet: Fleet, decision: Decision) -> dict[str, Any]:
    return where(fleet, decision.target_id)


def _apply_restart(fleet: Fleet, decision: Decision, deadline: Deadline) -> str:
    if decision.params.get("rung") == "restart_service":
        raise ActuatorError(f"{decision.target_id}: restarting a guest service needs a guest "
                            "agent channel, which this driver does not offer")
    host = _source(decision)
    dom = fleet.lookup(host, decision.target_id)
    if dom is None:
        raise ActuatorError(f"VM {decision.target_id!r} not defined on {host}")
    return f"restart on {host}: {lifecycle.restart(dom, deadline)}"


def _verify_restart(after: dict[str, Any], decision: Decision) -> bool:
    return bool(after["running_on"] == [_source(decision)])


def _is_move(decision: Decision) -> bool:
    return decision.action == ActionKind.MIGRATE or decision.params.get("rung") == "disaster_recovery"


def _apply_move(fleet: Fleet, decision: Decision, deadline: Deadline) -> Applied:
    live = decision.params.get("rung", "live_migrate") == "live_migrate"
    moved = migrate(fleet, decision.target_id, _source(decision), _target(decision), deadline,
                    live=live, source_fenced=_fenced(decision))
    if not moved.stats:
        return moved.text
    return moved.text, {"migration": moved.stats, "downtime_ms": moved.stats.get("downtime_ms")}


def _verify_move(after: dict[str, Any], decision: Decision) -> bool:
    # Done when it runs on the target only and the source holds no definition (a dead
    # source's stale one is left for when it is back).
    source_copy = after["copies"].get(_source(decision))
    return bool(after["running_on"] == [_target(decision)]
                and source_copy in (None, UNREACHABLE))


def _failover_vm(decision: Decision) -> str:
    standby = decision.params.get("standby_id")
    if not standby:
        raise ActuatorError(f"failover of {decision.target_id}: the decision names no standby")
    return str(standby)


def _observe_start(fleet: Fleet, decision: Decision) -> dict[str, Any]:
    if decision.params.get("rung") == "failover":
        return where(fleet, _failover_vm(decision))
    return where(fleet, decision.target_id)


def _apply_start(fleet: Fleet, decision: Decision, deadline: Deadline) -> Applied:
    if _is_move(decision):  # disaster recovery: a cold move to another zone
        return _apply_move(fleet, decision, deadline)
    vm = _failover_vm(decision) if decision.params.get("rung") == "failover" else decision.target_id
    host = _target(decision)
    dom = fleet.lookup(host, vm)
    if dom is None:
        raise ActuatorError(f"VM {vm!r} not defined on {host}")
    lifecycle.start(dom, deadline, by_operator=decision.params.get("by") == "operator")
    return f"started {vm} on {host}"


def _verify_start(after: dict[str, Any], decision: Decision) -> bool:
    if _is_move(decision):
        return _verify_move(after, decision)
    return bool(after["running_on"] == [_target(decision)])


def _scale_up(decision: Decision) -> bool:
    return decision.params.get("direction") == "up"


def _clones(decision: Decision) -> list[tuple[str, str]]:
    """(name, target host) of each clone: a group's scale-out lists them, each on the host the
    placement engine chose; the healer's names one target."""
    listed = decision.params.get("clones")
    if listed:
        return [(str(c["name"]), str(c["target_host"])) for c in listed]
    name = decision.params.get("name") or clone_name(decision.target_id, decision.decision_id)
    return [(str(name), _target(decision))]


def _others(fleet: Fleet, decision: Decision) -> list[str]:
    """A group's running replicas other than this decision's clones."""
    group = decision.params.get("group")
    if not group:
        return []
    mine = {name for name, _ in _clones(decision)}
    return [m.vm_id for m in group_inventory(fleet).members(str(group))
            if m.running and m.vm_id not in mine]


def _needed(decision: Decision, others: int) -> list[tuple[str, str]]:
    """The clones to run. A group decision's ``replicas`` is an absolute target, so replicas
    already running besides its own clones (a duplicate decision's, say) are not added again."""
    clones = _clones(decision)
    if not decision.params.get("group") or "replicas" not in decision.params:
        return clones
    return clones[:max(0, int(decision.params["replicas"]) - others)]


def _clone_source(decision: Decision) -> str:
    # A group decision targets the group; it names the member to clone.
    return str(decision.params.get("source_vm") or decision.target_id)


def _observe_scale_out(fleet: Fleet, decision: Decision) -> dict[str, Any]:
    if _scale_up(decision):
        host, dom = fleet.find_domain(decision.target_id, decision.params.get("source_host"))
        return {**domain_state(dom), "host_id": host.host_id}
    found = {name: where(fleet, name) for name, _ in _clones(decision)}
    first = next(iter(found))
    return {**found[first], "clone": first, "clones": found, "others": _others(fleet, decision)}


def _apply_scale_out(fleet: Fleet, decision: Decision, deadline: Deadline) -> str:
    if _scale_up(decision):
        # Absolute targets (the decision's, else the domain's maximums), so a replay cannot
        # overshoot.
        _, dom = fleet.find_domain(decision.target_id, decision.params.get("source_host"))
        state = domain_state(dom)
        vcpus = int(decision.params.get("vcpus", state["max_vcpus"]))
        memory = int(decision.params.get("memory_mib", state["max_memory_mib"]))
        set_vcpus(dom, vcpus)
        set_memory(dom, memory)
        return f"scaled up in place to {vcpus} vCPUs, {memory} MiB"
    source = decision.params.get("source_host")
    at = decision.occurred_at.timestamp()
    others = _others(fleet, decision)
    needed = _needed(decision, len(others))
    done = [clone(fleet, _clone_source(decision), str(source) if source else None, target, name,
                  deadline, cloned_at=at) for name, target in needed]
    if len(needed) < len(_clones(decision)):
        done.append(f"{len(others)} other replicas already run: {len(needed)} of "
                    f"{len(_clones(decision))} clones make the {decision.params['replicas']} decided")
    return "; ".join(done)


def _verify_scale_out(after: dict[str, Any], decision: Decision) -> bool:
    if _scale_up(decision):
        return bool(after["vcpus"] == int(decision.params.get("vcpus", after["max_vcpus"]))
                    and after["memory_mib"] == int(decision.params.get(
                        "memory_mib", after["max_memory_mib"])))
    # Each clone needed runs on the placement's host, and only there; no other one runs
    # anywhere else.
    needed = _needed(decision, len(after["others"]))
    return all(after["clones"][name]["running_on"] == [target] for name, target in needed) and \
        all(after["clones"][name]["running_on"] in ([], [target])
            for name, target in _clones(decision))


def _removals(decision: Decision) -> list[str]:
    listed = decision.params.get("remove")
    if not listed:
        raise ActuatorError(f"scale_in of {decision.target_id}: the decision names no replica "
                            "to remove (params.remove)")
    return [str(r["name"]) for r in listed]


def _observe_scale_in(fleet: Fleet, decision: Decision) -> dict[str, Any]:
    return {"removed": {name: where(fleet, name) for name in _removals(decision)}}


def _apply_scale_in(fleet: Fleet, decision: Decision, deadline: Deadline) -> str:
    group = decision.params.get("group")
    return "; ".join(remove_clone(fleet, name, deadline, str(group) if group else None,
                                  float(decision.params.get("graceful_s", 30.0)))
                     for name in _removals(decision))


def _verify_scale_in(after: dict[str, Any], decision: Decision) -> bool:
    # Gone from every host (an unreachable host still counts as a copy: not verified).
    return all(not after["removed"][name]["copies"] for name in _removals(decision))


# ------------------------------------------------------------------ plain lifecycle operations
# On the decision's VM on ``host_id`` (its only copy): judged by where it runs afterwards.


def _host_of(decision: Decision) -> str:
    if not decision.host_id:
        raise ActuatorError(f"{decision.action.value} of {decision.target_id}: no host_id")
    return decision.host_id


def _domain(fleet: Fleet, decision: Decision) -> libvirt.virDomain:
    dom = fleet.lookup(_host_of(decision), decision.target_id)
    if dom is None:
        raise ActuatorError(f"VM {decision.target_id!r} not defined on {decision.host_id}")
    return dom


def _lifecycle(op: Callable[[libvirt.virDomain, Decision, Deadline], None]
               ) -> Callable[[Fleet, Decision, Deadline], str]:
    def apply(fleet: Fleet, decision: Decision, deadline: Deadline) -> str:
        op(_domain(fleet, decision), decision, deadline)
        return f"{decision.action.value} on {decision.host_id}"
    return apply


def _shutdown(dom: libvirt.virDomain, decision: Decision, deadline: Deadline) -> None:
    # An operator's (the default) is recorded on the domain and honoured by the healer.
    lifecycle.shutdown(dom, deadline, by_operator=decision.params.get("by", "operator") == "operator",
                       graceful_s=float(decision.params.get("graceful_s", 30.0)))


def _destroy(dom: libvirt.virDomain, decision: Decision, deadline: Deadline) -> None:
    lifecycle.destroy(dom, deadline, by_operator=decision.params.get("by", "operator") == "operator")


def _verify_off(after: dict[str, Any], decision: Decision) -> bool:
    return _host_of(decision) not in after["running_on"]


def _apply_destroy(fleet: Fleet, decision: Decision, deadline: Deadline) -> str:
    # An operator's delete (params.undefine) also removes the definition.
    if decision.params.get("undefine"):
        return create.apply_delete(fleet, decision, deadline)
    return _lifecycle(_destroy)(fleet, decision, deadline)


def _verify_destroyed(after: dict[str, Any], decision: Decision) -> bool:
    if decision.params.get("undefine"):
        return create.verify_deleted(after, decision)
    return _verify_off(after, decision)


def _verify_on(after: dict[str, Any], decision: Decision) -> bool:
    return bool(after["running_on"] == [_host_of(decision)])


OPERATIONS: dict[ActionKind, Operation] = {
    ActionKind.SCALE_VCPU: on_domain(_scale_vcpu, _verify_vcpu),
    ActionKind.SCALE_MEMORY: on_domain(_scale_memory, _verify_memory),
    ActionKind.RESTART: Operation(_observe_vm, _apply_restart, _verify_restart,
                                  act_when_fresh=True),
    ActionKind.MIGRATE: Operation(_observe_vm, _apply_move, _verify_move),
    ActionKind.START: Operation(_observe_start, _apply_start, _verify_start),
    ActionKind.SCALE_OUT: Operation(_observe_scale_out, _apply_scale_out, _verify_scale_out),
    ActionKind.SCALE_IN: Operation(_observe_scale_in, _apply_scale_in, _verify_scale_in),
    ActionKind.SHUTDOWN: Operation(_observe_vm, _lifecycle(_shutdown), _verify_off),
    ActionKind.DESTROY: Operation(_observe_vm, _apply_destroy, _verify_destroyed),
    # A placed VM defined (and started) on the host its placement chose.
    ActionKind.PLACE: Operation(create.observe, create.apply, create.verify),
    # Reboot and reset act even on a VM that reads running: that is what they are for.
    ActionKind.REBOOT: Operation(
        _observe_vm, _lifecycle(lambda d, _dec, dl: lifecycle.reboot(d, dl)), _verify_on,
        act_when_fresh=True),
    ActionKind.RESET: Operation(
        _observe_vm, _lifecycle(lambda d, _dec, dl: lifecycle.reset(d, dl)), _verify_on,
        act_when_fresh=True),
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


def _record_once(ledger: Ledger, decision: Decision, result: ActionResult) -> ActionResult | None:
    """Record an outcome reached without acting; None if the decision was already recorded."""
    if not ledger.claim(decision):
        return None
    ledger.finish(result)
    return result


def execute(decision: Decision, fleet: Fleet, ledger: Ledger, paused: bool = False) -> ActionResult | None:
    """Act on one decision. Returns the outcome, or None for a duplicate already handled."""
    started = time.perf_counter()
    if decision.mode != AutonomyMode.AUTO or paused or decision.action == ActionKind.NOOP:
        why = "global pause is on" if paused else (
            "no-op decision" if decision.action == ActionKind.NOOP
            else f"autonomy mode is {decision.mode.value}: not acting")
        return _record_once(ledger, decision, _result(decision, ActionStatus.SKIPPED, why, started))
    if decision.action not in OPERATIONS:
        why = f"no actuator for {decision.action.value} yet"
        return _record_once(ledger, decision, _result(decision, ActionStatus.FAILED, why, started))

    # Already claimed and finished: a redelivery. Claimed but never finished (the worker died
    # mid-way): reconcile below, which is safe because every operation is absolute and every
    # step of a move is safe to repeat.
    fresh = ledger.claim(decision)
    if not fresh and ledger.status(decision.decision_id) != "claimed":
        return None
    op = OPERATIONS[decision.action]
    deadline = Deadline(float(decision.params.get("budget_s", DEFAULT_BUDGET_S)))
    facts: dict[str, Any] = {}
    try:
        before = op.observe(fleet, decision)
        if not op.verify(before, decision) or (fresh and op.act_when_fresh):
            done = op.apply(fleet, decision, deadline)
            if isinstance(done, tuple):
                done, facts = done
        else:
            done = "already in the decided state" + ("" if fresh else " (reconciled)")
        after = {**op.observe(fleet, decision), **facts}
    except (ActuatorError, libvirt.libvirtError, KeyError, ValueError) as exc:
        result = _result(decision, ActionStatus.FAILED, f"{type(exc).__name__}: {exc}", started)
        ledger.finish(result)
        return result
    if op.verify(after, decision):
        status, detail = ActionStatus.SUCCEEDED, f"{done}; verified"
    else:
        status, detail = ActionStatus.FAILED, f"{done}; state after acting does not match the decision"
    host_id = after.get("host_id") or before.get("host_id")
    result = _result(decision, status, detail, started, before, after,
                     str(host_id) if host_id else None)
    ledger.finish(result)
    return result
