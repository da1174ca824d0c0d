"""The placement use case (novacron.place_vm) as the API calls it: who asked, as the audit log
names them, and its typed refusals as the API's 409 and 422 bodies."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import HTTPException
from novacron.api.schemas import PlacementIn
from novacron.api.tokens import Principal
from sqlalchemy.orm import Session

from novacron import place_vm
from novacron.events import Decision

Outcome = place_vm.Outcome


def actor(who: Principal) -> str:
    return f"token:{who.token_id} ({who.name})"


@contextmanager
def as_http() -> Iterator[None]:
    """A refusal of the use case as the HTTP error it has always been."""
    try:
        yield
    except place_vm.PlacementError as exc:
        raise HTTPException(exc.status_code, exc.detail) from exc


def place(session: Session, body: PlacementIn, who: Principal, *, tags: Sequence[str] = (),
          start: bool = True, require_applied: bool = False) -> Outcome:
    with as_http():
        return place_vm.place(session, body, actor(who), tags=tags, start=start,
                              require_applied=require_applied)


def apply_to_host(session: Session, decision_id: uuid.UUID, request: dict[str, Any], host_id: str,
                  who: Principal) -> Decision:
    with as_http():
        return place_vm.apply_to_host(session, decision_id, request, host_id, actor(who))
