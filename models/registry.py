"""The explicit name → factory map of forecasters (no directory walking).

Factories import their module on call, so asking for the seasonal-naive baseline never pays
for torch or Prophet's stan backend. Settings are keyword arguments passed in, never read
from globals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Forecaster


def _seasonal_naive(**kw: Any) -> Forecaster:
    from .baselines import SeasonalNaive

    return SeasonalNaive(**kw)


def _naive(**kw: Any) -> Forecaster:
    from .baselines import Naive

    return Naive(**kw)


def _drift(**kw: Any) -> Forecaster:
    from .baselines import Drift

    return Drift(**kw)


def _arima(**kw: Any) -> Forecaster:
    from .arima import ArimaForecaster

    return ArimaForecaster(**kw)


def _prophet(**kw: Any) -> Forecaster:
    from .prophet_model import ProphetForecaster

    return ProphetForecaster(**kw)


def _lstm(**kw: Any) -> Forecaster:
    from .lstm import LSTMForecaster

    return LSTMForecaster(**kw)


def _ensemble(**kw: Any) -> Forecaster:
    from .ensemble import EnsembleForecaster

    return EnsembleForecaster(**kw)


REGISTRY: dict[str, Callable[..., Forecaster]] = {
    "seasonal_naive": _seasonal_naive,
    "naive": _naive,
    "drift": _drift,
    "arima": _arima,
    "prophet": _prophet,
    "lstm": _lstm,
    "ensemble": _ensemble,
}


def create(name: str, **settings: Any) -> Forecaster:
    """A new, unfitted forecaster by registry name."""
    try:
        factory = REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown forecaster {name!r}; known: {sorted(REGISTRY)}") from None
    return factory(**settings)
