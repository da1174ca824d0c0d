"""libvirt connections, one per host URI, reopened when they drop."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field

import libvirt
from novacron.actuators.eventloop import ensure_event_loop
from novacron.actuators.xml import DomainSpec

# libvirt prints every error to stderr by default; we raise and report them ourselves.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


class ActuatorError(RuntimeError):
    """An operation could not be carried out; the message says what to check."""


@dataclass
class HostConnection:
    host_id: str
    uri: str
    labels: dict[str, str] = field(default_factory=dict)
    _conn: libvirt.virConnect | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Set by a close() that found a connect in progress (it holds the lock while libvirt
    # blocks on a dead host): the connecting thread closes what it opens instead.
    _abandoned: bool = False

    def get(self) -> libvirt.virConnect:
        with self._lock:
            if self._conn is not None:
                try:
                    if self._conn.isAlive():
                        return self._conn
                except libvirt.libvirtError:
                    pass
            ensure_event_loop()  # before opening, or this connection delivers no events
            try:
                conn = libvirt.open(self.uri)
            except libvirt.libvirtError as exc:
                raise ActuatorError(f"cannot connect to host {self.host_id} at {self.uri}: {exc}") from exc
            if self._abandoned:
                self._abandoned = False
                with contextlib.suppress(libvirt.libvirtError):
                    conn.close()
                raise ActuatorError(f"host {self.host_id}: the connection was closed while connecting")
            self._conn = conn
            if not self.uri.startswith("test:"):
                # Detect dead peers within ~15 s (vSphere HA's silence threshold).
                self._conn.setKeepAlive(5, 3)
            return self._conn

    def close(self, wait_s: float = 1.0) -> None:
        """Close the connection. A connect blocked on a dead host holds the lock: then the
        connecting thread is told to close what it opens, and this returns at once rather
        than hang a shutdown on that host."""
        if not self._lock.acquire(timeout=wait_s):
            self._abandoned = True
            return
        try:
            if self._conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn.close()
                self._conn = None
        finally:
            self._lock.release()


class Fleet:
    """The hosts an actuator manages: host id -> connection."""

    def __init__(self, hosts: list[HostConnection], specs: dict[str, DomainSpec] | None = None) -> None:
        self.hosts: dict[str, HostConnection] = {h.host_id: h for h in hosts}
        # The last known spec of each VM: what a cold migration defines on the target when the
        # source host cannot be read any more (it is down, and fenced).
        self.specs: dict[str, DomainSpec] = dict(specs or {})

    def lookup(self, host_id: str, vm_id: str) -> libvirt.virDomain | None:
        """The domain on that host, or None when it is not defined there. Raises
        :class:`ActuatorError` when the host cannot be reached."""
        try:
            return self.host(host_id).get().lookupByName(vm_id)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise ActuatorError(f"host {host_id}: looking up {vm_id}: {exc}") from exc

    def host(self, host_id: str) -> HostConnection:
        try:
            return self.hosts[host_id]
        except KeyError:
            raise ActuatorError(f"unknown host {host_id!r}; managed: {sorted(self.hosts)}") from None

    def find_domain(self, vm_id: str, host_id: str | None = None) -> tuple[HostConnection, libvirt.virDomain]:
        """Find a VM by name, on the given host or (when unknown) on any managed host."""
        candidates = [self.host(host_id)] if host_id else list(self.hosts.values())
        for h in candidates:
            try:
                return h, h.get().lookupByName(vm_id)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise ActuatorError(f"host {h.host_id}: looking up {vm_id}: {exc}") from exc
        where = host_id or "any managed host"
        raise ActuatorError(f"VM {vm_id!r} not found on {where}")

    def close(self) -> None:
        for h in self.hosts.values():
            h.close()
