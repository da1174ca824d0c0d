"""Readiness probes ask the real servers something that proves they serve our data."""

from __future__ import annotations

from novacron.services import Mlflow, TimeSeriesDB, start_all
from novacron.settings import Settings


def test_mlflow_is_ready_only_when_its_tracking_store_answers(settings: Settings) -> None:
    start_all(settings, ["mlflow", "tsdb"])
    assert Mlflow("mlflow", settings).ready()
    # VictoriaMetrics answers /health with 200 too: a bare health probe would call it MLflow.
    impostor = settings.model_copy(update={"mlflow_url": settings.tsdb_url})
    assert TimeSeriesDB("tsdb", settings).ready()
    assert not Mlflow("mlflow", impostor).ready()


def test_nothing_listening_is_not_ready(settings: Settings) -> None:
    nowhere = settings.model_copy(update={"mlflow_url": "http://127.0.0.1:9", "tsdb_url": "http://127.0.0.1:9"})
    assert not Mlflow("mlflow", nowhere).ready()
    assert not TimeSeriesDB("tsdb", nowhere).ready()
