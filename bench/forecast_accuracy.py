"""Forecast accuracy of every member, the ensemble and seasonal-naive on real load series.

    python -m bench.forecast_accuracy [--quick] [--data DIR]

Rolling-origin backtest per series (training/backtest.py): 1-minute series forecast 15 min
and 1 h ahead, scored on their last day; 5-minute series 1 h and 6 h, on their last 3 days.
The global LSTM for each step is trained on the *development* series' pre-test history only
and then applied to every series. Members are scored from inside the ensemble's run (same
fits, same origins). Development and held-out series are reported separately; nothing is
chosen by looking at held-out figures. Writes bench/results/forecast_accuracy.json. Tuning
flags (``--split dev``, ``--aci``, ``--aci-mode``, ``--margin``, ...) print development
figures only and write nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from novacron.models.base import DAY_S
from novacron.models.ensemble import EnsembleForecaster, MemberSpec
from novacron.models.lstm import GlobalLSTM, LSTMConfig
from novacron.training.backtest import BacktestConfig, Score, backtest_series, scorable
from novacron.training.data import SeriesData, load_or_synthesize, slug

from bench._common import write_results

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "metrics"
STEPS = (60.0, 300.0)  # the README's suggested use: 1-minute and 5-minute series
MEMBERS = ("seasonal_naive", "arima", "prophet", "lstm")
MAIN = "ensemble"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pick_quick(series: Sequence[SeriesData]) -> list[SeriesData]:
    """One development and one held-out series per step: the first by name, no peeking."""
    out: list[SeriesData] = []
    for step in STEPS:
        for split in ("dev", "heldout"):
            cands = sorted((s for s in series if s.step_s == step and s.split == split),
                           key=lambda s: s.name)  # fmt: skip
            out.extend(cands[:1])
    return out


def train_lstms(
    series: Sequence[SeriesData], quick: bool
) -> tuple[dict[float, GlobalLSTM], dict[str, float]]:
    lstms: dict[float, GlobalLSTM] = {}
    figures: dict[str, float] = {}
    for step in STEPS:
        dev = [s for s in series if s.step_s == step and s.split == "dev"]
        if not dev:
            continue
        cfg = BacktestConfig.for_step(step, quick)
        hz = max(cfg.horizons)
        lcfg = LSTMConfig(
            context=96,
            horizon=hz,
            epochs=2 if quick else 4,
            max_windows=3_000 if quick else 20_000,
            scale_points=round(7 * DAY_S / step),
        )
        # Only the part before each series' scored span: the test days stay unseen.
        train = [(s.values[: s.values.size - cfg.test_points], s.start_s) for s in dev]
        t0 = time.perf_counter()
        lstms[step] = GlobalLSTM(lcfg).fit(train, step)
        figures[f"lstm_train_s_{int(step)}s"] = round(time.perf_counter() - t0, 1)
        log(f"lstm step={step:.0f}s: {len(dev)} dev series, {time.perf_counter() - t0:.1f} s")
    return lstms, figures


def ensemble_factory(
    step: float, horizon: int, lstm: GlobalLSTM | None, **settings: Any
) -> EnsembleForecaster:
    day = round(DAY_S / step)
    members = [
        MemberSpec("seasonal_naive"),
        MemberSpec("arima", {"max_fit_points": 2_016}),
        MemberSpec("prophet", {"refit_every": day}),
    ]
    if lstm is not None:
        members.append(MemberSpec("lstm", {"model": lstm}))
    return EnsembleForecaster(members, horizon=horizon, **settings)


def model_key(model: str) -> str:
    if model == "ensemble":
        return MAIN
    if model.startswith("ensemble["):
        variant = model[len("ensemble[") : -1]
        return "ensemble_inverse_error" if variant == "inverse_error" else f"ensemble_{variant}"
    return slug(model)


def _horizon_tag(sc: Score) -> str:
    step = sc.horizon_s / sc.horizon
    return "short" if sc.horizon == BacktestConfig.for_step(step).horizons[0] else "long"


def _summaries(prefix: str, rows: Sequence[Score], full: bool) -> dict[str, float]:
    mase = np.array([r.mase for r in rows])
    out = {
        f"{prefix[0]}_mase_{prefix[1]}": round(float(np.mean(mase)), 4),
        f"{prefix[0]}_within10_pct_{prefix[1]}": round(
            float(np.mean([r.within10 for r in rows])), 2
        ),
        f"{prefix[0]}_coverage80_{prefix[1]}": round(
            float(np.mean([r.coverage80 for r in rows])), 2
        ),
        f"{prefix[0]}_coverage95_{prefix[1]}": round(
            float(np.mean([r.coverage95 for r in rows])), 2
        ),
    }
    if full:
        out[f"{prefix[0]}_median_mase_{prefix[1]}"] = round(float(np.median(mase)), 4)
        out[f"{prefix[0]}_smape_{prefix[1]}"] = round(float(np.mean([r.smape for r in rows])), 3)
        out[f"{prefix[0]}_width80_rel_{prefix[1]}"] = round(
            float(np.mean([r.width80 for r in rows])), 4
        )
    return out


def aggregate(scores: Sequence[Score]) -> dict[str, float | str | int]:
    """Means over (series, horizon) per split and model; also per horizon and per group."""
    by: dict[tuple[str, str], list[Score]] = defaultdict(list)
    for sc in scores:
        key = model_key(sc.model)
        by[(sc.split, key)].append(sc)
        by[(sc.split, f"{key}_{_horizon_tag(sc)}")].append(sc)
        by[(sc.split, f"{key}_{sc.group}")].append(sc)
    figures: dict[str, float | str | int] = {}
    for (split, key), rows in sorted(by.items()):
        full = not key.endswith(("_short", "_long")) and "min" not in key.rsplit("_", 1)[-1]
        figures.update(_summaries((split, key), rows, full))
    for split in ("dev", "heldout"):
        for tag in ("", "_short", "_long"):
            vals = {m: figures.get(f"{split}_mase_{m}{tag}") for m in MEMBERS}
            valid = {m: float(v) for m, v in vals.items() if isinstance(v, float)}
            if valid:
                best = min(valid, key=lambda m: valid[m])
                figures[f"{split}_mase_best_member{tag}"] = valid[best]
                figures[f"{split}_best_member{tag}"] = best
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="a few series, shorter test spans")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="metrics data folder")
    ap.add_argument(
        "--split",
        choices=("all", "dev"),
        default="all",
        help="dev: development series only (for tuning; writes no results file)",
    )
    ap.add_argument("--weighting", default=None, help="override the ensemble weighting")
    ap.add_argument("--calib-days", type=float, default=None, help="override calibration span")
    ap.add_argument("--origins", type=int, default=None, help="override calibration origins")
    ap.add_argument("--aci", type=float, default=None, help="override the ACI rate")
    ap.add_argument("--aci-mode", choices=("scale", "level"), default=None, help="override")
    ap.add_argument(
        "--margin", type=float, default=None, help="override the coverage margin (all levels)"
    )
    ap.add_argument(
        "--oos", action="store_true", help="conformal on issued (out-of-sample) residuals"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # a shared 2-core machine: leave a core to the others
    t_start = time.perf_counter()

    data_dir: Path | None = args.data if args.data.is_dir() else None
    all_series = load_or_synthesize(data_dir)
    series = [s for s in all_series if s.step_s in STEPS]
    skipped = [s.name for s in all_series if s.step_s not in STEPS]
    checked = []
    for s in series:
        if scorable(s, BacktestConfig.for_step(s.step_s, args.quick)):
            checked.append(s)
        else:
            skipped.append(s.name)
    series = pick_quick(checked) if args.quick else checked
    if args.split == "dev":
        series = [s for s in series if s.split == "dev"]
    settings: dict[str, Any] = {}
    if args.weighting:
        settings["weighting"] = args.weighting
    if args.calib_days:
        settings["calib_s"] = args.calib_days * DAY_S
    if args.origins:
        settings["n_origins"] = args.origins
    if args.aci is not None:
        settings["aci_rate"] = args.aci
    if args.oos:
        settings["oos_residuals"] = True
    if args.aci_mode:
        settings["aci_mode"] = args.aci_mode
    if args.margin is not None:
        settings["margin"] = args.margin
    log(f"{len(series)} series ({'real' if data_dir else 'synthetic'}); skipped: {skipped}")

    lstms, figures = train_lstms(checked if not args.quick else series, args.quick)
    scores: list[Score] = []
    failures: dict[str, int] = {}
    for i, s in enumerate(series, 1):
        cfg = BacktestConfig.for_step(s.step_s, args.quick)
        t0 = time.perf_counter()
        ens_holder: list[EnsembleForecaster] = []

        def make(
            s: SeriesData = s,
            cfg: BacktestConfig = cfg,
            holder: list[EnsembleForecaster] = ens_holder,
        ) -> EnsembleForecaster:
            ens = ensemble_factory(s.step_s, max(cfg.horizons), lstms.get(s.step_s), **settings)
            holder.append(ens)
            return ens

        rows = backtest_series(s, make, cfg)
        for member, count in ens_holder[-1].member_failures.items():
            failures[member] = failures.get(member, 0) + count
            log(f"  {member}: {count} non-finite forecasts replaced by the last value")
        scores.extend(rows)
        long_rows = {r.model: r for r in rows if r.horizon == max(cfg.horizons)}
        summary = " ".join(f"{model_key(m)}={r.mase:.3f}" for m, r in sorted(long_rows.items()))
        log(f"[{i}/{len(series)}] {s.name} ({s.split}) {time.perf_counter() - t0:.1f}s {summary}")

    figures.update(aggregate(scores))
    figures.update(
        {
            "data": "real" if data_dir else "synthetic",
            "quick": args.quick,
            "n_series_dev": len({s.name for s in series if s.split == "dev"}),
            "n_series_heldout": len({s.name for s in series if s.split == "heldout"}),
            "skipped_series": ",".join(skipped),
            **{f"nonfinite_forecasts_{m}": c for m, c in failures.items()},
            "runtime_s": round(time.perf_counter() - t_start, 1),
        }
    )
    if args.split == "dev" or settings:
        print(json.dumps({k: v for k, v in figures.items() if k.startswith("dev_")}, indent=1))
        return 0
    write_results("forecast_accuracy", figures)
    print(
        "forecast_accuracy: held-out MASE ensemble {e} vs best member {b} ({bm}) vs seasonal-naive"
        " {sn}; within10 {w}%; coverage80 {c80}% coverage95 {c95}%; dev MASE ensemble {de}"
        " ({n} series, {rt} s)".format(
            e=figures.get("heldout_mase_ensemble"),
            b=figures.get("heldout_mase_best_member"),
            bm=figures.get("heldout_best_member"),
            sn=figures.get("heldout_mase_seasonal_naive"),
            w=figures.get("heldout_within10_pct_ensemble"),
            c80=figures.get("heldout_coverage80_ensemble"),
            c95=figures.get("heldout_coverage95_ensemble"),
            de=figures.get("dev_mase_ensemble"),
            n=len(series),
            rt=figures["runtime_s"],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
