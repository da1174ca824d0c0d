"""The MLflow side of a forecaster: a pyfunc wrapper, registration, aliases, the champion.

The model travels as a pickle artifact inside an MLflow pyfunc model, so any MLflow client
can load and call it (``mlflow.pyfunc.load_model``), while the service unwraps it and calls
``predict_batch`` directly (no DataFrame round trip on the hot path). Aliases, not the
deprecated stages: ``@champion`` serves, ``@challenger`` is the latest that did not win.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc.model import PythonModel
from mlflow.tracking import MlflowClient

from .fastensemble import FastEnsemble, SeriesRequest

CHAMPION = "champion"
CHALLENGER = "challenger"
DEFAULT_MODEL_NAME = "novacron-forecaster"
ARTIFACT_KEY = "forecaster"


class ForecasterPyfunc(PythonModel):
    """Rows of (history, step_s, horizon[, start_s]) in, point and 80/95 % bands out."""

    def load_context(self, context: Any) -> None:
        with open(context.artifacts[ARTIFACT_KEY], "rb") as fh:
            self.model: FastEnsemble = pickle.load(fh)  # noqa: S301 - our own artifact

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        items = [
            SeriesRequest(
                np.asarray(r["history"], dtype=np.float64),
                float(r["step_s"]),
                int(r["horizon"]),
                float(r.get("start_s", 0.0) or 0.0),
            )
            for r in model_input.to_dict("records")
        ]
        rows = []
        for fc, weights in self.model.predict_batch(items):
            rows.append(
                {
                    "point": fc.point.tolist(),
                    **{f"lower_{round(lv * 100)}": iv.lower.tolist() for lv, iv in fc.intervals.items()},
                    **{f"upper_{round(lv * 100)}": iv.upper.tolist() for lv, iv in fc.intervals.items()},
                    "member_weights": weights,
                }
            )
        return pd.DataFrame(rows)


def configure(tracking_uri: str) -> MlflowClient:
    """Point MLflow at the tracking server; fail fast rather than retry for minutes."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    mlflow.set_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def log_forecaster(model: FastEnsemble, workdir: Path) -> str:
    """Log ``model`` as a pyfunc under the active run; returns the model URI."""
    path = workdir / "forecaster.pkl"
    with path.open("wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=ForecasterPyfunc(),
        artifacts={ARTIFACT_KEY: str(path)},
        # Explicit: inferring requirements loads the model in a subprocess (seconds).
        pip_requirements=["mlflow", "numpy", "pandas", "torch", "pytorch-lightning", "scipy"],
    )
    return str(info.model_uri)


@dataclass(frozen=True, slots=True)
class Champion:
    name: str
    version: str
    run_id: str
    model: FastEnsemble

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"


def alias_version(client: MlflowClient, name: str, alias: str) -> tuple[str, str] | None:
    """(version, run_id) behind ``name@alias``, or None when the model or alias is absent."""
    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise
    return str(mv.version), str(mv.run_id or "")


def load_version(name: str, version: str) -> FastEnsemble:
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    wrapper = pyfunc.unwrap_python_model()
    if not isinstance(wrapper, ForecasterPyfunc):
        raise TypeError(f"{name}/{version} is not a NovaCron forecaster ({type(wrapper).__name__})")
    return wrapper.model


def load_alias(client: MlflowClient, name: str, alias: str = CHAMPION) -> Champion | None:
    found = alias_version(client, name, alias)
    if found is None:
        return None
    version, run_id = found
    return Champion(name, version, run_id, load_version(name, version))
