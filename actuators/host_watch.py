"""A host's loss seen as it happens, and its return.

libvirt calls a connection's close callback when the daemon's socket closes (its process
died: within milliseconds) or its keepalive goes unanswered (a host or link gone silent:
within the keepalive's interval x count). That is detection, not a verdict: the healer still
waits out its host timeout and its quorum before it fences. When a lost host answers again,
``on_back`` runs, where its stale copies are cleared (migrate.undefine_stale).

Callbacks run on libvirt's event-loop thread: the sinks must be quick and thread-safe.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import libvirt
from novacron.actuators.connection import ActuatorError, Fleet

# libvirt's close reasons (VIR_CONNECT_CLOSE_REASON_*)
REASONS = {libvirt.VIR_CONNECT_CLOSE_REASON_ERROR: "I/O error",
           libvirt.VIR_CONNECT_CLOSE_REASON_EOF: "the daemon closed its socket",
           libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE: "keepalive unanswered"}


@dataclass(frozen=True, slots=True)
class HostLost:
    host_id: str
    reason: str
    at: float  # time.monotonic() when libvirt reported it


class HostWatcher:
    """Close callbacks on every host's connection; ``poll()`` reconnects lost hosts and
    reports those that answer again."""

    def __init__(self, fleet: Fleet, on_lost: Callable[[HostLost], None] | None = None,
                 on_back: Callable[[str], None] | None = None) -> None:
        self.fleet = fleet
        self.on_lost = on_lost
        self.on_back = on_back
        self.lost: dict[str, HostLost] = {}
        self._armed: dict[str, libvirt.virConnect] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        """Arm every host; one that does not answer now counts as lost (without ``on_lost``:
        nothing was seen to go), so ``poll()`` arms it, and clears it, once it is back."""
        for host_id in self.fleet.hosts:
            try:
                self._arm(host_id)
            except ActuatorError as exc:
                with self._lock:
                    self.lost.setdefault(host_id, HostLost(host_id, f"unreachable at start: {exc}",
                                                           time.monotonic()))

    def _arm(self, host_id: str) -> None:
        conn = self.fleet.host(host_id).get()
        if self._armed.get(host_id) is conn:
            return
        conn.registerCloseCallback(self._closed, host_id)
        self._armed[host_id] = conn

    def _closed(self, _conn: libvirt.virConnect, reason: int, host_id: str) -> None:
        if reason == libvirt.VIR_CONNECT_CLOSE_REASON_CLIENT:
            return  # closed on purpose (the fleet closing, a reconnect): not a loss
        lost = HostLost(host_id, REASONS.get(reason, f"reason {reason}"), time.monotonic())
        with self._lock:
            if host_id in self.lost:
                return
            self.lost[host_id] = lost
        if self.on_lost is not None:
            self.on_lost(lost)

    def poll(self) -> list[str]:
        """Lost hosts that answer again (re-armed, ``on_back`` run for each)."""
        with self._lock:
            candidates = list(self.lost)
        back = []
        for host_id in candidates:
            try:
                self._arm(host_id)
            except ActuatorError:
                continue  # still down
            with self._lock:
                self.lost.pop(host_id, None)
            back.append(host_id)
            if self.on_back is not None:
                self.on_back(host_id)
        return back

    def stop(self) -> None:
        for conn in self._armed.values():
            with contextlib.suppress(libvirt.libvirtError):
                conn.unregisterCloseCallback()
        self._armed.clear()
