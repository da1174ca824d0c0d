"""``novacron train``: read history, train the served ensemble, backtest it, track it in MLflow
and promote it to ``@champion`` only when it beats the current champion on the same backtest.

Per series the history splits into three spans, oldest first: the global LSTM trains on the
first; member weights and conformal intervals are calibrated on the next (``calib_days``,
rolling origins, out of sample for the network); the last is the backtest's scored span
(training/backtest.py protocol), never seen by training. The current champion is re-scored
on exactly the same series and span, so the comparison is like for like; with no champion,
the model must beat the built-in seasonal-naive that the service would otherwise serve.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from novacron.models.base import DAY_S
from novacron.models.lstm import GlobalLSTM, LSTMConfig, series_scale
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .backtest import BacktestConfig, Score, rolling_forecasts, scorable, score_forecasts
from .data import SeriesData, load_or_synthesize
from .fastensemble import MEMBERS, WEIGHTINGS, FastEnsemble, FastForecaster, StepModel, scale_points

STEPS: tuple[float, ...] = (60.0, 300.0)
BASELINE = "seasonal_naive"


@dataclass(frozen=True, slots=True)
class TrainConfig:
    data_dir: Path | None = None
    series_limit: int | None = None
    quick: bool = False
    members: tuple[str, ...] = MEMBERS
    weighting: str = "inverse_mse"
    calib_days: float = 2.0
    calib_origins: int = 48
    epochs: int | None = None  # default: 2 quick, 4 full
    max_windows: int | None = None  # default: 3,000 quick, 20,000 full
    hidden: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [m for m in self.members if m not in MEMBERS]
        if unknown or not self.members:
            raise ValueError(f"members must be a non-empty subset of {MEMBERS}, got {self.members}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if self.series_limit is not None and self.series_limit < 1:
            raise ValueError("series_limit must be at least 1")

    @property
    def lstm_epochs(self) -> int:
        return self.epochs if self.epochs is not None else (2 if self.quick else 4)

    @property
    def lstm_windows(self) -> int:
        return self.max_windows if self.max_windows is not None else (3_000 if self.quick else 20_000)

    def params(self) -> dict[str, str]:
        out = {k: str(v) for k, v in asdict(self).items()}
        out["members"] = ",".join(self.members)
        out["lstm_epochs"], out["lstm_windows"] = str(self.lstm_epochs), str(self.lstm_windows)
        return out


@dataclass(slots=True)
class TrainResult:
    model: FastEnsemble
    series: list[SeriesData]
    scores: list[Score]
    metrics: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)


def progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=console is None,
    )


def select_series(cfg: TrainConfig) -> list[SeriesData]:
    """Scorable series of the served steps, by name, interleaved across steps, capped."""
    by_step: dict[float, list[SeriesData]] = defaultdict(list)
    for s in load_or_synthesize(cfg.data_dir, seed=cfg.seed):
        bt = BacktestConfig.for_step(s.step_s, cfg.quick) if s.step_s in STEPS else None
        if bt is not None and scorable(s, bt) and _long_enough(s, bt, cfg):
            by_step[s.step_s].append(s)
    lists = [sorted(by_step[st], key=lambda s: s.name) for st in STEPS if by_step.get(st)]
    out: list[SeriesData] = []
    for k in range(max((len(v) for v in lists), default=0)):
        out.extend(v[k] for v in lists if k < len(v))
    return out[: cfg.series_limit] if cfg.series_limit else out


def _spans(s: SeriesData, bt: BacktestConfig, cfg: TrainConfig) -> tuple[int, int]:
    """(end of the LSTM span, start of the scored span) in points."""
    t0 = s.values.size - bt.test_points
    calib = round(cfg.calib_days * DAY_S / s.step_s)
    return t0 - calib, t0


def _long_enough(s: SeriesData, bt: BacktestConfig, cfg: TrainConfig) -> bool:
    train_end, _ = _spans(s, bt, cfg)
    return train_end > round(DAY_S / s.step_s) + max(bt.horizons)


def fit(
    series: Sequence[SeriesData], cfg: TrainConfig, console: Console | None = None
) -> tuple[FastEnsemble, dict[str, float]]:
    """Train the LSTM per step and calibrate weights and intervals per step."""
    steps: dict[float, StepModel] = {}
    timings: dict[str, float] = {}
    with progress(console) as bar:
        for step in STEPS:
            group = [s for s in series if s.step_s == step]
            if not group:
                continue
            bt = BacktestConfig.for_step(step, cfg.quick)
            hz = max(bt.horizons)
            sm = StepModel(step, tuple(cfg.members))
            if "lstm" in cfg.members:
                task = bar.add_task(f"lstm {step:.0f}s ({len(group)} series)", total=1)
                t0 = time.perf_counter()
                lcfg = LSTMConfig(
                    context=96,
                    horizon=hz,
                    hidden=cfg.hidden,
                    epochs=cfg.lstm_epochs,
                    max_windows=cfg.lstm_windows,
                    seed=cfg.seed,
                    scale_points=scale_points(step),
                )
                train = [(s.values[: _spans(s, bt, cfg)[0]], s.start_s) for s in group]
                sm.lstm = GlobalLSTM(lcfg).fit(train, step)
                timings[f"lstm_train_s_{step:.0f}s"] = round(time.perf_counter() - t0, 2)
                bar.update(task, advance=1)
            task = bar.add_task(f"calibrate {step:.0f}s", total=len(group))
            t0 = time.perf_counter()
            paths, actuals = [], []
            for s in group:
                lo, hi = _spans(s, bt, cfg)
                stride = max(1, (hi - lo - hz) // cfg.calib_origins)
                origins = list(range(lo, hi - hz + 1, stride))
                y = s.values
                scales = np.array([series_scale(y[:o], scale_points(step)) for o in origins])
                p = sm.member_paths([y] * len(origins), [s.start_s] * len(origins), origins, scales, hz)
                a = np.stack([y[o : o + hz] for o in origins])
                paths.append(p / scales[None, :, None])
                actuals.append(a / scales[:, None])
                bar.update(task, advance=1)
            sm.calibrate(np.concatenate(paths, axis=1), np.concatenate(actuals), cfg.weighting)
            timings[f"calibrate_s_{step:.0f}s"] = round(time.perf_counter() - t0, 2)
            steps[step] = sm
    meta = {"weighting": cfg.weighting, "members": ",".join(cfg.members), "seed": str(cfg.seed)}
    return FastEnsemble(steps, cfg.weighting, meta), timings


def backtest(
    model: FastEnsemble,
    series: Sequence[SeriesData],
    cfg: TrainConfig,
    console: Console | None = None,
    label: str = "backtest",
    with_components: bool = True,
) -> list[Score]:
    """Rolling-origin scores of the model (and its members) on every series' scored span."""
    scores: list[Score] = []
    with progress(console) as bar:
        task = bar.add_task(label, total=len(series))
        for s in series:
            bt = BacktestConfig.for_step(s.step_s, cfg.quick)
            fc = FastForecaster(model, with_components)
            origins, forecasts = rolling_forecasts(s.values, s.step_s, s.start_s, fc, bt)
            scores.extend(score_forecasts(s, origins, forecasts, bt))
            bar.update(task, advance=1)
    return scores


