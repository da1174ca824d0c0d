"""The values the decision functions take and return. Plain frozen dataclasses: the caller
(a stream agent or the simulator) keeps the state between calls; nothing here does I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from novacron.events import Forecast


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


class Rule(StrEnum):
    PREDICTIVE = "predictive"  # driven by the forecast's upper bound
    GUARD = "predictive-guard"  # forecast available, but measured load already above it
    REACTIVE = "reactive"  # fallback: no forecast, or a forecast with poor recent accuracy


@dataclass(frozen=True, slots=True)
class ForecastView:
    """A demand forecast in capacity units (1.0 = one replica, or one vCPU, fully busy).

    ``point``/``upper`` are the steps after the observation, ``step_s`` apart. ``upper_down``,
    when given, is a bound at a higher level that scale-downs must respect (removing capacity
    is the costlier mistake: what comes back within the boot time cannot be served)."""

    point: tuple[float, ...]
    upper: tuple[float, ...]
    step_s: float
    level: float = 0.8
    model: str = "unknown"
    model_version: str = "unknown"
    event_id: str | None = None
    upper_down: tuple[float, ...] | None = None
    level_down: float | None = None
    down_note: str | None = None  # why ``upper_down`` is at ``level_down`` (for explanations)

    def __post_init__(self) -> None:
        if not self.point or len(self.point) != len(self.upper):
            raise ValueError("point and upper must be non-empty and of equal length")
        if self.upper_down is not None and len(self.upper_down) != len(self.upper):
            raise ValueError("upper_down must be as long as upper")
        if self.step_s <= 0:
            raise ValueError("step_s must be positive")

    def steps(self, seconds: float) -> int:
        """How many forecast steps cover ``seconds`` (at least one, at most all)."""
        return max(1, min(len(self.point), -int(-seconds // self.step_s)))

    @classmethod
    def from_event(
        cls, forecast: Forecast, allocated: float, upper_down: Sequence[float] | None = None,
        level_down: float | None = None, down_note: str | None = None, *,
        peak_upper: Sequence[float] | None = None, peak_upper_down: Sequence[float] | None = None,
    ) -> ForecastView:  # fmt: skip
        """From a live Forecast of utilisation (% of ``allocated`` units) to demand units;
        ``upper_down`` is the served upper bound at ``level_down``, in % too (``down_note``:
        why that level, for the explanation). ``peak_upper`` / ``peak_upper_down``, in % and
        as long as the forecast, are bounds on the peak to come at the same two levels
        (``online.peak_bound_now``): each bound becomes the higher of the two, step by step."""
        k = allocated / 100.0
        n = len(forecast.upper)
        for name, extra in (("peak_upper", peak_upper), ("peak_upper_down", peak_upper_down)):
            if extra is not None and len(extra) != n:
                raise ValueError(f"{name} must be as long as the forecast ({n} steps)")
        up = list(forecast.upper)
        if peak_upper is not None:
            up = [max(u, p) for u, p in zip(up, peak_upper, strict=True)]
        down = None
        if upper_down is not None:
            served = (upper_down if peak_upper_down is None
                      else [max(u, p) for u, p in zip(upper_down, peak_upper_down, strict=True)])  # fmt: skip
            down = tuple(max(0.0, u * k, v * k) for u, v in zip(served, up, strict=True))
        model = forecast.model + ("+conformal_peak" if peak_upper is not None else "")
        return cls(
            point=tuple(max(0.0, p * k) for p in forecast.point),
            upper=tuple(max(0.0, u * k) for u in up),
            step_s=forecast.step_s,
            level=forecast.level,
            model=model,
            model_version=forecast.model_version,
            event_id=str(forecast.event_id),
            upper_down=down,
            level_down=level_down if down is not None else None,
            down_note=down_note if down is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Observation:
    """What is measured now: demand in capacity units and the capacity in force."""

    at_s: float  # event time, unix seconds
    demand: float  # capacity units in use (utilisation x ready units)
    ready: int  # units serving now
    pending: int = 0  # units ordered, still booting

    @property
    def current(self) -> int:
        return self.ready + self.pending


@dataclass(frozen=True, slots=True)
class GroupState:
    """What a scaler remembers between two observations of one group (or one VM)."""

    last_up_s: float | None = None
    last_down_s: float | None = None
    low_since_s: float | None = None  # since when the upper bound has stayed under the low mark
    spot: int = 0  # units of the current capacity that run on spot


@dataclass(frozen=True, slots=True)
class ScalingDecision:
    """An explained decision: enough to act on, to audit and to turn into an event."""

    target_id: str
    direction: Direction
    current: int
    desired: int
    rule: Rule
    at_s: float
    explanation: str
    cost_delta_per_hour: float
    spot_after: int
    trigger: dict[str, Any] = field(default_factory=dict)
    policy: str = "default"
    vertical: bool = False
    memory_unit_mib: int = 0  # > 0: a vertical memory decision, counted in units of this many MiB
    alternatives: tuple[tuple[str, str], ...] = ()

    @property
    def delta(self) -> int:
        return self.desired - self.current


@dataclass(frozen=True, slots=True)
class Step:
    """The result of one call: maybe a decision, always the state to keep."""

    decision: ScalingDecision | None
    state: GroupState
