"""Connection-level database errors are waited out (logged once per outage, counted); any
other database error propagates at once."""

from __future__ import annotations

import logging

import psycopg
import pytest
from novacron.streams import db_retry
from sqlalchemy import exc as sa_exc


def _lost() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))


class Flaky:
    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures, self.calls, self.error = failures, 0, error

    def __call__(self, x: int) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error or _lost()
        return x * 2


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_retry, "FIRST_BACKOFF_S", 0.001)
    monkeypatch.setattr(db_retry, "MAX_BACKOFF_S", 0.004)


async def test_an_outage_is_waited_out_logged_once_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=db_retry.__name__)
    before = db_retry.stats().outages
    fn = Flaky(6)
    assert await db_retry.call("test write", fn, 21) == 42
    assert fn.calls == 7
    assert db_retry.stats().outages == before + 1 and db_retry.stats().down_since is None
    assert db_retry.stats().last_outage_s is not None
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1


async def test_errors_that_are_not_about_the_connection_propagate_at_once() -> None:
    bad = sa_exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key"))
    fn = Flaky(1, bad)
    with pytest.raises(sa_exc.IntegrityError):
        await db_retry.call("test write", fn, 1)
    assert fn.calls == 1
    with pytest.raises(ValueError):
        await db_retry.call("test write", Flaky(1, ValueError("a bug")), 1)


async def test_one_attempt_gives_none_during_an_outage_and_the_value_after() -> None:
    fn = Flaky(1)
    assert await db_retry.attempt("test read", fn, 2) is None
    assert await db_retry.attempt("test read", fn, 2) == 4


def test_which_errors_are_transient() -> None:
    assert db_retry.is_transient(_lost())
    assert db_retry.is_transient(psycopg.OperationalError("server closed the connection"))
    assert db_retry.is_transient(sa_exc.InterfaceError("x", {}, psycopg.InterfaceError("closed")))
    assert not db_retry.is_transient(sa_exc.ProgrammingError("x", {}, psycopg.ProgrammingError("no table")))
    assert not db_retry.is_transient(RuntimeError("x"))
    assert [db_retry.backoff(n) for n in (1, 2, 30)] == [
        db_retry.FIRST_BACKOFF_S, 2 * db_retry.FIRST_BACKOFF_S, db_retry.MAX_BACKOFF_S]
