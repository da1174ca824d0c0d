"""Horizontal scale-out: a new domain with the same spec under a new name."""

from __future__ import annotations

import uuid

from novacron.actuators import lifecycle
from novacron.actuators.connection import ActuatorError, Fleet
from novacron.actuators.deadline import Deadline
from novacron.actuators.placement_state import domain_type, spec_of
from novacron.actuators.xml import domain_xml


def clone_name(vm_id: str, decision_id: uuid.UUID) -> str:
    """Derived from the decision, so executing the decision again finds the same clone."""
    return f"{vm_id[:180]}-c{decision_id.hex[:8]}"


def clone(fleet: Fleet, vm_id: str, source: str | None, target: str, name: str,
          deadline: Deadline) -> str:
    """Define ``name`` on ``target`` with ``vm_id``'s spec and start it (idempotent)."""
    if name == vm_id:
        raise ActuatorError(f"a clone needs a new name, not {vm_id}")
    spec = spec_of(fleet, vm_id, source)
    done = []
    dom = fleet.lookup(target, name)
    if dom is None:
        labels = {**spec.labels, "host": target, "clone_of": vm_id}
        new = spec.model_copy(update={"name": name, "labels": labels})
        conn = fleet.host(target).get()
        dom = conn.defineXML(domain_xml(new, domain_type(conn)))
        fleet.specs[name] = new
        done.append(f"defined {name} on {target}")
    if not lifecycle.is_running(dom):
        lifecycle.start(dom, deadline)
        done.append(f"started {name}")
    return "clone: " + (", ".join(done) or f"{name} already running on {target}")
