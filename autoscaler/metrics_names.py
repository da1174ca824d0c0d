"""Metric names the pipeline writes to the time-series DB, one constant each.

The stream agents write line protocol ``<measurement> <field>=<value>``; VictoriaMetrics
exposes it to PromQL as ``<measurement>_<field>``. These are the PromQL names; the Grafana
dashboard may only query names from ``ALL`` (a test checks it).
"""

from __future__ import annotations

# Feature agent: measurement ``novacron_features``, tags vm_id, metric, host_id, group.
FEATURES_MEAN = "novacron_features_mean"
FEATURES_P95 = "novacron_features_p95"
FEATURES_EWMA = "novacron_features_ewma"
FEATURES_LAST = "novacron_features_last"
FEATURES_ANOMALY_SCORE = "novacron_features_anomaly_score"

# Forecast agent: measurement ``novacron_forecast``, tags vm_id, metric, model, level.
FORECAST_POINT = "novacron_forecast_point"
FORECAST_LOWER = "novacron_forecast_lower"
FORECAST_UPPER = "novacron_forecast_upper"
FORECAST_FALLBACK = "novacron_forecast_fallback"  # 1 while a series runs on the reactive rule

# Decision agent: measurement ``novacron_scaling``, tags group, vm_id, direction, rule, policy.
SCALING_DECISION = "novacron_scaling_decision"  # one point per decision: desired - current
SCALING_DESIRED = "novacron_scaling_desired"
SCALING_COST_DELTA = "novacron_scaling_cost_delta"

# Allocation and utilisation: measurements ``novacron_group`` and ``novacron_host``.
GROUP_REPLICAS = "novacron_group_replicas"
GROUP_DEMAND = "novacron_group_demand"
GROUP_UTILIZATION = "novacron_group_utilization"
HOST_UTILIZATION = "novacron_host_utilization"

ALL: frozenset[str] = frozenset({
    FEATURES_MEAN, FEATURES_P95, FEATURES_EWMA, FEATURES_LAST, FEATURES_ANOMALY_SCORE,
    FORECAST_POINT, FORECAST_LOWER, FORECAST_UPPER, FORECAST_FALLBACK,
    SCALING_DECISION, SCALING_DESIRED, SCALING_COST_DELTA,
    GROUP_REPLICAS, GROUP_DEMAND, GROUP_UTILIZATION, HOST_UTILIZATION,
})  # fmt: skip


def split_name(name: str, measurement: str) -> str:
    """The line-protocol field of a PromQL name under ``measurement``."""
    prefix = f"{measurement}_"
    if not name.startswith(prefix):
        raise ValueError(f"{name} is not a field of {measurement}")
    return name[len(prefix) :]
