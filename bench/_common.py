"""Shared plumbing for benchmarks: the results file with machine and date."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, {platform.python_version()}"


def write_results(name: str, figures: dict[str, Any]) -> Path:
    """Write bench/results/<name>.json with flat figures plus the machine and the date."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"benchmark": name, "machine": machine(), "date": datetime.now(UTC).isoformat(), **figures}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(out, indent=2, sort_keys=False) + "\n")
    return path


def write_and_show(name: str, figures: dict[str, Any]) -> Path:
    """``write_results``, then every figure on its own line and where they went (the caller
    prints its one-line summary last)."""
    path = write_results(name, figures)
    for k, v in figures.items():
        print(f"{k}: {v}")
    print(f"wrote {path}")
    return path
