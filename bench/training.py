"""Retraining wall time: ``novacron train`` on 100 series, logged to the live MLflow server.

    python -m bench.training [--quick]

Runs the same pipeline as ``novacron train`` (global LSTM per step, calibration of weights and
intervals, the rolling-origin backtest, the champion re-scored on the same backtest, the MLflow
run, registration and the alias) on the first 100 series (``--quick``: 10 series, short spans),
one torch thread. The served ensemble's members are seasonal-naive, drift (no training) and
the global LSTM: "every model" here is the LSTM per step plus the ensemble calibration; ARIMA
and Prophet are fitted per series by the offline ensemble (bench.forecast_accuracy), not by
this job. Registers under ``novacron-forecaster-bench`` so the served name is not touched.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import torch
from novacron.training.train import TrainConfig, run_training
from rich.console import Console

from bench._common import write_results
from novacron.services import start_all
from novacron.settings import get_settings


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="10 series, short spans")
    ap.add_argument("--model-name", default="novacron-forecaster-bench")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    settings = get_settings()
    start_all(settings, ["mlflow"])
    data = settings.data_dir / "metrics"
    cfg = TrainConfig(
        data_dir=data if data.is_dir() else None, series_limit=10 if args.quick else 100, quick=args.quick
    )
    t0 = time.perf_counter()
    out = run_training(cfg, settings.mlflow_url, args.model_name, "novacron-bench", Console(stderr=True))
    wall = time.perf_counter() - t0
    figures = {
        "quick": args.quick,
        "data": "real" if cfg.data_dir is not None else "synthetic",
        "n_series": out.n_series,
        "wall_s_retrain_all": round(wall, 1),
        **{f"{k}": v for k, v in out.timings.items()},
        "mlflow_run_id": out.run_id,
        "registered_model": out.model_name,
        "registered_version": out.version,
        "alias": out.promotion.alias,
        "promotion_reason": out.promotion.reason,
        "backtest_mase": round(out.metrics["mase"], 4),
        "backtest_mase_seasonal_naive_member": round(out.metrics.get("seasonal_naive_mase", float("nan")), 4),
        "backtest_coverage80": round(out.metrics.get("coverage80", float("nan")), 2),
        "backtest_coverage95": round(out.metrics.get("coverage95", float("nan")), 2),
    }
    write_results("training", figures)
    print(
        f"training: {out.n_series} series retrained in {wall:.1f} s (LSTM "
        f"{out.timings.get('lstm_train_s_60s', 0)} + {out.timings.get('lstm_train_s_300s', 0)} s), "
        f"backtest MASE {figures['backtest_mase']}, run {out.run_id}, "
        f"v{out.version} -> @{out.promotion.alias}",
        file=sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
