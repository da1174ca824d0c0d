"""The launcher stops the whole `bentoml serve` tree: its worker runs in a session of its own,
so the arbiter's process group does not cover it, and an orphaned worker would keep serving."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator

import psutil
import pytest
from novacron.serving.launcher import BentoServer

from novacron.settings import Settings

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(settings: Settings) -> Iterator[BentoServer]:
    own = settings.model_copy(update={"serving_url": f"http://127.0.0.1:{_free_port()}"})
    server = BentoServer(own)
    server.start()
    try:
        yield server
    finally:
        server.stop(grace_s=5)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _port_is_free(port: int) -> bool:
    """Nothing listens there. (Not a bind test: the killed server's accepted connections may
    linger in FIN_WAIT for a moment and refuse a bind even with SO_REUSEADDR, while an
    orphaned worker that still serves is what must not exist.)"""
    with socket.socket() as s:
        s.settimeout(2.0)
        return s.connect_ex(("127.0.0.1", port)) != 0


def _tree(server: BentoServer) -> list[int]:
    pids = server.pids()
    assert server.proc is not None and server.proc.pid in pids
    workers = [p for p in pids if p != server.proc.pid]
    assert workers, "bentoml serve started no worker"
    # What made process-group signalling miss the worker.
    assert any(os.getsid(w) != os.getsid(server.proc.pid) for w in workers)
    return pids


def test_the_sigkill_path_stops_every_process_and_frees_the_port(server: BentoServer) -> None:
    pids = _tree(server)
    port = int(server.url.rsplit(":", 1)[1])
    assert not _port_is_free(port)
    server.stop(grace_s=0)  # no grace: the fallback a hung server gets
    assert [p for p in pids if _running(p)] == []
    assert _port_is_free(port) and not server.ready()


def test_a_server_whose_arbiter_was_killed_has_its_orphaned_worker_stopped(
    server: BentoServer,
) -> None:
    pids = _tree(server)
    port = int(server.url.rsplit(":", 1)[1])
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(5)
    assert any(_running(p) for p in pids)  # the worker outlived its arbiter
    server.stop()
    assert [p for p in pids if _running(p)] == []
    assert _port_is_free(port) and not server.ready()
