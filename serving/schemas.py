"""Typed request and response of the forecast endpoint (shared by the service and clients)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_HISTORY = 50_000
# Fewest history points the service forecasts from by default; clients send no fewer.
MIN_HISTORY = 3
MAX_HORIZON = 2_880


class SeriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    series_id: str = Field(min_length=1, max_length=200)
    history: list[float] = Field(min_length=1, max_length=MAX_HISTORY)
    step_s: float = Field(gt=0, le=86_400)
    horizon: int = Field(ge=1, le=MAX_HORIZON)
    start_s: float = 0.0
    levels: list[float] = Field(default_factory=lambda: [0.8, 0.95], min_length=1, max_length=4)


class IntervalOut(BaseModel):
    level: float
    lower: list[float]
    upper: list[float]


class ForecastOut(BaseModel):
    series_id: str
    point: list[float]
    intervals: list[IntervalOut]
    model: str
    model_version: str
    member_weights: dict[str, float] = Field(default_factory=dict)


class ForecastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    series: list[SeriesIn] = Field(min_length=1, max_length=1_000)
    #: "champion" (what is loaded; the built-in naive model until one is) or a built-in baseline
    model: Literal["champion", "naive", "seasonal_naive"] = "champion"


class ForecastResponse(BaseModel):
    forecasts: list[ForecastOut]
