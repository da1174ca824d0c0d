from __future__ import annotations

from datetime import UTC, datetime

from novacron.autoscaler import metrics_names
from novacron.streams.tsdb import decision_point, feature_point, forecast_points

from novacron.events import ActionKind, Decision, FeatureVector, Forecast, MetricName

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def promql_names(line: str) -> set[str]:
    """VictoriaMetrics' name for each field of one line-protocol line: <measurement>_<field>."""
    head, fields, _ts = line.split(" ")
    measurement = head.split(",")[0]
    return {f"{measurement}_{kv.split('=')[0]}" for kv in fields.split(",")}


def test_feature_line_is_in_event_time_and_names_dashboard_metrics() -> None:
    fv = FeatureVector(occurred_at=T0, vm_id="vm-1", metric=MetricName.CPU, window_s=60,
                       count=3, last=1, mean=2, std=0.5, p95=3, ewma=2, allocated=2)
    line = feature_point(fv).to_line_protocol()
    assert line.endswith(f" {int(T0.timestamp())}")
    assert "vm_id=vm-1" in line
    assert {metrics_names.FEATURES_P95, metrics_names.FEATURES_MEAN} <= promql_names(line)


def test_forecast_points_are_stamped_at_the_time_they_forecast() -> None:
    fc = Forecast(occurred_at=T0, vm_id="vm-1", metric=MetricName.CPU, horizon_s=120, step_s=60,
                  point=[1, 2], lower=[0, 1], upper=[2, 3], model="m")
    lines = [p.to_line_protocol() for p in forecast_points(fc)]
    assert [int(x.rsplit(" ", 1)[1]) for x in lines] == [int(T0.timestamp()) + 60,
                                                          int(T0.timestamp()) + 120]
    assert {metrics_names.FORECAST_POINT, metrics_names.FORECAST_UPPER} <= promql_names(lines[0])


def test_decision_point_records_direction_and_size() -> None:
    d = Decision(occurred_at=T0, action=ActionKind.SCALE_VCPU, target_id="vm-1",
                 params={"vcpus": 4, "previous_vcpus": 2}, explanation="x", decided_by="t")
    line = decision_point(d).to_line_protocol()
    assert "direction=up" in line and "decision=2" in line and "action=scale_vcpu" in line
    assert metrics_names.SCALING_DESIRED in promql_names(line)
    # A memory resize is sized in MiB; a shrink is a shrink.
    m = Decision(occurred_at=T0, action=ActionKind.SCALE_MEMORY, target_id="vm-1",
                 params={"memory_mib": 1536, "previous_memory_mib": 2048}, explanation="x",
                 decided_by="t")
    line = decision_point(m).to_line_protocol()
    assert "direction=down" in line and "decision=-512" in line and "desired=1536" in line
    assert "action=scale_memory" in line
