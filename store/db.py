"""Engine, sessions and migrations. The only module that knows the database URL."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@lru_cache(maxsize=8)
def engine(url: str) -> Engine:
    # Per process: the API's request sessions (api.deps.MAX_SESSIONS), its placement thread,
    # token look-ups and audit writes, with room to spare. Connections past pool_size are
    # opened and closed per use, which under load cost more CPU than the requests themselves.
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=10)


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(engine(url), expire_on_commit=False)


@lru_cache(maxsize=8)
def placement_sessions(url: str) -> sessionmaker[Session]:
    """Sessions for the API's placement thread: its own connection, not pinged at each
    checkout (a round trip per placement batch). A connection found dead is invalidated by
    SQLAlchemy; the caller retries on a fresh one (api.deps)."""
    name = f"novacron-placement-{os.getpid()}"  # so an operator (or a test) can find it
    return sessionmaker(create_engine(url, pool_size=1, max_overflow=2, pool_pre_ping=False,
                                      connect_args={"application_name": name}),
                        expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent: a no-op when already there)."""
    command.upgrade(alembic_config(url), revision)
