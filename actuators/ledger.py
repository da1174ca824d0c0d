"""The action ledger contract: record a decision before acting, so each effect happens once."""

from __future__ import annotations

import uuid
from typing import Protocol

from novacron.events import ActionResult, Decision


class Ledger(Protocol):
    def claim(self, decision: Decision) -> bool:
        """Durably record the decision; False if it was already recorded."""

    def status(self, decision_id: uuid.UUID) -> str | None:
        """'claimed' (in flight or interrupted), 'succeeded', 'failed', 'skipped' or None."""

    def finish(self, result: ActionResult) -> None:
        """Record the outcome."""
