"""Small, fast series for the forecaster tests."""

from __future__ import annotations

import numpy as np

HOUR = 3600.0


def seasonal_series(
    n: int, step_s: float, noise: float, seed: int, level: float = 50.0
) -> np.ndarray:
    """A daily sine around ``level`` with Gaussian noise of known standard deviation."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * step_s
    return level + 10.0 * np.sin(2 * np.pi * t / 86_400.0) + rng.normal(0.0, noise, n)
