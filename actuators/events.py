"""Lifecycle events from libvirt (domainEventRegisterAny) as the healer's observations.

One callback per host connection; libvirt's event loop runs in a daemon thread (see
eventloop), so the sink is called from that thread and must be quick and thread-safe (a
queue put). A stop that follows an operator's shutdown (marked on the domain) is reported as
such, so it is honoured rather than healed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import libvirt
from novacron.actuators.connection import ActuatorError, Fleet
from novacron.actuators.lifecycle import operator_hold
from novacron.healing.health import Lifecycle, LifecycleEvent

from novacron.events import HealthEvent, HealthState, utcnow

Sink = Callable[[LifecycleEvent], None]


def classify(dom: libvirt.virDomain | None, event: int, detail: int) -> Lifecycle | None:
    """libvirt (event, detail) -> the healer's lifecycle kind; None for the uninteresting."""
    if event == libvirt.VIR_DOMAIN_EVENT_STARTED:
        return Lifecycle.STARTED
    if event == libvirt.VIR_DOMAIN_EVENT_RESUMED:
        return Lifecycle.RESUMED
    if event == libvirt.VIR_DOMAIN_EVENT_SUSPENDED:
        return Lifecycle.PAUSED
    if event == libvirt.VIR_DOMAIN_EVENT_CRASHED:
        return Lifecycle.CRASHED
    if event == libvirt.VIR_DOMAIN_EVENT_STOPPED:
        if detail == libvirt.VIR_DOMAIN_EVENT_STOPPED_MIGRATED:
            return None  # it runs elsewhere now; the target reports its start
        if detail in (libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED, libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED):
            return Lifecycle.CRASHED
        held = False
        if dom is not None:
            with contextlib.suppress(libvirt.libvirtError):
                held = operator_hold(dom) is not None
        return Lifecycle.OPERATOR_SHUTDOWN if held else Lifecycle.STOPPED
    return None


class LifecycleWatcher:
    """Registers a lifecycle callback on every host of the fleet; ``stop()`` removes them."""

    def __init__(self, fleet: Fleet, sink: Sink) -> None:
        self.fleet = fleet
        self.sink = sink
        self._ids: dict[str, int] = {}

    def start(self) -> None:
        """Watch every host that answers; one that does not is watched once it is back
        (:meth:`rearm`), rather than failing the watch of all the others."""
        for host_id in self.fleet.hosts:
            if host_id not in self._ids:
                with contextlib.suppress(ActuatorError, libvirt.libvirtError):
                    self._arm(host_id)

    def rearm(self, host_id: str) -> None:
        """Watch ``host_id`` again on its current connection (a host back from a failure
        has a new one: the old connection's callbacks died with it)."""
        self._ids.pop(host_id, None)
        self._arm(host_id)

    def _arm(self, host_id: str) -> None:
        self._ids[host_id] = self.fleet.host(host_id).get().domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._callback, host_id)

    def stop(self) -> None:
        for host_id, cb_id in list(self._ids.items()):
            with contextlib.suppress(libvirt.libvirtError):
                self.fleet.host(host_id).get().domainEventDeregisterAny(cb_id)
            del self._ids[host_id]

    def _callback(self, _conn: libvirt.virConnect, dom: libvirt.virDomain, event: int,
                  detail: int, host_id: str) -> None:
        kind = classify(dom, event, detail)
        if kind is not None:
            self.sink(LifecycleEvent(dom.name(), host_id, kind, utcnow(),
                                     f"libvirt event {event}/{detail}"))


def to_health_event(ev: LifecycleEvent) -> HealthEvent:
    """The wire form on novacron.health (read back by the heal agent)."""
    state = {Lifecycle.STARTED: HealthState.HEALTHY, Lifecycle.RESUMED: HealthState.HEALTHY,
             Lifecycle.PAUSED: HealthState.DEGRADED,
             Lifecycle.OPERATOR_SHUTDOWN: HealthState.HEALTHY}.get(ev.kind, HealthState.FAILED)
    return HealthEvent(occurred_at=ev.at, subject_kind="vm", subject_id=ev.vm_id, state=state,
                       reason=f"lifecycle: {ev.kind.value}",
                       evidence={"lifecycle": ev.kind.value, "host_id": ev.host_id,
                                 "detail": ev.reason})
