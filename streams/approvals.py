"""The actuator side of operator control, as plain functions the agent runs in a thread.

``act`` carries out one decision under the global pause switch as stored in PostgreSQL (so an
operator's ``POST /v2/pause`` reaches the running workers) and parks, in ``pending_decisions``,
what must wait for an operator. ``take_approved`` and ``mark_dispatched`` are the two halves
of the transactional outbox that turns an approval (a row the API updated) into an approved
copy on ``novacron.decisions``: the relay publishes between them, and a copy published twice
is acted on once because its decision id is derived from the original's.
"""

from __future__ import annotations

import logging
import uuid

from novacron.actuators.approval import approved_copy, operator_wait_reason
from novacron.actuators.connection import Fleet
from novacron.actuators.executor import execute
from novacron.store import control
from novacron.store.ledger import PgLedger
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import ActionResult, ActionStatus, Decision

log = logging.getLogger(__name__)


def paused(sessions: sessionmaker[Session], forced: bool = False) -> bool:
    """The global pause as an operator set it (``forced`` is the runtime's own switch)."""
    if forced:
        return True
    with sessions() as s:
        return control.is_paused(s)


def named_hosts(decision: Decision) -> set[str]:
    """The hosts a decision names: where it acts, moves from or to."""
    named = {decision.host_id} if decision.host_id else set()
    for key in ("source_host", "target_host"):
        value = decision.params.get(key)
        if isinstance(value, str) and value:
            named.add(value)
    return named


def manages(fleet: Fleet, decision: Decision) -> bool:
    """Whether this worker's actuators should take ``decision``: it names no host (found on
    whichever managed host holds it), or at least one it names is managed here. A worker that
    manages other hosts leaves it alone, unclaimed, for the worker that does: claiming it in
    the shared ledger would make that one skip it as already handled."""
    named = named_hosts(decision)
    return not named or bool(named & set(fleet.hosts))


def act(decision: Decision, fleet: Fleet, sessions: sessionmaker[Session],
        forced_pause: bool = False) -> ActionResult | None:
    """Execute ``decision`` once; if it has to wait for an operator, park it for approval.
    None for a duplicate already handled, and for a decision about hosts this worker does not
    manage (``manages``)."""
    if not manages(fleet, decision):
        return None
    stopped = paused(sessions, forced_pause)
    result = execute(decision, fleet, PgLedger(sessions), stopped)
    if result is not None and result.status == ActionStatus.SKIPPED:
        reason = operator_wait_reason(decision, stopped)
        if reason is not None:
            with sessions.begin() as s:
                control.add_pending(s, decision.decision_id, decision.action.value, decision.target_id,
                                    decision.model_dump(mode="json"), reason)
    return result


def take_approved(sessions: sessionmaker[Session], limit: int = 100
                  ) -> tuple[list[Decision], list[uuid.UUID]]:
    """(approved copies to publish, ids of the originals to mark once published). A stored
    decision that no longer validates (an older schema) is marked too, with a warning, so one
    bad row cannot block the relay."""
    copies: list[Decision] = []
    done: list[uuid.UUID] = []
    with sessions() as s:
        for row in control.approved_to_dispatch(s, limit):
            try:
                original = Decision.model_validate(row.decision)
            except ValidationError as exc:
                log.warning("approved decision %s cannot be read back (%s); not dispatched",
                            row.decision_id, exc.errors()[0]["msg"])
                done.append(row.decision_id)
                continue
            copies.append(approved_copy(original, row.resolved_by or "an operator", row.comment))
            done.append(row.decision_id)
    return copies, done


def mark_dispatched(sessions: sessionmaker[Session], decision_ids: list[uuid.UUID]) -> None:
    with sessions.begin() as s:
        control.mark_dispatched(s, decision_ids)
