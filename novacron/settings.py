"""Every endpoint and knob, from the environment (prefix ``NOVACRON_``).

The same code points at the embedded dev services or at production Kafka/PostgreSQL purely
through these settings, e.g. ``NOVACRON_KAFKA_BOOTSTRAP=kafka-1:9092``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOVACRON_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:19092"
    database_url: str = "postgresql+psycopg://novacron:novacron@127.0.0.1:5432/novacron"
    tsdb_url: str = "http://127.0.0.1:8428"
    mlflow_url: str = "http://127.0.0.1:5000"
    serving_url: str = "http://127.0.0.1:3000"
    # libvirt URIs of the managed hosts; empty means the embedded simulated fleet.
    host_uris: list[str] = Field(default_factory=list)
    # The host inventory (YAML: see novacron/inventory.py). When set it names the fleet, with
    # each host's rack, zone, price and overcommit; NOVACRON_HOST_URIS is then not read.
    inventory: Path | None = None

    state_dir: Path = REPO_ROOT / ".state"
    data_dir: Path = REPO_ROOT.parent / "shared" / "data"

    # When true the services are external (production): never start local ones.
    external_services: bool = False
    # The embedded broker's storage. "memory" loses every topic and offset when the broker
    # stops (the worker notices and goes on: DESIGN §3). "s3" (a local s3rver) keeps the
    # messages, but Tansu 0.6 reports every partition's end offset as 1 and numbers a
    # partition from 0 again after a restart: for measurements only, not for use.
    broker_engine: Literal["memory", "s3"] = "memory"
    broker_s3_url: str = "http://127.0.0.1:19093"

    topic_partitions: int = 4
    consumer_group: str = "novacron"
    consumer_offset_reset: Literal["earliest", "latest"] = "earliest"
    serving_timeout_s: float = 2.0
    fleet_hosts: int = 4
    fleet_vms_per_host: int = 3


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
