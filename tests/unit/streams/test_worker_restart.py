"""The supervisor restarts a crashed worker's process, but not in a burst (streams.worker)."""

from __future__ import annotations

import pytest
from novacron.streams import worker
from novacron.streams.worker import MAX_RESTARTS, RESTART_WINDOW_S, WorkerCrashed


def test_only_the_restarts_of_the_window_count() -> None:
    now = 10_000.0
    history = [now - RESTART_WINDOW_S - 1, now - 5.0, now - 1.0]
    assert worker.restarts_within(history, now) == [now - 5.0, now - 1.0]


def test_a_burst_of_crashes_gives_up_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    now = time.time()
    monkeypatch.setenv(worker.RESTARTS_ENV, ",".join(str(now - i) for i in range(MAX_RESTARTS)))
    said: list[str] = []
    with pytest.raises(WorkerCrashed, match="ConsistencyError"):
        worker.restart_process("ConsistencyError('offset 12 > highwater 3')", said.append)
    assert said == []


def test_a_crash_is_said_and_the_same_command_runs_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set here so that monkeypatch restores both after restart_process changed them.
    monkeypatch.setenv(worker.RESTARTS_ENV, "")
    monkeypatch.setenv("NOVACRON_CONSUMER_GROUP", worker.os.environ.get("NOVACRON_CONSUMER_GROUP", ""))
    monkeypatch.setattr(worker.sys, "orig_argv", ["python", "-m", "novacron.cli", "up"])
    execs: list[tuple[str, list[str]]] = []

    def fake_execv(path: str, argv: list[str]) -> None:
        execs.append((path, argv))
        raise SystemExit(0)  # execv does not return

    monkeypatch.setattr(worker.os, "execv", fake_execv)
    said: list[str] = []
    with pytest.raises(SystemExit):
        worker.restart_process("boom", said.append, env={"NOVACRON_CONSUMER_GROUP": "fresh"})
    assert execs == [(worker.sys.executable, ["python", "-m", "novacron.cli", "up"])]
    assert "crashed (boom)" in said[0] and "restart 1 of at most" in said[0]
    assert worker.os.environ["NOVACRON_CONSUMER_GROUP"] == "fresh"
    assert worker.os.environ[worker.RESTARTS_ENV]
