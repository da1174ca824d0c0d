"""A live MLflow server and a BentoML forecast service on a free port of its own, serving a
registered model name unique to this run (so runs never see each other's champions)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
import torch
from novacron.serving.launcher import BentoServer

from novacron.services import start_all
from novacron.settings import Settings

torch.set_num_threads(1)  # the in-test training run: small LSTM, shared cores


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def model_name() -> str:
    return f"novacron-serving-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def bento(settings: Settings, model_name: str) -> Iterator[BentoServer]:
    start_all(settings, ["mlflow"])
    own = settings.model_copy(update={"serving_url": f"http://127.0.0.1:{_free_port()}"})
    server = BentoServer(own, env={"NOVACRON_REGISTERED_MODEL": model_name, "NOVACRON_CHAMPION_POLL_S": "1"})
    server.start()
    try:
        yield server
    finally:
        server.stop()
