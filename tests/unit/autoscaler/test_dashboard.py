"""The Grafana dashboard only queries metrics the pipeline writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from novacron.autoscaler import metrics_names

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "dashboards" / "novacron.json"
NAME = re.compile(r"\b(novacron_[a-z0-9_]+)\b")


def _dash() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def test_every_panel_query_names_a_written_metric() -> None:
    panels = _dash()["panels"]
    assert panels
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = NAME.findall(target["expr"])
            assert names, f"{panel['title']}: {target['expr']} names no metric"
            unknown = set(names) - metrics_names.ALL
            assert not unknown, f"{panel['title']}: {unknown} is not written by the pipeline"


def test_required_views_are_there() -> None:
    d = _dash()
    exprs = " ".join(t["expr"] for p in d["panels"] for t in p["targets"])
    for name in (metrics_names.FORECAST_POINT, metrics_names.FORECAST_UPPER,
                 metrics_names.FORECAST_LOWER, metrics_names.FEATURES_LAST,
                 metrics_names.HOST_UTILIZATION, metrics_names.GROUP_UTILIZATION):  # fmt: skip
        assert name in exprs
    ann = d["annotations"]["list"]
    assert any(metrics_names.SCALING_DECISION in a["expr"] for a in ann)
    for a in ann:
        assert set(NAME.findall(a["expr"])) <= metrics_names.ALL
    for var in d["templating"]["list"]:
        assert set(NAME.findall(var.get("query", ""))) <= metrics_names.ALL


def test_names_follow_measurement_field() -> None:
    for name in metrics_names.ALL:
        assert re.fullmatch(r"novacron_(features|forecast|scaling|group|host)_[a-z0-9_]+", name)
