"""Every operation runs against a deadline: waits poll the domain state, never sleep blindly."""

from __future__ import annotations

import time
from collections.abc import Callable

from novacron.actuators.connection import ActuatorError


class ActuatorTimeout(ActuatorError):
    """The operation did not reach its state within its time budget."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.budget_s = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def check(self, what: str) -> None:
        if self.expired():
            raise ActuatorTimeout(f"{what}: time budget of {self.budget_s:.0f}s exhausted")

    def sub(self, seconds: float) -> Deadline:
        """A shorter deadline inside this one (e.g. the graceful part of a shutdown)."""
        return Deadline(min(seconds, self.left()))


def wait_until(ok: Callable[[], bool], deadline: Deadline, what: str,
               interval_s: float = 0.02) -> None:
    """Poll ``ok`` until true; raise :class:`ActuatorTimeout` at the deadline."""
    while not ok():
        if deadline.expired():
            raise ActuatorTimeout(f"{what}: not reached within {deadline.budget_s:.1f}s")
        time.sleep(min(interval_s, max(0.001, deadline.left())))
