"""Run the Faust worker: in the foreground (production) or in a background thread (the
embedded default and the end-to-end tests, which share the worker's libvirt connections)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

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
