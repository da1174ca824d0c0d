"""Recent forecast accuracy per series, to decide when a forecast is not worth following.

The caller records, for each observation, what the forecast said for that moment (point and
upper bound at the lead time) and what happened. A forecast is *poor* once enough samples are
in and either its upper bound covers too few actuals (the scaler relies on that bound) or its
point error is well above that of the naive "no change" forecast at the same lead.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class AccuracyTracker:
    window: int = 48
    min_samples: int = 12
    min_upper_coverage: float = 0.6
    max_relative_mae: float = 1.5
    _rows: deque[tuple[float, float, float, float]] = field(default_factory=deque)

    def record(self, point: float, upper: float, naive: float, actual: float) -> None:
        self._rows.append((point, upper, naive, actual))
        while len(self._rows) > self.window:
            self._rows.popleft()

    def rows(self) -> list[tuple[float, float, float, float]]:
        """(point, upper, naive, actual) per observation, oldest first: what a caller keeps
        between events to rebuild the tracker (``record`` them again)."""
        return list(self._rows)

    def coverage(self) -> float:
        if not self._rows:
            return 1.0
        return sum(1 for _, u, _, a in self._rows if a <= u) / len(self._rows)

    def relative_mae(self) -> float:
        err = sum(abs(p - a) for p, _, _, a in self._rows)
        naive = sum(abs(n - a) for _, _, n, a in self._rows)
        if naive <= 1e-12:
            return 1.0 if err <= 1e-12 else float("inf")
        return err / naive

    def poor_reason(self) -> str | None:
        """Why the forecast should not be followed now, or None when it is fine."""
        if len(self._rows) < self.min_samples:
            return None
        cov = self.coverage()
        if cov < self.min_upper_coverage:
            return (
                f"forecast accuracy poor: its upper bound covered {cov:.0%} of the last "
                f"{len(self._rows)} observations (< {self.min_upper_coverage:.0%})"
            )
        rel = self.relative_mae()
        if rel > self.max_relative_mae:
            return (
                f"forecast accuracy poor: its error is {rel:.2f}x that of a no-change "
                f"forecast over the last {len(self._rows)} observations"
            )
        return None
