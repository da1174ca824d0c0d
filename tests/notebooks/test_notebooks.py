"""Notebooks run top to bottom in the test suite: an error in any cell fails the test."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.parametrize("name", ["forecast_evaluation.ipynb"])
def test_notebook_executes(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    t0 = time.monotonic()
    # A cell error raises CellExecutionError; the timeout is per cell.
    NotebookClient(nb, timeout=90, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    assert time.monotonic() - t0 < 120
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the forecast plot is missing"
    assert any("text/html" in o.get("data", {}) for o in outputs), "the accuracy table is missing"
