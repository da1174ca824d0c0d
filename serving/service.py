"""The BentoML service that serves the champion forecaster.

Heavy imports and model loading happen in ``__init__``; readiness (``/readyz``) fails until a
model is loaded. Until a trained ensemble is promoted, the champion is seasonal-naive, the
baseline every model must beat.
"""

from __future__ import annotations

import math

import bentoml
from bentoml.exceptions import InvalidArgument
from novacron.serving.schemas import ForecastOut, ForecastRequest, ForecastResponse, IntervalOut


@bentoml.service(name="novacron-forecaster", traffic={"timeout": 30})
class ForecastService:
    def __init__(self) -> None:
        from novacron.models.baselines import SeasonalNaive

        self._model_cls = SeasonalNaive
        self.model_name = "seasonal_naive"
        self.model_version = "builtin-1"
        self._ready = True

    def __is_ready__(self) -> bool:
        return self._ready

    @bentoml.api
    def forecast(self, request: ForecastRequest) -> ForecastResponse:
        out = []
        for s in request.series:
            for lv in s.levels:
                if not 0 < lv < 1:
                    raise InvalidArgument(f"series {s.series_id}: level {lv} must be in (0, 1)")
            if not all(math.isfinite(v) for v in s.history):
                raise InvalidArgument(f"series {s.series_id}: history contains NaN or inf")
            model = self._model_cls().fit(s.history, step_s=s.step_s, start_s=s.start_s)
            fc = model.predict(s.horizon, levels=tuple(s.levels))
            out.append(ForecastOut(
                series_id=s.series_id,
                point=fc.point.tolist(),
                intervals=[IntervalOut(level=lv, lower=iv.lower.tolist(), upper=iv.upper.tolist())
                           for lv, iv in fc.intervals.items()],
                model=fc.model,
                model_version=self.model_version,
            ))
        return ForecastResponse(forecasts=out)
