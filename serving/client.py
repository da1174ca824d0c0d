"""An async HTTP client for the forecast service, with a timeout and typed errors."""

from __future__ import annotations

import httpx
from novacron.serving.schemas import ForecastRequest, ForecastResponse, SeriesIn


def encode_request(request: ForecastRequest) -> bytes:
    """The endpoint's JSON body. pydantic's serializer, not ``json.dumps`` of a dict: for 100
    series of 288 points that is ~2 ms instead of ~20 ms per call on this machine."""
    return b'{"request":' + request.model_dump_json().encode() + b"}"


class ServingUnavailable(RuntimeError):
    """The forecast service could not answer in time; callers fall back to reactive rules."""


class ForecastClient:
    def __init__(self, base_url: str, timeout_s: float = 2.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s)

    async def forecast(self, series: list[SeriesIn]) -> ForecastResponse:
        body = encode_request(ForecastRequest(series=series))
        try:
            resp = await self._client.post(
                "/forecast", content=body, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise ServingUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        if resp.status_code >= 500:
            raise ServingUnavailable(f"HTTP {resp.status_code}: {resp.text[:200]}")
        if resp.status_code >= 400:
            raise ValueError(f"forecast request rejected (HTTP {resp.status_code}): {resp.text[:300]}")
        return ForecastResponse.model_validate_json(resp.content)

    async def aclose(self) -> None:
        await self._client.aclose()
