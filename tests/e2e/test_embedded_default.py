"""`novacron up` as users run it: a subprocess on the embedded default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import Pipeline

pytestmark = pytest.mark.e2e


def test_novacron_up_replays_a_real_trace_and_exits_zero(pipeline: Pipeline) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NOVACRON_CONSUMER_GROUP"}
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "novacron.cli", "up", "--duration", "60"],
        env=env, cwd=repo, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = " ".join(proc.stdout.split())
    assert "replayed" in out
    published = int(out.split("replayed ", 1)[1].split(" ", 1)[0])
    assert published > 0
    real = (pipeline.settings.data_dir / "metrics").is_dir()
    assert ("crane/input" in out) == real, "replays the real trace whenever the data is there"
