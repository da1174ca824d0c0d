"""`bentoml build` packs the forecast service from bentofile.yaml with the project's wheel, into
a Bento store of the test's own (the issue asks that `bentoml build` works)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BENTOML = Path(sys.executable).parent / "bentoml"


def test_bentoml_build_makes_a_bento_of_the_service(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "dist").mkdir(parents=True)
    shutil.copy(ROOT / "bentofile.yaml", ctx / "bentofile.yaml")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(ctx / "dist")], check=True, cwd=tmp_path, timeout=300)
    assert [p.name for p in (ctx / "dist").iterdir()] == ["novacron-0.1.0-py3-none-any.whl"]
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    built = subprocess.run([str(BENTOML), "build", str(ctx)], env=env, cwd=ctx, capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    listed = subprocess.run([str(BENTOML), "list", "-o", "json"], env=env, capture_output=True, text=True,
                            check=True, timeout=120)
    bentos = json.loads(listed.stdout)
    assert [b["tag"].split(":")[0] for b in bentos] == ["novacron-forecaster"]
    store = tmp_path / "bentoml" / "bentos" / "novacron-forecaster"
    wheels = list(store.glob("*/env/python/wheels/*.whl"))
    assert [w.name for w in wheels] == ["novacron-0.1.0-py3-none-any.whl"]
