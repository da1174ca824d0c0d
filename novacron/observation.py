"""What one look at the libvirt fleet saw: per host, reachable or why not, and its domains.

Plain values with no libvirt in them, so the reconciler's pure core can take them (the
actuators build them: novacron.actuators.observe)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DomainObservation:
    name: str
    # NovaCron's vocabulary: running, paused, stopped (libvirt's shutoff), crashed,
    # shutting-down, blocked, suspended.
    state: str
    vcpus: int
    memory_mib: int  # the current allocation (balloon target), not the maximum
    labels: Mapping[str, str] = field(default_factory=dict)  # NovaCron metadata labels
    # False for a transient domain: an incoming migration's copy until it completes.
    persistent: bool = True


@dataclass(frozen=True, slots=True)
class HostObservation:
    host_id: str
    uri: str
    labels: Mapping[str, str]
    reachable: bool
    error: str | None = None  # why it could not be read, when it could not
    vcpus: int | None = None  # libvirt's node info, when reachable
    memory_mib: int | None = None
    domains: Mapping[str, DomainObservation] = field(default_factory=dict)
    elapsed_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class FleetObservation:
    # When the look began: a database row written after this is newer than what was seen.
    started_at: datetime
    hosts: Mapping[str, HostObservation]

    @property
    def reachable(self) -> frozenset[str]:
        return frozenset(h for h, o in self.hosts.items() if o.reachable)
