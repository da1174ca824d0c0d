"""The reconciler's judgement, pure: PostgreSQL's rows and one look at libvirt in, the row
changes that make PostgreSQL say what libvirt says and the events that explain them out.

PostgreSQL records what libvirt reports (a VM's state, host, vCPUs and memory) and never the
other way round; the operator's intent (``desired_state``) is read, never written. Every
change that is not a plain observed fact is an event with its reason, and an event is emitted
once per change: a second pass over an unchanged fleet yields none (``Memory`` carries what
the rows cannot say, such as which drift was already reported).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from novacron.events import FleetChange
from novacron.observation import DomainObservation, FleetObservation

VANISHED, UNKNOWN, DELETED = "vanished", "unknown", "deleted"
# Rows that by their state have no copy anywhere: missing from libvirt is what they expect.
GONE_STATES = frozenset({VANISHED, DELETED, "failed"})
HOST_UP, HOST_UNREACHABLE = "up", "unreachable"
# A copy with a QEMU process behind it: two of these at once is a split brain.
ACTIVE_STATES = frozenset({"running", "blocked", "paused", "shutting-down", "suspended"})
# Which observed states meet an intent ("blocked" is a running guest waiting on I/O).
_MEETS = {"running": frozenset({"running", "blocked"}), "stopped": frozenset({"stopped"})}
# What the API can address (its ID_PATTERN): other domain names are left out of PostgreSQL.
_ADDRESSABLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")


@dataclass(frozen=True, slots=True)
class HostRow:
    host_id: str
    state: str
    vcpus: int
    memory_mib: int


@dataclass(frozen=True, slots=True)
class VmRow:
    vm_id: str
    host_id: str | None
    state: str
    desired_state: str | None
    vcpus: int
    memory_mib: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Stored:
    """The rows the judgement needs, read under the placement lock."""

    hosts: Mapping[str, HostRow]
    vms: Mapping[str, VmRow]
    # vm id -> when its newest placement without an outcome was decided
    placing: Mapping[str, datetime] = field(default_factory=dict)
    # target id -> when its newest decision was queued for the actuators (decision_outbox)
    acting: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    # A placement or decision younger than this is still being carried out: its VM may not
    # be defined yet (or be between hosts), so it is not judged vanished and drift waits.
    in_flight_s: float = 120.0
    # A drift that did not start by the VM leaving its intent (the intent changed, or the VM
    # came back from unknown) is reported only once it lasted this long: the actuators are
    # usually still carrying the intent out.
    drift_grace_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Memory:
    """What earlier passes reported that the rows do not show."""

    drift: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # vm -> (desired, observed)
    drift_seen: Mapping[str, tuple[str, str, datetime]] = field(default_factory=dict)  # not yet reported
    split: Mapping[str, str] = field(default_factory=dict)  # vm -> the copies last reported


@dataclass(frozen=True, slots=True)
class HostWrite:
    host_id: str
    insert: bool
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class VmWrite:
    vm_id: str
    insert: bool
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class EventRecord:
    change: FleetChange
    reason: str
    host_id: str | None
    vm_id: str | None
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Plan:
    hosts: tuple[HostWrite, ...]
    vms: tuple[VmWrite, ...]
    events: tuple[EventRecord, ...]
    memory: Memory
    # VM rows written after the look began: newer than what was seen, judged next pass.
    deferred: tuple[str, ...] = ()
    # Domains left out of PostgreSQL because the API could not address them by name.
    unaddressable: tuple[str, ...] = ()


def meets(desired: str, observed: str) -> bool:
    return observed in _MEETS.get(desired, frozenset({desired}))


Copy = tuple[str, DomainObservation]  # host id, the domain there


def relevant_copies(copies: list[Copy]) -> list[Copy]:
    """A transient, inactive copy next to a real one is an incoming migration, not a copy."""
    real = [c for c in copies if c[1].persistent or c[1].state in ("running", "blocked")]
    return real or copies


class _Pass:
    def __init__(self, stored: Stored, obs: FleetObservation, memory: Memory, now: datetime,
                 config: Config) -> None:
        self.stored, self.obs, self.now, self.cfg = stored, obs, now, config
        self.reach = obs.reachable
        self.old = memory
        self.drift = dict(memory.drift)
        self.drift_seen = dict(memory.drift_seen)
        self.split = dict(memory.split)
        self.host_writes: list[HostWrite] = []
        self.vm_writes: list[VmWrite] = []
        self.host_events: list[EventRecord] = []
        self.vm_events: list[EventRecord] = []
        self.deferred: list[str] = []
        self.unaddressable: list[str] = []
        self.unknown_on: dict[str, list[str]] = {}

    def event(self, change: FleetChange, reason: str, host_id: str | None, vm_id: str | None,
              **detail: Any) -> None:
        rec = EventRecord(change, reason, host_id, vm_id, detail)
        (self.vm_events if vm_id is not None else self.host_events).append(rec)

    def in_flight(self, vm_id: str) -> str | None:
        """Why the VM may legitimately be missing or off its intent right now, if it may."""
        limit = self.cfg.in_flight_s
        at = self.stored.placing.get(vm_id)
        if at is not None and (self.now - at).total_seconds() < limit:
            return f"its placement of {at.isoformat()} has no outcome yet"
        at = self.stored.acting.get(vm_id)
        if at is not None and (self.now - at).total_seconds() < limit:
            return f"a decision for it was queued at {at.isoformat()}"
        return None

    # -- VMs -------------------------------------------------------------------------------

    def run(self) -> Plan:
        copies: dict[str, list[Copy]] = {}
        for host_id in sorted(self.reach):
            for dom in self.obs.hosts[host_id].domains.values():
                copies.setdefault(dom.name, []).append((host_id, dom))
        for vm_id in sorted(self.stored.vms):
            row = self.stored.vms[vm_id]
            found = copies.pop(vm_id, None)
            if row.state == DELETED:
                continue  # its operator deleted it; libvirt's copy is on its way out
            if row.updated_at >= self.obs.started_at:
                self.deferred.append(vm_id)
                continue
            if found:
                self.found(row, relevant_copies(found))
            else:
                self.missing(row)
        for name in sorted(copies):
            self.discovered(name, relevant_copies(copies[name]))
        self.hosts()
        known = set(self.stored.vms) | {w.vm_id for w in self.vm_writes if w.insert}
        return Plan(
            hosts=tuple(self.host_writes), vms=tuple(self.vm_writes),
            events=tuple(self.host_events + self.vm_events),
            memory=Memory(drift={k: v for k, v in self.drift.items() if k in known},
                          drift_seen={k: v for k, v in self.drift_seen.items() if k in known},
                          split={k: v for k, v in self.split.items() if k in known}),
            deferred=tuple(self.deferred), unaddressable=tuple(self.unaddressable))

    def missing(self, row: VmRow) -> None:
        host = row.host_id
        if host is None or host not in self.obs.hosts or row.state in GONE_STATES:
            return  # never placed, on a host this fleet does not manage, or already gone
        self.split.pop(row.vm_id, None)
        if host not in self.reach:
            if row.state != UNKNOWN:
                self.vm_writes.append(VmWrite(row.vm_id, False, {"state": UNKNOWN}))
                self.unknown_on.setdefault(host, []).append(row.vm_id)
            return
        if self.in_flight(row.vm_id) is not None:
            return  # being defined (or moved) right now: not there yet is expected
        others = sorted(set(self.obs.hosts) - self.reach)
        reason = (f"{row.vm_id} was {row.state} on {host}, which answered without it, and no "
                  "reachable host defines it")
        if others:
            reason += f" (not asked: {', '.join(others)}, unreachable)"
        self.vm_writes.append(VmWrite(row.vm_id, False, {"state": VANISHED}))
        self.event(FleetChange.VANISHED, reason, host, row.vm_id, last_state=row.state,
                   last_host=host, unreachable_hosts=others)

    def found(self, row: VmRow, copies: list[Copy]) -> None:
        where = self.locate(row.vm_id, row.host_id, copies)
        if where is None:
            return
        host, dom = where
        values: dict[str, Any] = {}
        before = len(self.vm_events)
        if row.state in GONE_STATES:
            self.event(FleetChange.REAPPEARED,
                       f"{row.vm_id}, recorded {row.state}, is defined on {host} again ({dom.state})",
                       host, row.vm_id, previous_state=row.state, previous_host=row.host_id,
                       state=dom.state)
        elif row.host_id != host:
            self.event(FleetChange.MOVED,
                       f"{row.vm_id} was recorded on {row.host_id or 'no host'} and is on {host}",
                       host, row.vm_id, **{"from": row.host_id, "to": host, "state": dom.state})
        if row.host_id != host:
            values["host_id"] = host
        if row.state != dom.state:
            values["state"] = dom.state
        resized = {}
        if row.vcpus != dom.vcpus:
            resized["vcpus"] = [row.vcpus, dom.vcpus]
            values["vcpus"] = dom.vcpus
        if row.memory_mib != dom.memory_mib:
            resized["memory_mib"] = [row.memory_mib, dom.memory_mib]
            values["memory_mib"] = dom.memory_mib
        self.judge_drift(row, host, dom.state)
        if resized:  # an observed fact, updated quietly; told where an event says more
            for i in range(before, len(self.vm_events)):
                ev = self.vm_events[i]
                self.vm_events[i] = EventRecord(ev.change, ev.reason, ev.host_id, ev.vm_id,
                                                {**ev.detail, "resized": resized})
        if values:
            self.vm_writes.append(VmWrite(row.vm_id, False, values))

    def locate(self, vm_id: str, recorded: str | None, copies: list[Copy]) -> Copy | None:
        """The one copy that is the VM, or None (reported) when there is no single one."""
        states = {h: d.state for h, d in copies}
        active = [c for c in copies if c[1].state in ACTIVE_STATES]
        on = {h for h, _ in copies}
        chosen: Copy | None
        if len(active) == 1:
            chosen = active[0]
        elif not active and recorded in on:
            chosen = next(c for c in copies if c[0] == recorded)
        elif not active and len(copies) == 1:
            chosen = copies[0]
        else:
            chosen = None
        if chosen is None:
            sig = "duplicate:" + ",".join(sorted(on))
            if self.split.get(vm_id) != sig:
                what = (f"active on {len(active)} hosts" if active
                        else f"defined on {len(copies)} hosts, none of them {recorded or 'recorded'}")
                self.event(FleetChange.DUPLICATE,
                           f"{vm_id} is {what} ({_copies(states)}): a split brain to fence; "
                           f"its record stays on {recorded or 'no host'}",
                           recorded, vm_id, copies=states, recorded_host=recorded)
            self.split[vm_id] = sig
            return None
        stale = {h: s for h, s in states.items() if h != chosen[0]}
        if stale:
            sig = "stale:" + ",".join(sorted(stale))
            if self.split.get(vm_id) != sig:
                self.event(FleetChange.STALE_COPY,
                           f"{vm_id} is {chosen[1].state} on {chosen[0]} and also defined on "
                           f"{_copies(stale)}: a copy that could be started twice",
                           chosen[0], vm_id, copies=states, host=chosen[0])
            self.split[vm_id] = sig
        else:
            self.split.pop(vm_id, None)
        return chosen

    def judge_drift(self, row: VmRow, host: str, observed: str) -> None:
        vm, desired = row.vm_id, row.desired_state
        reported = self.drift.get(vm)
        if desired is None or meets(desired, observed):
            self.drift_seen.pop(vm, None)
            if reported is not None:
                del self.drift[vm]
                why = (f"{vm} is {observed}, as desired" if desired is not None
                       else f"{vm} no longer has a desired state")
                self.event(FleetChange.DRIFT_RESOLVED, why, host, vm, desired=desired,
                           observed=observed, was=list(reported))
            return
        pair = (desired, observed)
        if reported == pair:
            return
        seen = self.drift_seen.get(vm)
        first = seen[2] if seen is not None and seen[:2] == pair else self.now
        left = meets(desired, row.state)  # it met its intent when last recorded, and left it
        waited = (self.now - first).total_seconds() >= self.cfg.drift_grace_s
        if self.in_flight(vm) is None and (left or reported is not None or waited):
            self.drift_seen.pop(vm, None)
            self.drift[vm] = pair
            self.event(FleetChange.STATE_DRIFT,
                       f"desired {desired}, observed {observed} on {host} (recorded {row.state})",
                       host, vm, desired=desired, observed=observed, previous=row.state)
        else:
            self.drift_seen[vm] = (desired, observed, first)

    def discovered(self, name: str, copies: list[Copy]) -> None:
        if not _ADDRESSABLE.match(name):
            self.unaddressable.append(name)
            return
        if self.in_flight(name) is not None:
            return  # a decision about it is being carried out (e.g. its deletion)
        where = self.locate(name, None, copies)
        host, dom = where if where is not None else (None, copies[0][1])
        self.vm_writes.append(VmWrite(name, True, {
            "host_id": host, "state": dom.state, "vcpus": dom.vcpus, "memory_mib": dom.memory_mib,
            "labels": dict(dom.labels)}))
        place = host or f"{len(copies)} hosts"
        self.event(FleetChange.DISCOVERED,
                   f"{name} is defined on {place} ({dom.state}) and PostgreSQL did not know it",
                   host, name, state=dom.state, vcpus=dom.vcpus, memory_mib=dom.memory_mib,
                   labels=dict(dom.labels), persistent=dom.persistent)

    # -- hosts -----------------------------------------------------------------------------

    def hosts(self) -> None:
        for host_id in sorted(self.obs.hosts):
            o = self.obs.hosts[host_id]
            row = self.stored.hosts.get(host_id)
            if row is None:
                if o.reachable:  # an unreachable one is added once it answers with its size
                    self.host_writes.append(HostWrite(host_id, True, {
                        "uri": o.uri, "labels": dict(o.labels), "state": HOST_UP,
                        "vcpus": o.vcpus, "memory_mib": o.memory_mib}))
                    self.event(FleetChange.HOST_ADDED,
                               f"inventory host {host_id} answered and PostgreSQL did not know it",
                               host_id, None, vcpus=o.vcpus, memory_mib=o.memory_mib,
                               domains=len(o.domains))
                continue
            # A known host's size is the inventory sync's (store.repository.sync_hosts: the
            # inventory's word over libvirt's), never rewritten here; only reachability is.
            values: dict[str, Any] = {}
            if o.reachable:
                if row.state == HOST_UNREACHABLE:
                    values["state"] = HOST_UP
                    self.event(FleetChange.HOST_UP, f"host {host_id} answers again", host_id, None,
                               domains=len(o.domains))
            elif row.state == HOST_UP:
                values["state"] = HOST_UNREACHABLE
                unknown = self.unknown_on.get(host_id, [])
                self.event(FleetChange.HOST_UNREACHABLE,
                           f"host {host_id} did not answer ({o.error}); the state of its "
                           f"{len(unknown)} VM(s) is unknown until it does", host_id, None,
                           error=o.error, vms_unknown=unknown)
            if values:
                self.host_writes.append(HostWrite(host_id, False, values))


def _copies(states: Mapping[str, str]) -> str:
    return ", ".join(f"{h}: {s}" for h, s in sorted(states.items()))


def plan(stored: Stored, obs: FleetObservation, memory: Memory, now: datetime,
         config: Config | None = None) -> Plan:
    """The changes and events that bring ``stored`` in line with ``obs`` at ``now``."""
    return _Pass(stored, obs, memory, now, config or Config()).run()


def memory_from_events(latest: Mapping[str, tuple[FleetChange, Mapping[str, Any]]]) -> Memory:
    """Rebuild what was reported from each VM's latest drift event (state-drift or
    drift-resolved), so a restarted reconciler does not report a standing drift again."""
    drift = {vm: (str(d["desired"]), str(d["observed"])) for vm, (change, d) in latest.items()
             if change == FleetChange.STATE_DRIFT and "desired" in d and "observed" in d}
    return Memory(drift=drift)
