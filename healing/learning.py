"""Learning the rung order per failure class from recovery outcomes (Thompson sampling).

Trying rungs one after another until one works, the order that minimises the expected time
to recovery sorts rungs by success probability over duration (p / d, the classic result for
sequential search). We do not know p, so each rung's p is *sampled* from its Beta posterior:
rungs that keep working rise, rungs that keep failing sink, and an unlucky draw occasionally
tries a less proven rung first, which is how the order keeps learning. The prior favours
rungs working (operators picked them), so a fresh class keeps the default order almost always.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from novacron.healing.diagnosis import FailureClass
from novacron.healing.ladder import RUNG_BUDGET_S, Rung


class BetaSampler(Protocol):
    """What we need from the seeded RNG the caller passes in (``random.Random`` fits)."""

    def betavariate(self, alpha: float, beta: float, /) -> float: ...


@dataclass(slots=True)
class RungStats:
    successes: int = 0
    failures: int = 0
    duration_total_s: float = 0.0

    @property
    def trials(self) -> int:
        return self.successes + self.failures


@dataclass(frozen=True, slots=True)
class RungScore:
    rung: Rung
    sampled_success: float
    expected_duration_s: float
    successes: int
    failures: int

    @property
    def score(self) -> float:
        return self.sampled_success / self.expected_duration_s

    def describe(self) -> str:
        return (f"{self.rung.value}: sampled success {self.sampled_success:.2f} "
                f"({self.successes} ok/{self.failures} failed), expected "
                f"{self.expected_duration_s:.0f}s -> {self.score * 60:.2f} recoveries/min")


@dataclass(frozen=True, slots=True)
class RankedLadder:
    order: tuple[Rung, ...]
    scores: tuple[RungScore, ...]  # in ``order``

    def explain(self, failure: FailureClass) -> str:
        if not self.scores:
            return f"no rung applies to {failure.value}"
        first = self.scores[0]
        rest = "; ".join(s.describe() for s in self.scores[1:])
        return (f"{first.rung.value} first for {failure.value} (Thompson sample, ordering by "
                f"success per second minimises expected time to recovery): {first.describe()}"
                + (f"; then {rest}" if rest else ""))


class ThompsonLadder:
    def __init__(
        self,
        rng: BetaSampler,
        *,
        prior_successes: float = 4.0,
        prior_failures: float = 1.0,
        budgets: Mapping[Rung, float] = RUNG_BUDGET_S,
        prior_duration_weight: float = 1.0,
        order_ratio: float = 2.0,
    ) -> None:
        self.order_ratio = order_ratio
        self.rng = rng
        self.a0, self.b0 = prior_successes, prior_failures
        self.budgets = budgets
        self.w0 = prior_duration_weight
        self._stats: dict[tuple[FailureClass, Rung], RungStats] = {}

    def stats(self, failure: FailureClass, rung: Rung) -> RungStats:
        return self._stats.setdefault((failure, rung), RungStats())

    def record(self, failure: FailureClass, rung: Rung, success: bool, duration_s: float) -> None:
        st = self.stats(failure, rung)
        if success:
            st.successes += 1
        else:
            st.failures += 1
        st.duration_total_s += max(0.0, duration_s)

    def expected_duration_s(
        self, failure: FailureClass, rung: Rung, prior_s: float | None = None
    ) -> float:
        # Prior worth ``w0`` observations; failures count at the time they burnt, so a rung
        # that times out a lot looks slow as well as unreliable.
        st = self.stats(failure, rung)
        prior = self.budgets[rung] / 3.0 if prior_s is None else prior_s
        return (prior * self.w0 + st.duration_total_s) / (self.w0 + st.trials)

    def rank(self, failure: FailureClass, rungs: Sequence[Rung]) -> RankedLadder:
        scored: list[tuple[float, int, RungScore]] = []
        prior = 0.0
        for pos, rung in enumerate(rungs):
            # The configured order is the prior: each later rung is assumed at least
            # ``order_ratio`` times slower than the one before until outcomes say otherwise.
            prior = max(self.budgets[rung] / 3.0, prior * self.order_ratio)
            st = self.stats(failure, rung)
            p = self.rng.betavariate(self.a0 + st.successes, self.b0 + st.failures)
            s = RungScore(rung, p, self.expected_duration_s(failure, rung, prior),
                          st.successes, st.failures)
            scored.append((-s.score, pos, s))
        scored.sort(key=lambda t: (t[0], t[1]))
        return RankedLadder(tuple(s.rung for _, _, s in scored), tuple(s for _, _, s in scored))


@dataclass(slots=True)
class HostBootRecord:
    """Hosts where boots keep failing, learned from outcomes (any VM, any failure class).

    A restart that fails twice within the window on one host points at the host (its QEMU,
    its storage path, its firmware), not at the guest: restarting there again burns the
    rung's time for nothing, so the ladder skips the in-place restart and moves the VM, and
    such hosts go last when picking where to start a copy.
    """

    threshold: int = 2
    window_s: float = 3600.0
    _failures: dict[str, list[datetime]] = field(default_factory=dict)

    def record(self, host_id: str, at: datetime) -> None:
        self._failures.setdefault(host_id, []).append(at)

    def recent(self, host_id: str, now: datetime) -> int:
        since = now - timedelta(seconds=self.window_s)
        kept = [t for t in self._failures.get(host_id, ()) if t > since]
        if kept:
            self._failures[host_id] = kept
        else:
            self._failures.pop(host_id, None)
        return len(kept)

    def bad(self, host_id: str, now: datetime) -> bool:
        return self.recent(host_id, now) >= self.threshold
