"""Fixtures for the forecaster tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from forecast_series import HOUR, seasonal_series

# One window through a tiny LSTM is microseconds of work; on a busy 2-core machine torch's
# thread pool turns it into ~0.25 s of spinning. Services should do the same.
torch.set_num_threads(1)


@pytest.fixture
def hourly() -> np.ndarray:
    """Ten days of an hourly, daily-seasonal series (240 points)."""
    return seasonal_series(240, HOUR, 1.0, seed=7)
