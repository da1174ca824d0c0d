"""Start and stop ``bentoml serve`` for the forecast service, waited for by probing /readyz."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

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

        def probe() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"bentoml serve exited ({self.proc.returncode}); see {self.log_path}")
            return self.ready()

        wait_until(probe, "the BentoML forecast service", timeout_s, self.log_path)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _status(url: str) -> int:
    import httpx

    try:
        return httpx.get(url, timeout=1.0).status_code
    except httpx.HTTPError:
        return 0