def baseline_scores(series: Sequence[SeriesData], cfg: TrainConfig) -> list[Score]:
    """The built-in seasonal-naive (what the service serves without a champion)."""
    from novacron.models.baselines import SeasonalNaive

    scores: list[Score] = []
    for s in series:
        bt = BacktestConfig.for_step(s.step_s, cfg.quick)
        origins, forecasts = rolling_forecasts(s.values, s.step_s, s.start_s, SeasonalNaive(), bt)
        scores.extend(score_forecasts(s, origins, forecasts, bt))
    return scores


def summarize(scores: Sequence[Score], model: str = "ensemble") -> dict[str, float]:
    """Means over (series, horizon) of the named model: overall and per split."""
    out: dict[str, float] = {}
    rows = [r for r in scores if r.model == model]
    for split in ("all", "dev", "heldout"):
        sel = [r for r in rows if split == "all" or r.split == split]
        if not sel:
            continue
        pre = "" if split == "all" else f"{split}_"
        out[f"{pre}mase"] = float(np.mean([r.mase for r in sel]))
        out[f"{pre}smape"] = float(np.mean([r.smape for r in sel]))
        out[f"{pre}within10_pct"] = float(np.mean([r.within10 for r in sel]))
        out[f"{pre}coverage80"] = float(np.mean([r.coverage80 for r in sel]))
        out[f"{pre}coverage95"] = float(np.mean([r.coverage95 for r in sel]))
        out[f"{pre}width80_rel"] = float(np.mean([r.width80 for r in sel]))
    return {k: v for k, v in out.items() if math.isfinite(v)}


def train(cfg: TrainConfig, console: Console | None = None) -> TrainResult:
    """Select, fit and backtest; no tracking (``run_training`` adds MLflow)."""
    t0 = time.perf_counter()
    series = select_series(cfg)
    if not series:
        raise ValueError("no series long enough to train and backtest")
    model, timings = fit(series, cfg, console)
    timings["fit_s"] = round(time.perf_counter() - t0, 2)
    t1 = time.perf_counter()
    scores = backtest(model, series, cfg, console)
    timings["backtest_s"] = round(time.perf_counter() - t1, 2)
    metrics = summarize(scores)
    for member in cfg.members:
        metrics.update({f"{member}_{k}": v for k, v in summarize(scores, member).items() if "mase" in k})
    return TrainResult(model, series, scores, metrics, timings)


@dataclass(frozen=True, slots=True)
class Promotion:
    promoted: bool
    alias: str
    reason: str
    new_mase: float
    reference_mase: float
    reference: str  # "champion <name>/<version>" or "builtin seasonal-naive"


