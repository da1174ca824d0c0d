"""Safety guards: fencing, restart caps with back-off, circuit breakers on mass action, and
restart priority. Each guard answers with a typed :class:`Verdict`, never a bare bool, so the
healer can say why it held back and until when.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol, TypeVar

# ---------------------------------------------------------------- fencing


@dataclass(frozen=True, slots=True)
class FenceRequest:
    """Make sure ``target_id`` (a VM on ``host_id``, or the whole host) runs nothing."""

    scope: Literal["vm", "host"]
    target_id: str
    host_id: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class FenceResult:
    request: FenceRequest
    fenced: bool  # True only with positive proof that the old copy is dead
    method: str
    detail: str = ""


class Fencer(Protocol):
    """A fencing driver (libvirt destroy, IPMI/Redfish power-off...). Must be idempotent:
    fencing an already dead target succeeds."""

    def fence(self, request: FenceRequest) -> FenceResult: ...


class TestFencer:
    """An in-memory fencer for tests and simulation: targets in ``fail`` cannot be fenced."""

    __test__ = False  # not a pytest class

    def __init__(self, fail: Collection[str] = ()) -> None:
        self.fail: set[str] = set(fail)
        self.calls: list[FenceRequest] = []
        self.fenced: set[str] = set()

    def fence(self, request: FenceRequest) -> FenceResult:
        self.calls.append(request)
        if request.target_id in self.fail or request.host_id in self.fail:
            return FenceResult(request, False, "test", "fence device did not confirm power-off")
        self.fenced.add(request.target_id)
        return FenceResult(request, True, "test", "confirmed off")


# ---------------------------------------------------------------- verdicts


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str
    retry_at: datetime | None = None
    terminal: bool = False  # no retry will help: hand over to an operator

    @staticmethod
    def ok(reason: str = "within limits") -> Verdict:
        return Verdict(True, reason)


# ---------------------------------------------------------------- restart cap and back-off


@dataclass(frozen=True, slots=True)
class RestartSettings:
    max_restarts: int = 3  # per window, like vSphere HA's VM reset cap
    window_s: float = 3600.0
    backoff_base_s: float = 10.0
    backoff_factor: float = 2.0
    backoff_max_s: float = 600.0


class RestartLimiter:
    """Caps boots per VM per window, spacing them with exponential back-off; past the cap the
    answer is terminal so a crash loop becomes ``needs-operator`` instead of a restart storm."""

    def __init__(self, settings: RestartSettings | None = None) -> None:
        self.s = settings or RestartSettings()
        self._boots: dict[str, deque[datetime]] = {}

    def _recent(self, vm_id: str, now: datetime) -> deque[datetime]:
        q = self._boots.setdefault(vm_id, deque())
        while q and (now - q[0]).total_seconds() > self.s.window_s:
            q.popleft()
        return q

    def check(self, vm_id: str, now: datetime) -> Verdict:
        q = self._recent(vm_id, now)
        n = len(q)
        if n >= self.s.max_restarts:
            return Verdict(False, f"{n} restarts within {self.s.window_s:.0f}s "
                                  f"(cap {self.s.max_restarts})", terminal=True)
        if n == 0:
            return Verdict.ok("first restart in the window")
        wait = min(self.s.backoff_max_s, self.s.backoff_base_s * self.s.backoff_factor ** (n - 1))
        ready = q[-1] + timedelta(seconds=wait)
        if now < ready:
            return Verdict(False, f"back-off {wait:.0f}s after restart {n}", retry_at=ready)
        return Verdict.ok(f"restart {n + 1} of {self.s.max_restarts} after {wait:.0f}s back-off")

    def record(self, vm_id: str, at: datetime) -> None:
        self._recent(vm_id, at).append(at)

    def clear(self, vm_id: str) -> None:
        self._boots.pop(vm_id, None)


# ---------------------------------------------------------------- circuit breakers


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    # Below this share of hosts visible to the controller, the controller is the likely
    # problem (or the network): evacuating would make it worse.
    min_healthy_share: float = 0.6
    max_migrations_per_host: int = 4
    max_migrations_per_cluster: int = 12
    max_evacuations_per_window: int = 2
    evacuation_window_s: float = 600.0


@dataclass(slots=True)
class _Move:
    source: str | None  # None when the source is dead (no load on it)
    target: str


class MassActionBreaker:
    """Circuit breakers against mass action: healthy share, concurrent moves, evacuations."""

    def __init__(self, settings: BreakerSettings | None = None) -> None:
        self.s = settings or BreakerSettings()
        self._moves: dict[object, _Move] = {}
        self._evacuations: deque[tuple[datetime, str]] = deque()

    # Evacuations (acting on a whole failed host).
    def check_evacuation(self, host_id: str, healthy: int, total: int, now: datetime) -> Verdict:
        share = healthy / total if total else 0.0
        if share < self.s.min_healthy_share:
            return Verdict(False, f"only {healthy}/{total} hosts healthy ({share:.0%} < "
                                  f"{self.s.min_healthy_share:.0%}): suspect the network")
        while self._evacuations and (
            (now - self._evacuations[0][0]).total_seconds() > self.s.evacuation_window_s
        ):
            self._evacuations.popleft()
        if any(h == host_id for _, h in self._evacuations):
            return Verdict.ok("evacuation of this host already admitted")
        if len(self._evacuations) >= self.s.max_evacuations_per_window:
            retry = self._evacuations[0][0] + timedelta(seconds=self.s.evacuation_window_s)
            return Verdict(False, f"{len(self._evacuations)} host evacuations within "
                                  f"{self.s.evacuation_window_s:.0f}s", retry_at=retry)
        return Verdict.ok(f"{healthy}/{total} hosts healthy")

    def record_evacuation(self, host_id: str, at: datetime) -> None:
        if not any(h == host_id for _, h in self._evacuations):
            self._evacuations.append((at, host_id))

    # Concurrent moves (live/cold migrations, restarts elsewhere).
    def in_flight(self, host_id: str | None = None) -> int:
        if host_id is None:
            return len(self._moves)
        return sum(1 for m in self._moves.values() if host_id in (m.source, m.target))

    def check_move(self, source: str | None, target: str) -> Verdict:
        if len(self._moves) >= self.s.max_migrations_per_cluster:
            return Verdict(False, f"{len(self._moves)} moves in flight in the cluster "
                                  f"(max {self.s.max_migrations_per_cluster})")
        for host in (source, target):
            if host is not None and self.in_flight(host) >= self.s.max_migrations_per_host:
                return Verdict(False, f"{self.in_flight(host)} moves in flight on {host} "
                                      f"(max {self.s.max_migrations_per_host})")
        return Verdict.ok()

    def start_move(self, key: object, source: str | None, target: str) -> None:
        self._moves[key] = _Move(source, target)

    def finish_move(self, key: object) -> None:
        self._moves.pop(key, None)


# ---------------------------------------------------------------- priority


class _Prioritised(Protocol):
    @property
    def priority(self) -> int: ...

    @property
    def vm_id(self) -> str: ...


P = TypeVar("P", bound=_Prioritised)


def restart_order(vms: Iterable[P]) -> list[P]:
    """Who restarts first when capacity is short: higher priority, then smaller id (stable)."""
    return sorted(vms, key=lambda v: (-v.priority, v.vm_id))

