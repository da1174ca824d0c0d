"""An async HTTP client for the forecast service, with a timeout and typed errors."""

from __future__ import annotations

import httpx
from novacron.serving.schemas import ForecastRequest, ForecastResponse, SeriesIn


class ServingUnavailable(RuntimeError):
    """The forecast service could not answer in time; callers fall back to reactive rules."""


class ForecastClient:
    def __init__(self, base_url: str, timeout_s: float = 2.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s)

    async def forecast(self, series: list[SeriesIn]) -> ForecastResponse:
        body = ForecastRequest(series=series).model_dump(mode="json", exclude={"model"})
        try:
            resp = await self._client.post("/forecast", json={"request": body})
        except httpx.HTTPError as exc:
            raise ServingUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        if resp.status_code >= 500:
            raise ServingUnavailable(f"HTTP {resp.status_code}: {resp.text[:200]}")
        if resp.status_code >= 400:
            raise ValueError(f"forecast request rejected (HTTP {resp.status_code}): {resp.text[:300]}")
        return ForecastResponse.model_validate(resp.json())

    async def aclose(self) -> None:
        await self._client.aclose()
