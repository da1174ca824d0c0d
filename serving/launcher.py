"""Start and stop ``bentoml serve`` for the forecast service, waited for by probing /readyz.

``bentoml serve`` is an arbiter that starts its workers in sessions of their own, so signalling
the arbiter's process group misses them, and a worker whose arbiter was SIGKILLed keeps serving
the port as an orphan. The launcher therefore remembers every descendant it has seen (by
``psutil.Process``, which also guards against a reused pid) and stops the whole tree: SIGTERM
to each, then SIGKILL to whatever is left after the grace period.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import psutil

from novacron.services import wait_until
from novacron.settings import Settings


class BentoServer:
    def __init__(self, settings: Settings, workers: int = 1, env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.workers = workers
        # Extra environment for the service (e.g. NOVACRON_REGISTERED_MODEL); the endpoints
        # of ``settings`` are passed too, so the service sees the same MLflow as the caller.
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self._tree: dict[int, psutil.Process] = {}  # every process of the server seen so far
        self.log_path = settings.state_dir / "logs" / "bentoml.log"

    @property
    def url(self) -> str:
        return self.settings.serving_url.rstrip("/")

    def ready(self) -> bool:
        # One request: /readyz answers 503 until the model is loaded.
        return _status(self.url + "/readyz") == 200

    def start(self, timeout_s: float = 90.0) -> None:
        if self.ready():
            return
        parsed = urlparse(self.url)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true",
               "BENTOML_HOME": str(self.settings.state_dir / "bentoml"),
               "NOVACRON_MLFLOW_URL": self.settings.mlflow_url,
               "NOVACRON_SERVING_URL": self.settings.serving_url, **self.env}
        bentoml = str(Path(sys.executable).with_name("bentoml"))
        self.proc = subprocess.Popen(
            [bentoml, "serve", "novacron.serving.service:ForecastService",
             "--host", parsed.hostname or "127.0.0.1", "--port", str(parsed.port or 3000)],
            stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env, cwd=self.settings.state_dir,
        )

        self._tree = {self.proc.pid: psutil.Process(self.proc.pid)}

        def probe() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                self._stop_tree(0.0)  # a worker it started may outlive it
                raise RuntimeError(f"bentoml serve exited ({self.proc.returncode}); see {self.log_path}")
            self._remember()
            return self.ready()

        wait_until(probe, "the BentoML forecast service", timeout_s, self.log_path)
        self._remember()

    def pids(self) -> list[int]:
        """The server's processes still running: the arbiter and every worker seen."""
        self._remember()
        return sorted(pid for pid, p in self._tree.items() if _alive(p))

    def stop(self, grace_s: float = 20.0) -> None:
        """Stop every process of the server: SIGTERM, then SIGKILL after ``grace_s``."""
        if self.proc is None:
            return
        self._stop_tree(grace_s)
        if self.proc.poll() is None:
            self.proc.wait(5)
        self._wait_port_closed(5.0)

    def _wait_port_closed(self, timeout_s: float) -> None:
        """Until nothing listens on the server's port. A killed multi-threaded process reads as
        a zombie as soon as its main thread is gone, while its other threads still hold the
        listening socket for a moment: a restart right after stop() would find the port taken."""
        parsed = urlparse(self.url)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex((host, port)) != 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"bentoml serve's port {port} still accepts connections {timeout_s:g} s "
                           "after its processes were stopped: another process may hold it")

    def _remember(self) -> None:
        root = self._tree.get(self.proc.pid) if self.proc is not None else None
        if root is None:
            return
        try:
            for child in root.children(recursive=True):
                self._tree.setdefault(child.pid, child)
        except psutil.NoSuchProcess:  # the arbiter is gone; its workers are still remembered
            pass

    def _stop_tree(self, grace_s: float) -> None:
        self._remember()  # before signalling: a dead arbiter's children are re-parented
        procs = [p for p in self._tree.values() if _alive(p)]
        for p in procs:
            _signal(p, terminate=grace_s > 0)
        left = _wait(procs, grace_s if grace_s > 0 else 5.0)
        for p in left:
            _signal(p, terminate=False)
        if alive := _wait(left, 5.0):
            raise RuntimeError(f"bentoml serve processes {[p.pid for p in alive]} survived SIGKILL")
        self._tree.clear()


def _wait(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Those of ``procs`` still running after up to ``timeout_s`` (a zombie is not running: a
    worker's parent may be an init that reaps late)."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [p for p in procs if _alive(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        psutil.wait_procs(alive, timeout=min(0.1, max(0.0, deadline - time.monotonic())))


def _alive(p: psutil.Process) -> bool:
    try:  # is_running also compares the start time: a reused pid is not ours
        return bool(p.is_running() and p.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _signal(p: psutil.Process, terminate: bool) -> None:
    try:
        if terminate:
            p.terminate()
        else:
            p.kill()
    except psutil.NoSuchProcess:
        pass


def _status(url: str) -> int:
    import httpx

    try:
        return httpx.get(url, timeout=1.0).status_code
    except httpx.HTTPError:
        return 0