def decide(new_mase: float, reference_mase: float, reference: str) -> Promotion:
    """Promote only on a strictly lower backtest MASE (ties keep the incumbent)."""
    if not math.isfinite(new_mase):
        return Promotion(
            False,
            "challenger",
            "new model's backtest MASE is not finite",
            new_mase,
            reference_mase,
            reference,
        )
    if new_mase < reference_mase:
        return Promotion(
            True,
            "champion",
            f"new MASE {new_mase:.4f} < {reference} MASE {reference_mase:.4f}",
            new_mase,
            reference_mase,
            reference,
        )
    return Promotion(
        False,
        "challenger",
        f"new MASE {new_mase:.4f} >= {reference} MASE {reference_mase:.4f}: {reference} stays",
        new_mase,
        reference_mase,
        reference,
    )


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run_id: str
    experiment_id: str
    model_name: str
    version: str
    promotion: Promotion
    metrics: dict[str, float]
    timings: dict[str, float]
    n_series: int


def run_training(
    cfg: TrainConfig,
    tracking_uri: str,
    model_name: str,
    experiment: str = "novacron-training",
    console: Console | None = None,
) -> RunOutcome:
    """Train, backtest, log to MLflow, register, and move ``@champion`` only on a win."""
    import mlflow

    from .plots import forecast_plot
    from .registry import CHALLENGER, CHAMPION, configure, load_alias, log_forecaster

    client = configure(tracking_uri)
    mlflow.set_experiment(experiment)
    t_start = time.perf_counter()
    result = train(cfg, console)
    new_mase = result.metrics["mase"]

    t0 = time.perf_counter()
    champion = load_alias(client, model_name, CHAMPION)
    if champion is not None:
        ref_scores = backtest(
            champion.model,
            result.series,
            cfg,
            console,
            label=f"champion {champion.label}",
            with_components=False,
        )
        ref_mase, ref_name = summarize(ref_scores).get("mase", math.inf), f"champion {champion.label}"
    else:
        ref_mase = summarize(baseline_scores(result.series, cfg), BASELINE).get("mase", math.inf)
        ref_name = "builtin seasonal-naive"
    promotion = decide(new_mase, ref_mase, ref_name)
    result.timings["compare_s"] = round(time.perf_counter() - t0, 2)

    with (
        mlflow.start_run(run_name=f"train-{'quick' if cfg.quick else 'full'}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        work = Path(tmp)
        mlflow.log_params(
            {
                **cfg.params(),
                "n_series": len(result.series),
                "data": "real" if cfg.data_dir is not None and cfg.data_dir.is_dir() else "synthetic",
                "registered_model": model_name,
            }
        )
        mlflow.log_metrics({f"backtest_{k}": v for k, v in result.metrics.items()})
        mlflow.log_metrics(
            {
                "reference_mase": ref_mase if math.isfinite(ref_mase) else 1e9,
                "promoted": float(promotion.promoted),
                **{f"time_{k}": v for k, v in result.timings.items()},
            }
        )
        mlflow.set_tags(
            {
                "promotion.decision": promotion.alias,
                "promotion.reason": promotion.reason,
                "promotion.reference": promotion.reference,
                "promotion.new_mase": f"{new_mase:.6f}",
                "promotion.reference_mase": f"{ref_mase:.6f}",
            }
        )
        scores_path = work / "backtest_scores.csv"
        _write_scores(result.scores, scores_path)
        mlflow.log_artifact(str(scores_path), "backtest")
        weights = {
            f"{step:.0f}s": dict(zip(sm.members, sm.weights.mean(axis=1).round(4).tolist(), strict=True))
            for step, sm in result.model.steps.items()
        }
        mlflow.log_dict(
            {"member_weights_mean": weights, "promotion": asdict(promotion), "timings": result.timings},
            "summary.json",
        )
        fig = forecast_plot(result.model, result.series, cfg.quick)
        mlflow.log_figure(fig, "plots/forecast_vs_actual.png")
        model_uri = log_forecaster(result.model, work)
        mv = mlflow.register_model(model_uri, model_name)
        version = str(mv.version)
        client.set_registered_model_alias(model_name, CHAMPION if promotion.promoted else CHALLENGER, version)
        client.set_model_version_tag(model_name, version, "backtest_mase", f"{new_mase:.6f}")
        client.set_model_version_tag(model_name, version, "promotion", promotion.reason)
        mlflow.set_tag("registered_version", version)
        run_id, exp_id = run.info.run_id, run.info.experiment_id
    result.timings["total_s"] = round(time.perf_counter() - t_start, 2)
    return RunOutcome(
        run_id, exp_id, model_name, version, promotion, result.metrics, result.timings, len(result.series)
    )


def _write_scores(scores: Sequence[Score], path: Path) -> None:
    import pandas as pd

    pd.DataFrame([s.as_dict() for s in scores]).to_csv(path, index=False)


def summary_line(out: RunOutcome) -> str:
    p = out.promotion
    return (
        f"run {out.run_id}: {out.model_name} v{out.version} -> @{p.alias} ({p.reason}); "
        f"{out.n_series} series, MASE {out.metrics['mase']:.4f}, "
        f"coverage80 {out.metrics.get('coverage80', float('nan')):.1f}%, "
        f"{out.timings.get('total_s', 0):.1f} s"
    )


def metrics_table(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in sorted(metrics.items())]
