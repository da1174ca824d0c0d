"""The LSTM forward pass runs with torch's thread count in *any* thread, not only the one
that called ``torch.set_num_threads``: the forecast service runs requests in worker threads,
where OpenMP's default team (one thread per core) made requests stall for seconds."""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from forecast_series import HOUR, seasonal_series
from novacron.models.lstm import GlobalLSTM, LSTMConfig


def _torch_openmp() -> ctypes.CDLL:
    """The OpenMP runtime torch loaded (its own libgomp), to read a thread's team size."""
    maps = Path("/proc/self/maps").read_text()
    libs = sorted({line.split()[-1] for line in maps.splitlines() if "libgomp" in line or "libiomp" in line})
    if not libs:
        pytest.fail("torch reports OpenMP but no OpenMP runtime is mapped")
    return ctypes.CDLL(libs[0])


@pytest.mark.skipif(
    "OpenMP" not in torch.__config__.parallel_info(), reason="torch built without OpenMP"
)
def test_forecast_in_a_new_thread_uses_torch_thread_count() -> None:
    torch.set_num_threads(1)
    omp = _torch_openmp()
    train = [(seasonal_series(240, HOUR, 1.0, seed=s), 0.0) for s in range(2)]
    lstm = GlobalLSTM(LSTMConfig(context=24, horizon=6, hidden=8, epochs=1, max_windows=200))
    lstm.fit(train, HOUR)
    seen: dict[str, int] = {}

    def worker() -> None:
        seen["before"] = int(omp.omp_get_max_threads())
        point, _ = lstm.forecast(seasonal_series(48, HOUR, 1.0, seed=9), 0.0, 1.0, (0.8,))
        assert np.all(np.isfinite(point))
        seen["after"] = int(omp.omp_get_max_threads())

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    # A fresh thread starts from OpenMP's default (the core count, unless the environment
    # pins it); after a forecast it must run with torch's one thread.
    if "OMP_NUM_THREADS" not in os.environ:
        assert seen["before"] == (os.cpu_count() or 1)
    assert seen["after"] == 1
