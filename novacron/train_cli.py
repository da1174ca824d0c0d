"""``novacron train``: retrain the forecaster, track it in MLflow, promote on a win."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from novacron.settings import get_settings

DEFAULT_MODEL_NAME = "novacron-forecaster"


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""
    app.command("train")(train)


def train(
    data: Annotated[
        Path | None,
        typer.Option(help="CSV/Parquet metrics folder (default: <data_dir>/metrics; synthetic when absent)."),
    ] = None,
    series_limit: Annotated[int | None, typer.Option(min=1, help="Use at most this many series.")] = None,
    quick: Annotated[bool, typer.Option(help="Shorter scored spans, a smaller LSTM run.")] = False,
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = DEFAULT_MODEL_NAME,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "novacron-training",
    members: Annotated[
        str, typer.Option(help="Comma-separated members.")
    ] = "seasonal_naive,naive,drift,lstm",
    weighting: Annotated[
        str, typer.Option(help="inverse_error, inverse_mse, best or equal.")
    ] = "inverse_mse",
    epochs: Annotated[int | None, typer.Option(min=1, help="LSTM epochs (default 2 quick, 4 full).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for data sampling and the LSTM.")] = 0,
    start_services: Annotated[bool, typer.Option(help="Start the local MLflow server if down.")] = True,
) -> None:
    """Train the served ensemble, backtest it, log it to MLflow and register it; move
    @champion only when it beats the current champion on the same backtest."""
    import torch

    from novacron.services import start_all
    from novacron.training.train import TrainConfig, run_training, summary_line

    torch.set_num_threads(1)  # the LSTM is small; a thread pool only adds contention
    settings = get_settings()
    console = Console(stderr=True)
    data_dir = data if data is not None else settings.data_dir / "metrics"
    try:
        cfg = TrainConfig(
            data_dir=data_dir if data_dir.is_dir() else None,
            series_limit=series_limit,
            quick=quick,
            members=tuple(m.strip() for m in members.split(",") if m.strip()),
            weighting=weighting,
            epochs=epochs,
            seed=seed,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if start_services:
        start_all(settings, ["mlflow"])
    out = run_training(cfg, settings.mlflow_url, model_name, experiment, console)
    typer.echo(summary_line(out))
