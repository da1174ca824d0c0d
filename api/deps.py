"""Shared dependencies: a database session per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from novacron.store.db import session_factory
from sqlalchemy.orm import Session

from novacron.settings import get_settings


def db() -> Iterator[Session]:
    """A session whose transaction commits when the route returns normally."""
    with session_factory(get_settings().database_url).begin() as s:
        yield s


DB = Annotated[Session, Depends(db)]
