"""Forecast-against-actual plots with interval bands (MLflow artifacts and the notebook)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .backtest import BacktestConfig
from .data import SeriesData
from .fastensemble import FastEnsemble, SeriesRequest


def forecast_plot(model: FastEnsemble, series: Sequence[SeriesData], quick: bool, max_series: int = 4) -> Any:
    """One panel per series (up to ``max_series``, first per step first): the last day of
    history, then consecutive long-horizon forecasts over the scored span with 80/95 % bands."""
    chosen: list[SeriesData] = []
    for step in sorted({s.step_s for s in series}):
        chosen.extend([s for s in series if s.step_s == step][:2])
    chosen = chosen[:max_series]
    fig, axes = plt.subplots(len(chosen), 1, figsize=(10, 2.6 * max(len(chosen), 1)), squeeze=False)
    for ax, s in zip(axes[:, 0], chosen, strict=True):
        bt = BacktestConfig.for_step(s.step_s, quick)
        hz = max(bt.horizons)
        y = s.values
        t0 = y.size - bt.test_points
        show = max(0, t0 - round(86_400 / s.step_s))
        hours = (np.arange(show, y.size) - t0) * s.step_s / 3600
        ax.plot(hours, y[show:], color="black", lw=0.8, label="actual")
        for k, o in enumerate(range(t0, y.size - hz + 1, hz)):
            fc, _ = model.predict_batch([SeriesRequest(y[:o], s.step_s, hz, s.start_s)])[0]
            xh = (np.arange(o, o + hz) - t0) * s.step_s / 3600
            ax.fill_between(
                xh,
                fc.lower(0.95),
                fc.upper(0.95),
                color="tab:blue",
                alpha=0.15,
                label="95 %" if k == 0 else None,
            )
            ax.fill_between(
                xh,
                fc.lower(0.8),
                fc.upper(0.8),
                color="tab:blue",
                alpha=0.3,
                label="80 %" if k == 0 else None,
            )
            ax.plot(xh, fc.point, color="tab:blue", lw=1.0, label="forecast" if k == 0 else None)
        ax.axvline(0, color="grey", ls=":")
        ax.set_title(f"{s.name} ({s.split}, step {s.step_s:.0f} s, horizon {hz} steps)", fontsize=9)
        ax.set_xlabel("hours from the start of the scored span")
        ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return fig
