"""A group's CPU correlation with its other metrics: the members' latest, Fisher-pooled, kept
in the group's memory with each member's feature and written to the TSDB by the group agent."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from novacron.autoscaler.live_group import group_correlations, record_feature
from novacron.models.features import pooled_correlation
from novacron.streams.tsdb import group_correlation_point


def test_members_correlations_are_pooled_per_metric() -> None:
    memory = record_feature({}, "web-1", 60.0, 50.0, 2.0, [50.0], 60.0, {"memory": 0.9, "requests": 0.8})
    memory = record_feature(memory, "web-2", 60.0, 40.0, 2.0, [40.0], 60.0, {"memory": 0.5})
    memory = record_feature(memory, "web-3", 60.0, 40.0, 2.0, [40.0], 60.0)  # a CPU-only member
    out = group_correlations(memory)
    assert out["requests"] == pytest.approx(0.8)
    expected = math.tanh((math.atanh(0.9) + math.atanh(0.5)) / 2)
    assert out["memory"] == pytest.approx(expected)
    assert out["memory"] > (0.9 + 0.5) / 2  # Fisher pooling, not the plain mean
    # A member's newer feature replaces its correlations; a late older one changes nothing.
    memory = record_feature(memory, "web-1", 120.0, 50.0, 2.0, [50.0], 60.0, {"memory": 0.5})
    assert group_correlations(memory)["memory"] == pytest.approx(0.5)
    assert "requests" not in group_correlations(memory)
    late = record_feature(memory, "web-1", 90.0, 50.0, 2.0, [50.0], 60.0, {"memory": -0.9})
    assert late is memory
    assert group_correlations({}) == {}


def test_pooling_handles_perfect_and_no_correlations() -> None:
    assert pooled_correlation([]) is None
    assert pooled_correlation([1.0, 1.0]) == pytest.approx(1.0, abs=1e-5)
    assert pooled_correlation([0.6, -0.6]) == pytest.approx(0.0)


def test_the_group_point_is_in_event_time_and_names_its_metrics() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    line = group_correlation_point("web", at, {"memory": 0.5, "requests": -0.25}).to_line_protocol()
    assert line == f"novacron_group_features,group_id=web corr_memory=0.5,corr_requests=-0.25 {int(at.timestamp())}"
