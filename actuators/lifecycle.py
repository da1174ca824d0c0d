"""Lifecycle operations on one domain: start, shutdown, destroy, reboot, reset, restart.

Each is idempotent (starting a running domain does nothing), bounded by a deadline and ends
with a check of the state it promised. An operator's shutdown is recorded on the domain
(metadata) and honoured: nothing but an operator's explicit start boots it again.
"""

from __future__ import annotations

import contextlib

import libvirt
from novacron.actuators.connection import ActuatorError
from novacron.actuators.deadline import Deadline, wait_until
from novacron.actuators.xml import OPERATOR_NS, OPERATOR_PREFIX, operator_hold_xml

from novacron.events import utcnow


class OperatorHold(ActuatorError):
    """The domain was shut down by an operator; automation does not start it."""


def is_running(dom: libvirt.virDomain) -> bool:
    state = dom.state()[0]
    return bool(state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED))


def _flags(dom: libvirt.virDomain) -> int:
    live = libvirt.VIR_DOMAIN_AFFECT_LIVE if dom.isActive() else 0
    return int(libvirt.VIR_DOMAIN_AFFECT_CONFIG | live)


def operator_hold(dom: libvirt.virDomain) -> str | None:
    """The operator-shutdown marker's XML, or None when the domain carries none."""
    try:
        return str(dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, OPERATOR_NS,
                                libvirt.VIR_DOMAIN_AFFECT_CONFIG))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return None
        raise


def _set_hold(dom: libvirt.virDomain, reason: str) -> None:
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                    operator_hold_xml(reason, utcnow().isoformat()), OPERATOR_PREFIX,
                    OPERATOR_NS, _flags(dom))


def _clear_hold(dom: libvirt.virDomain) -> None:
    if operator_hold(dom) is not None:
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, OPERATOR_NS,
                        _flags(dom))


def start(dom: libvirt.virDomain, deadline: Deadline, *, by_operator: bool = False) -> None:
    """Boot the domain (resume it when paused). Refuses a domain an operator shut down,
    unless the operator is the one starting it (which lifts the hold)."""
    if by_operator:
        _clear_hold(dom)
    elif (hold := operator_hold(dom)) is not None:
        raise OperatorHold(f"{dom.name()}: shut down by an operator ({hold}); not starting it")
    state = dom.state()[0]
    if state == libvirt.VIR_DOMAIN_PAUSED:
        dom.resume()
    elif not dom.isActive():
        dom.create()
    wait_until(lambda: is_running(dom), deadline, f"{dom.name()}: start")


def destroy(dom: libvirt.virDomain, deadline: Deadline, *, by_operator: bool = False) -> None:
    """Hard power-off; a domain already off is fine. An operator's is recorded first (as for
    a shutdown), so the healer honours it instead of restarting the VM."""
    if by_operator:
        _set_hold(dom, "operator destroy")
    if dom.isActive():
        try:
            dom.destroy()
        except libvirt.libvirtError:
            if dom.isActive():  # it may have stopped on its own meanwhile
                raise
    wait_until(lambda: not dom.isActive(), deadline, f"{dom.name()}: destroy")


def shutdown(dom: libvirt.virDomain, deadline: Deadline, *, by_operator: bool = True,
             graceful_s: float = 30.0) -> None:
    """Ask the guest to power off; destroy it if it has not within ``graceful_s``. An
    operator's shutdown is recorded first, so a crash of this call still leaves the hold."""
    if by_operator:
        _set_hold(dom, "operator shutdown")
    if not dom.isActive():
        return
    with contextlib.suppress(libvirt.libvirtError):
        dom.shutdown()
    try:
        wait_until(lambda: not dom.isActive(), deadline.sub(graceful_s), f"{dom.name()}: shutdown")
    except ActuatorError:
        destroy(dom, deadline)


def reboot(dom: libvirt.virDomain, deadline: Deadline) -> None:
    """A guest-cooperative reboot of a running domain; an inactive one is started."""
    if not dom.isActive():
        start(dom, deadline)
        return
    dom.reboot(0)
    wait_until(lambda: is_running(dom), deadline, f"{dom.name()}: reboot")


def reset(dom: libvirt.virDomain, deadline: Deadline) -> None:
    """A hard reset (the guest gets no say): the cure for a hung guest."""
    if not dom.isActive():
        start(dom, deadline)
        return
    if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
        dom.resume()
    dom.reset(0)
    wait_until(lambda: is_running(dom), deadline, f"{dom.name()}: reset")


def restart(dom: libvirt.virDomain, deadline: Deadline) -> str:
    """The healer's restart-VM rung: whatever state the domain is in, end running.
    Returns what was done."""
    state = dom.state()[0]
    if not dom.isActive():
        start(dom, deadline)
        return "started"
    if state == libvirt.VIR_DOMAIN_PAUSED:
        # A domain paused without an operator is hung (I/O error, a stuck migration): a
        # resume would hand back the same stuck guest, so power-cycle it.
        destroy(dom, deadline)
        start(dom, deadline)
        return "power-cycled (was paused)"
    reset(dom, deadline)
    return "reset"
