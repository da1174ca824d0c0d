"""Run the Faust worker: in the foreground (production) or in a background thread (the
embedded default and the end-to-end tests, which share the worker's libvirt connections).
A background worker that crashed is restarted with its process (``restart_process``)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import faust
from novacron.actuators.connection import Fleet
from novacron.serving.client import ForecastClient
from novacron.store.db import migrate, session_factory
from novacron.streams import runtime

from novacron.settings import Settings


def build_runtime(settings: Settings, fleet: Fleet, **overrides: Any) -> runtime.Runtime:
    migrate(settings.database_url)
    rt = runtime.Runtime(
        fleet=fleet, sessions=session_factory(settings.database_url),
        forecasts=ForecastClient(settings.serving_url, settings.serving_timeout_s),
        tsdb_url=settings.tsdb_url, **overrides,
    )
    runtime.install(rt)
    return rt


class _ThreadWorker(faust.Worker):  # type: ignore[misc]
    """A Faust worker without signal handlers (only the main thread may install them)."""

    def install_signal_handlers(self) -> None:
        pass


class BackgroundWorker:
    """The Faust app running on its own event loop in a daemon thread."""

    def __init__(self, loglevel: str = "warning") -> None:
        self._loglevel = loglevel
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="novacron-worker", daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._worker: faust.Worker | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            from novacron.streams.main import app

            if app.loop is not self._loop:
                raise RuntimeError(
                    "novacron.streams.app was imported outside the worker thread, so its "
                    "tables are bound to another event loop; import only streams.windows "
                    "or streams.runtime in processes that use BackgroundWorker")
            self._app = app
            self._worker = _ThreadWorker(app, loop=self._loop, loglevel=self._loglevel,
                                         redirect_stdouts=False, override_logging=False,
                                         quiet=True)
            # A daemon worker's start() returns as soon as stopping begins; keep the loop
            # running so the stop sequence can finish (stop() ends the loop).
            self._loop.run_until_complete(self._worker.start())
            self._loop.run_forever()
        except BaseException as exc:  # surfaced to the caller of start()
            self._error = exc
        finally:
            self._started.set()

    def failure(self) -> str | None:
        """Why the worker no longer works, or None. A crashed Faust app consumes nothing more
        while its thread lives on, so the app's state is asked too, not only the thread."""
        if self._error is not None:
            return repr(self._error)
        app = getattr(self, "_app", None)
        if app is not None and app.crashed:
            return repr(app.crash_reason)
        if self._started.is_set() and not self._thread.is_alive():
            return "the worker thread ended"
        return None

    def ready(self) -> bool:
        """Partitions assigned and tables recovered: the worker is consuming."""
        app = getattr(self, "_app", None)
        if app is None or self._error is not None:
            return False
        return bool(app.tables.recovery.completed.is_set() and not app.rebalancing
                    and app.consumer.assignment())

    def start(self, timeout_s: float = 90.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._started.is_set():
                raise RuntimeError(f"the Faust worker stopped while starting: {self._error!r}")
            if self.ready():
                return
            time.sleep(0.05)
        raise TimeoutError(f"the Faust worker was not consuming within {timeout_s}s")

    def stop(self, timeout_s: float = 15.0) -> bool:
        """Stop the worker; True if it stopped within ``timeout_s``.

        Nothing is lost if it does not: offsets not yet committed are delivered again and
        effects are idempotent.
        """
        if self._worker is None or not self._thread.is_alive():
            return True
        worker = self._worker

        async def shutdown() -> None:
            try:
                await worker.stop()
            finally:
                asyncio.get_running_loop().call_soon(self._loop.stop)

        fut = asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        try:
            fut.result(timeout_s)
        except TimeoutError:
            logging.getLogger(__name__).warning(
                "the Faust worker did not stop within %.0fs; leaving it to exit with the process",
                timeout_s)
            return False
        self._thread.join(timeout_s)
        return not self._thread.is_alive()


# Unix times of this process's restarts after worker crashes, passed on through exec.
RESTARTS_ENV = "NOVACRON_WORKER_RESTARTS"
MAX_RESTARTS = 5
RESTART_WINDOW_S = 600.0


class WorkerCrashed(RuntimeError):
    pass


def restarts_within(history: Sequence[float], now: float, window_s: float = RESTART_WINDOW_S,
                    ) -> list[float]:
    """The restarts of the last ``window_s`` seconds: only a burst of crashes gives up."""
    return [t for t in history if now - t < window_s]


def restart_process(why: str, say: Callable[[str], None],
                    env: Mapping[str, str] | None = None) -> NoReturn:
    """Start this process again, same command line and environment (plus ``env``), after a
    worker crash.

    The Faust app is a process-wide singleton bound to its event loop and cannot be started
    twice in one process, so the supervisor restarts the process. Unless ``env`` changes it,
    the consumer group stays, so the new worker resumes from the committed offsets and
    restores its tables from their changelogs (all of it kept by the s3 broker engine). More
    than ``MAX_RESTARTS`` within ``RESTART_WINDOW_S`` raise WorkerCrashed instead.
    """
    now = time.time()
    earlier = [float(t) for t in os.environ.get(RESTARTS_ENV, "").split(",") if t]
    recent = restarts_within(earlier, now)
    if len(recent) >= MAX_RESTARTS:
        raise WorkerCrashed(f"the stream worker crashed {len(recent) + 1} times within "
                            f"{RESTART_WINDOW_S:.0f} s; not restarting again. Last: {why}")
    say(f"the stream worker crashed ({why}); restarting the process "
        f"(restart {len(recent) + 1} of at most {MAX_RESTARTS} per {RESTART_WINDOW_S:.0f} s)")
    os.environ.update(env or {})
    os.environ[RESTARTS_ENV] = ",".join(f"{t:.0f}" for t in [*recent, now])
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execv(sys.executable, sys.orig_argv)  # noqa: S606  (this very command, again)
