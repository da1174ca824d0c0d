"""API-only settings (``NOVACRON_API_`` prefix); endpoints come from novacron.settings."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOVACRON_API_", extra="ignore")

    max_body_bytes: int = 1 << 20  # larger requests get 413 before the body is read
    token_cache_s: float = 30.0  # a verified token is trusted this long (revocation delay)
    stream_poll_s: float = 0.5  # how often the event stream looks for new rows
    host: str = "127.0.0.1"
    port: int = 8080


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    return ApiSettings()
