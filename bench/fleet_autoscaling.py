"""Predictive autoscaling against a reactive (HPA-like) and a static-peak baseline.

``python -m bench.fleet_autoscaling [--quick] [--split dev|heldout|all] [--data DIR]
[--profile NAME] [--level L] [--level-down L]``

Tune with ``--split dev``: the held-out series are then not even run, so no held-out figure
can be seen while choosing (the full run, ``all``, is for the report); a run of one split
writes ``fleet_autoscaling_<split>.json``, the full run ``fleet_autoscaling.json``.

Every series group of the metrics data (per split, and per step where a group mixes steps)
becomes one fleet: each series is the demand of one VM group, scaled so that its 99th
percentile needs 16 replicas; the groups share hosts of 16 replica slots. The same fleet is
run three times in the same process, with the live rule (``autoscaler.rules.decide_group``
fed by ``autoscaler.online.conformal_peak``: a level / seasonal path with a conformal bound on
the peak of the coming steps, calibrated per series on a rolling window in event time), with
the HPA baseline and with static peak provisioning. Dev and held-out are reported
separately; the profile, the bound's level and window were chosen on dev only (the cheapest
level that keeps the reactive-event reduction at the issue's 70 % aim on dev), and so was
the higher-level bound that scale-downs respect (``--level-down``; 0 turns it off).

Definitions (also in ``autoscaler/simulator.py``):
- reactive scaling event: a scale-up decided when the observed utilisation of the ready
  capacity was already at or above the policy's scale-up threshold (the load came first);
- false-positive scale-down (the headline ``false_positive_scale_downs``): a scale-down that
  causes an SLA violation within the lead time, i.e. a step of the window whose unserved
  demand the removed replicas would have served (``simulator.count_false_positive_downs``).
  The issue's wording is "followed by an SLA violation"; that wider count, which also takes
  violations the capacity before the scale-down could not have served either, is reported
  as ``false_positive_scale_downs_any_violation``. The headline is the causal one because the
  target is "zero false-positive scale-downs causing SLA violations": a violation the removed
  replicas could not have prevented is not the scale-down's mistake;
- SLA-violation minutes: minutes in which a group's demand exceeded its ready capacity;
- utilisation_avg: served demand / allocated capacity (booting replicas included);
  ``utilization_avg_pct_oracle_at_target`` is the same for a scaler that knows each step's
  demand and needs no boot time, at the profile's target (the ceiling for any rule that
  steers to that target on these traces);
- cost_per_served_ratio_vs_reactive: cost per unit of demand served, predictive over HPA;
- utilisation_peak_host: 99th percentile over time of the busiest host's utilisation.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from novacron.autoscaler import online
from novacron.autoscaler.online import conformal_forecasts
from novacron.autoscaler.policy import ScalingPolicy
from novacron.autoscaler.simulator import (
    FleetResult,
    Forecasts,
    GroupTrace,
    ScalerName,
    SimConfig,
    make_forecasts,
    simulate_fleet,
)
from novacron.models.baselines import Drift, Naive, SeasonalNaive
from novacron.training.data import SeriesData, load_or_synthesize, slug

from bench._common import RESULTS, write_results

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "metrics"
PEAK_UNITS = 16.0  # replicas the 99th percentile of a series needs at 100 %
BOOT_S = 300.0
# A scale-down must stay safe over the boot time plus the profile's scale-down delay (the rule
# takes the longer of that and the policy's horizon, so the horizon is just the boot time).
HORIZON_S = BOOT_S
# Cost ratios in the comments below up to LEVEL_DOWN_BURSTY were measured against the HPA
# baseline before 36a7903, which re-ordered booting replicas during ramps (so it cost more:
# the dev cost ratio of the same predictive run went from 1.066 to 1.193 with the fix).
PROFILE = "aggressive"  # chosen on dev (cheapest and hottest of the three; see README row)
LEVEL = 0.8  # of the conformal bound; on dev 0.7 / 0.8 / 0.9 gave cost ratio 1.00 / 1.04 / 1.12
# A higher bound that scale-downs respect. On dev (with LEVEL 0.8): none / 0.9 / 0.95 / 0.99 gave
# false-positive scale-downs 626 / 296 / 172 / 55 at cost ratios 1.04 / 1.09 / 1.15 / 1.46;
# 0.9 halves them for 4 % more cost (a longer scale-down delay of 600 s bought the same for 6 %).
LEVEL_DOWN: float | None = 0.9
# The calibration window (4 h; on dev it covered a little tighter than 1 day) and the regime split
# below live in autoscaler.online, which the live agents' peak bound (online.peak_bound_now) uses too.
WINDOW_S = online.CALIBRATION_WINDOW_S
# Margins calibrated apart after a drop (the value at most DROP_FRACTION of its peak over the
# last DROP_LOOKBACK_S) and in steady stretches (``online.after_drop``). On dev, against one
# pooled quantile (causal false-positive scale-downs / cost ratio / SLA ratio / reactive-event
# reduction 203 / 1.088 / 0.211 / 79.8): 1 h at 0.75 gave 189 / 1.073 / 0.189 / 81.1; 30 min
# at 0.75 gave 201 / 1.065 / 0.206 / 79.5; 2 h at 0.6 gave 196 / 1.073 / 0.188 / 80.5 (the
# neighbours agree, so the choice is not a knife-edge); only for the scale-down bound, 1 h at
# 0.6: 190 / 1.085. Other ideas measured on dev and not kept (same FP-cost frontier or worse):
# a median anchor of 3 or 6 steps; margins scaled by recent volatility (178 / 1.129); a 99 %
# scale-down bound only on steps with a heavy-tailed calibration (86 / 1.392, frontier ~55);
# scale-down cuts capped at a third of the capacity (140 / 1.117, a small gain at that cost but
# worse at lower cost); one replica at a time (101 / 1.61); the 90 % bound fitting at the
# scale-up threshold (254 / 1.056) or the 95-99 % bound fitting at 100 % (194 / 1.099,
# 80 / 1.333); a 15 or 30 min scale-down window (143 / 1.135, 91 / 1.22); no scale-down delay
# (609 / 1.011). With the regime margins, the rule's scale-up sizing (bound within the scale-up
# threshold, point within the target, instead of the bound within the target) went from
# 189 / 1.073 / 0.189 / 81.1 to 185 / 1.066 / 0.192 / 79.6 on dev (kept: it improves the three
# figures that miss their targets and leaves the met ones met).
DROP_LOOKBACK_S: float | None = online.DROP_LOOKBACK_S
DROP_FRACTION = online.DROP_FRACTION
# The scale-down bound's level on the steps where the series is bursty (``online.bursty``: lag-1
# autocorrelation >= 0.7 and 99th-percentile step >= 30 % of the 99th-percentile level over the
# last day). On dev, with the scale-up rule of 41339be (false-positive scale-downs / cost ratio /
# util / reduction): none 170 / 1.173 / 62.9 / 73.2; 0.97 91 / 1.197 / 61.8 / 75.3 (kept: about
# half the false positives for 2 % more cost); 0.99 86 / 1.210; 0.98 (jump 30 %, autocorrelation
# 0.5) 91 / 1.229; classifier neighbours: autocorrelation 0.8 98 / 1.189, jump 20 % 88 / 1.200,
# autocorrelation 0.5 91 / 1.214. The same 0.95 bound on every series: 95 / 1.228; 0.99 on the
# bursty ones with no 0.9 bound elsewhere: 276 / 1.131.
LEVEL_DOWN_BURSTY: float | None = 0.97
# ``--frontier``: the scale-down bound at other levels (everywhere, on bursty series), to show
# what false-positive scale-downs cost to remove: (None, None) is no separate bound (scale-downs
# respect the 80 % one); (1.0, 1.0) holds capacity for the largest rise seen after any step of
# the 4 h calibration window.
FRONTIER: tuple[tuple[float | None, float | None], ...] = ((None, None), (0.99, 0.999), (1.0, 1.0))
HPA_TARGET_FLOOR = 0.2  # the lowest HPA target tried for the equal-SLA comparison
QUICK_SERIES = 2
QUICK_EVAL_S = 86_400.0


def to_trace(s: SeriesData) -> GroupTrace | None:
    q = float(np.quantile(s.values, 0.99))
    if not q > 0:
        return None
    return GroupTrace(s.name, s.step_s, s.start_s, np.maximum(s.values, 0.0) / q * PEAK_UNITS)


SERVED = {"served-sn": SeasonalNaive, "served-drift": Drift, "served-naive": Naive}


def served_forecasts(
    trace: GroupTrace, first: int, steps: int, horizon: int, level: float,
    level_down: float | None, level_down_bursty: float | None, model: str = "served-sn",
) -> Forecasts:  # fmt: skip
    """What the live agents give the rule when serving answers with a history model (the
    built-in one ``make run`` serves before a champion is trained): the model's point and
    band, each bound raised step by step to the level path's conformal peak bound (the rows
    of ``online.peak_bound_now``), the served band for scale-downs at ``level_down``."""
    factory = SERVED[model]
    sn = make_forecasts(trace, first, steps, horizon, [factory], level)
    down = None
    if level_down is not None:
        down = make_forecasts(trace, first, steps, horizon, [factory], level_down).upper
    return raised_to_peak(trace, first, steps, horizon, level, level_down, level_down_bursty,
                          sn.point, sn.upper, down, sn.model)  # fmt: skip


def raised_to_peak(
    trace: GroupTrace, first: int, steps: int, horizon: int, level: float,
    level_down: float | None, level_down_bursty: float | None, point: np.ndarray,
    served_upper: np.ndarray, served_down: np.ndarray | None, model: str,
) -> Forecasts:  # fmt: skip
    """A served point and band as the live agents hand them to the rule (``live.peak_bounds``):
    each bound raised step by step to the level path's conformal peak bound at its level."""
    peak = conformal_forecasts(
        trace, first, steps, horizon, level=level, window_s=WINDOW_S, path="level",
        level_down=level_down, drop_lookback_s=DROP_LOOKBACK_S, drop_fraction=DROP_FRACTION,
        level_down_bursty=level_down_bursty if level_down else None,
    )  # fmt: skip
    upper = np.maximum(served_upper, peak.upper)
    down = None
    if peak.upper_down is not None and served_down is not None:
        down = np.maximum(np.maximum(served_down, peak.upper_down), upper)
    return Forecasts(point, upper, f"{model}+conformal_peak", down, peak.level_down,
                     peak.level_down_steps, peak.down_note)  # fmt: skip


def champion_forecasts(
    model: Any, trace: GroupTrace, first: int, steps: int, horizon: int, level: float,
    level_down: float | None, level_down_bursty: float | None, chunk: int = 2_000,
) -> Forecasts:  # fmt: skip
    """``served_forecasts`` for a trained champion (``training.fastensemble.FastEnsemble``):
    its point and conformal band at every step, batched (one LSTM pass per ``chunk`` steps,
    as calibration does), raised to the level path's peak bound. A step it has no model for
    gets the built-in naive model, as serving does."""
    from novacron.models.lstm import series_scale
    from novacron.training.fastensemble import scale_points

    sm = model.steps.get(trace.step_s)
    if sm is None:
        return served_forecasts(trace, first, steps, horizon, level, level_down, level_down_bursty,
                                "served-naive")  # fmt: skip
    y = trace.demand
    origins = np.arange(first + 1, first + steps + 1)  # row k has seen y[.. first + k]
    pts = scale_points(trace.step_s)
    scales = np.array([series_scale(y[:o], pts) for o in origins])
    point = np.empty((steps, horizon))
    for a in range(0, steps, chunk):
        b = min(steps, a + chunk)
        paths = sm.member_paths([y] * (b - a), [trace.start_s] * (b - a), origins[a:b].tolist(),
                                scales[a:b], horizon)  # fmt: skip
        point[a:b] = sm.combine(paths)

    def band_top(lv: float) -> np.ndarray:
        return point + scales[:, None] * sm.band(lv, horizon)[1][None, :]

    return raised_to_peak(trace, first, steps, horizon, level, level_down, level_down_bursty,
                          np.maximum(point, 0.0), band_top(level),
                          None if level_down is None else band_top(level_down), "ensemble")  # fmt: skip


def train_champion(series: Sequence[SeriesData]) -> Any:
    """The champion ``novacron train`` would register, trained here on ``series`` only."""
    from novacron.training.train import STEPS, TrainConfig, fit

    model, _ = fit([s for s in series if s.step_s in STEPS], TrainConfig())
    return model


def run_fleet(
    traces: Sequence[GroupTrace], cfg: SimConfig, level_down: float | None = LEVEL_DOWN,
    level_down_bursty: float | None = LEVEL_DOWN_BURSTY,
    scalers: Sequence[ScalerName] = ("predictive", "reactive", "static"),
    forecaster: str = "conformal",
    champion: Any = None,
) -> tuple[dict[str, FleetResult], list[Forecasts]]:  # fmt: skip
    step_s = traces[0].step_s
    first = int(cfg.warmup_s // step_s)
    pol = cfg.policy
    horizon = max(1, math.ceil(max(pol.horizon_s, pol.lead_time_s + pol.scale_down_delay_s) / step_s))
    fcs = []
    for t in traces:
        n = t.demand.size - first
        if cfg.max_eval_steps is not None:
            n = min(n, cfg.max_eval_steps)
        if forecaster == "served-champion":
            fcs.append(champion_forecasts(champion, t, first, n, horizon, cfg.level, level_down,
                                          level_down_bursty))  # fmt: skip
            continue
        if forecaster in SERVED:
            fcs.append(served_forecasts(t, first, n, horizon, cfg.level, level_down, level_down_bursty,
                                        forecaster))  # fmt: skip
            continue
        fcs.append(
            conformal_forecasts(
                t,
                first,
                n,
                horizon,
                level=cfg.level,
                window_s=WINDOW_S,
                level_down=level_down,
                drop_lookback_s=DROP_LOOKBACK_S,
                drop_fraction=DROP_FRACTION,
                level_down_bursty=level_down_bursty if level_down else None,
            )
        )
    out = {sc: simulate_fleet(traces, cfg, sc, fcs) for sc in scalers}
    return out, fcs


def hpa_at_equal_sla(
    fleets: Sequence[tuple[Sequence[GroupTrace], SimConfig]], violation_min: float, iters: int = 8
) -> tuple[float, bool, list[dict[str, FleetResult]]]:
    """The HPA baseline at the highest target utilisation (the cheapest HPA) whose SLA-violation
    minutes over these fleets are at most ``violation_min``, found by bisection between
    ``HPA_TARGET_FLOOR`` and the policy's target (its minutes fall as its target does):
    (target, True, runs); (the floor, False, its runs) when even the floor has more minutes.

    The issue compares costs at each scaler's own SLA; this is the comparison at the same SLA:
    what the reactive scaler costs when it is tuned to serve as well as the predictive one."""

    def run(target: float) -> tuple[float, list[dict[str, FleetResult]]]:
        # Hosts for the capacity a lower target asks for: clipped by the fleet's hosts, the
        # HPA would violate more at a lower target, not less (cost counts replicas, not hosts).
        out = [{"reactive": simulate_fleet(
                    tr, replace(cfg, hpa_target=target,
                                host_headroom=max(cfg.host_headroom, 1.5 / target)), "reactive")}
               for tr, cfg in fleets]  # fmt: skip
        return sum(g.violation_minutes for f in out for g in f["reactive"].groups), out

    lo, hi = HPA_TARGET_FLOOR, fleets[0][1].policy.target
    minutes, best = run(lo)
    if minutes > violation_min:
        return lo, False, best
    for _ in range(iters):
        mid = (lo + hi) / 2
        minutes, out = run(mid)
        if minutes <= violation_min:
            lo, best = mid, out
        else:
            hi = mid
    return lo, True, best


def oracle_allocation(demand: np.ndarray, policy: ScalingPolicy) -> np.ndarray:
    """Replicas of a scaler that knows each step's demand and has no boot time: demand at the
    target utilisation, within the bounds. Its utilisation is the most any rule steering to
    that target can reach on the trace (a reference for ``utilization_avg_pct``)."""
    need = np.ceil(demand / policy.target - 1e-9)
    return np.clip(need, policy.min_replicas, policy.max_replicas)


def totals(runs: list[dict[str, FleetResult]], res_policy: ScalingPolicy) -> dict[str, dict[str, float]]:
    agg: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for fleet in runs:
        for sc, res in fleet.items():
            a = agg[sc]
            for g in res.groups:
                a["reactive_events"] += g.reactive_events
                a["breach_scale_ups"] += g.breach_scale_ups
                a["scale_ups"] += g.scale_ups
                a["scale_downs"] += g.scale_downs
                a["fp_downs"] += g.false_positive_scale_downs
                a["fp_downs_any"] += g.false_positive_scale_downs_any_violation
                a["violation_min"] += g.violation_minutes
                a["cost"] += g.cost
                a["served"] += g.served
                a["allocated"] += float(g.allocated.sum())
                a["oracle_allocated"] += float(oracle_allocation(g.demand, res_policy).sum())
                a["fallback_steps"] += g.fallback_steps
                a["steps"] += g.demand.size
                a["clipped"] += g.clipped_by_hosts
            peak = float(np.percentile(res.host_util_peak, 99))
            a["host_peak"] = max(a["host_peak"], peak)
    return agg


def util_pct(a: dict[str, float], allocated: str = "allocated") -> float:
    """Served demand over allocated capacity, in % (one decimal)."""
    return round(100.0 * a["served"] / max(a[allocated], 1e-9), 1)


def figures(prefix: str, agg: dict[str, dict[str, float]]) -> dict[str, Any]:
    p, r, s = agg["predictive"], agg["reactive"], agg["static"]

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 3) if b > 0 else (1.0 if a == 0 else None)

    red = 100.0 * (1 - p["reactive_events"] / r["reactive_events"]) if r["reactive_events"] else 0.0
    return {
        f"{prefix}reactive_events_predictive": int(p["reactive_events"]),
        f"{prefix}reactive_events_baseline": int(r["reactive_events"]),
        f"{prefix}reactive_events_reduction_pct": round(red, 1),
        f"{prefix}breach_scale_ups_predictive": int(p["breach_scale_ups"]),
        f"{prefix}breach_scale_ups_baseline": int(r["breach_scale_ups"]),
        f"{prefix}false_positive_scale_downs": int(p["fp_downs"]),
        f"{prefix}false_positive_scale_downs_baseline": int(r["fp_downs"]),
        f"{prefix}false_positive_scale_downs_any_violation": int(p["fp_downs_any"]),
        f"{prefix}false_positive_scale_downs_any_violation_baseline": int(r["fp_downs_any"]),
        f"{prefix}sla_violation_minutes_predictive": round(p["violation_min"], 1),
        f"{prefix}sla_violation_minutes_baseline": round(r["violation_min"], 1),
        f"{prefix}sla_violation_minutes_ratio_vs_reactive": ratio(p["violation_min"], r["violation_min"]),
        f"{prefix}cost_ratio_vs_reactive": ratio(p["cost"], r["cost"]),
        f"{prefix}cost_reduction_vs_static_pct": round(100.0 * (1 - p["cost"] / s["cost"]), 1),
        f"{prefix}reactive_cost_reduction_vs_static_pct": round(100.0 * (1 - r["cost"] / s["cost"]), 1),
        f"{prefix}utilization_avg_pct": util_pct(p),
        f"{prefix}utilization_avg_pct_baseline": util_pct(r),
        f"{prefix}utilization_avg_pct_oracle_at_target": util_pct(s, "oracle_allocated"),
        f"{prefix}cost_per_served_ratio_vs_reactive": ratio(
            p["cost"] / max(p["served"], 1e-9), r["cost"] / max(r["served"], 1e-9)
        ),
        f"{prefix}utilization_peak_host_pct": round(100.0 * p["host_peak"], 1),
        f"{prefix}utilization_peak_host_pct_baseline": round(100.0 * r["host_peak"], 1),
        f"{prefix}scale_ups_predictive": int(p["scale_ups"]),
        f"{prefix}scale_downs_predictive": int(p["scale_downs"]),
        f"{prefix}fallback_share_pct": round(100.0 * p["fallback_steps"] / max(p["steps"], 1), 1),
        f"{prefix}replicas_clipped_by_hosts_predictive": int(p["clipped"]),
        f"{prefix}replicas_clipped_by_hosts_baseline": int(r["clipped"]),
    }  # fmt: skip


def equal_sla_figures(
    prefix: str, agg: dict[str, dict[str, float]],
    fleets: Sequence[tuple[Sequence[GroupTrace], SimConfig]], policy: ScalingPolicy,
) -> dict[str, Any]:  # fmt: skip
    """The predictive rule against the HPA tuned to the same SLA (``hpa_at_equal_sla``)."""
    p = agg["predictive"]
    target, reached, runs = hpa_at_equal_sla(fleets, p["violation_min"])
    r = totals(runs, policy)["reactive"]
    return {
        f"{prefix}hpa_target_at_equal_sla": round(target, 3),
        f"{prefix}hpa_equal_sla_reached": reached,  # False: even at the floor it serves worse
        f"{prefix}sla_violation_minutes_baseline_at_equal_sla": round(r["violation_min"], 1),
        f"{prefix}cost_ratio_vs_reactive_at_equal_sla": round(p["cost"] / r["cost"], 3),
        f"{prefix}utilization_avg_pct_baseline_at_equal_sla": util_pct(r),
        f"{prefix}reactive_events_baseline_at_equal_sla": int(r["reactive_events"]),
        f"{prefix}false_positive_scale_downs_baseline_at_equal_sla": int(r["fp_downs"]),
        f"{prefix}replicas_clipped_by_hosts_baseline_at_equal_sla": int(r["clipped"]),
    }  # fmt: skip


def frontier_figures(
    prefix: str, agg: dict[str, dict[str, float]],
    fleets: Sequence[tuple[Sequence[GroupTrace], SimConfig]], policy: ScalingPolicy,
) -> dict[str, Any]:  # fmt: skip
    """False-positive scale-downs, cost (against the same HPA run) and utilisation of the
    predictive rule with its scale-down bound at each ``FRONTIER`` level (with the simulator's
    own forecaster, whatever ``--forecaster`` says)."""
    out: dict[str, Any] = {}
    for down, bursty in FRONTIER:
        runs = [run_fleet(tr, cfg, down, bursty, ("predictive",))[0] for tr, cfg in fleets]
        p = totals(runs, policy)["predictive"]
        tag = f"{prefix}frontier_" + ("none_" if down is None else f"{down:g}_{bursty:g}_")
        out[tag + "false_positive_scale_downs"] = int(p["fp_downs"])
        out[tag + "cost_ratio_vs_reactive"] = round(p["cost"] / agg["reactive"]["cost"], 3)
        out[tag + "utilization_avg_pct"] = util_pct(p)
        out[tag + "sla_violation_minutes_ratio_vs_reactive"] = round(
            p["violation_min"] / max(agg["reactive"]["violation_min"], 1e-9), 3
        )
    return out


def plot(name: str, fleet: dict[str, FleetResult], path: Path, max_groups: int = 3) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = fleet["predictive"].groups[:max_groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(12, 3.2 * len(groups)), squeeze=False)
    for i, g in enumerate(groups):
        ax = axes[i][0]
        x = np.arange(g.demand.size) * g.step_s / 3600.0
        ax.plot(x, g.demand, lw=0.7, color="black", label="demand")
        ax.step(x, g.allocated, lw=0.9, where="post", label="predictive allocation")
        ax.step(
            x,
            fleet["reactive"].groups[i].allocated,
            lw=0.7,
            where="post",
            alpha=0.7,
            label="reactive (HPA) allocation",
        )
        ax.axhline(
            float(fleet["static"].groups[i].allocated[0]), ls="--", lw=0.7, color="grey", label="static peak"
        )
        for k, direction, rule in g.decisions:
            ax.axvline(k * g.step_s / 3600.0, lw=0.3, alpha=0.4,
                       color=("tab:red" if direction == "up" else "tab:green") if rule != "reactive"
                       else "tab:orange")  # fmt: skip
        ax.set_title(f"{name}: {g.name} (decision lines: red up, green down, orange reactive fallback)",
                     fontsize=8)  # fmt: skip
        ax.set_ylabel("replicas")
        ax.legend(fontsize=6, loc="upper right")
    axes[-1][0].set_xlabel("hours")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 series per fleet, 1 day each")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--profile", default=PROFILE)
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--split", choices=("dev", "heldout", "all"), default="all",
                    help="which series to run (tune on dev only)")  # fmt: skip
    ap.add_argument("--level", type=float, default=LEVEL, help="level of the conformal bound")
    ap.add_argument(
        "--forecaster",
        choices=("conformal", *SERVED, "served-champion"),
        default="conformal",
        help="conformal: online.conformal_peak (the default); served-sn / served-drift / "
        "served-naive / served-champion: what the live agents give the rule when serving answers "
        "with that model (its band raised to the level path's peak bound); the champion is "
        "trained first, on the development series only",
    )
    ap.add_argument(
        "--frontier",
        action="store_true",
        help="also run the scale-down bound at the FRONTIER levels (predictive only)",
    )
    ap.add_argument("--level-down", type=float, default=LEVEL_DOWN,
                    help="level of the bound scale-downs respect (<= 0: the same bound)")  # fmt: skip
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    series = load_or_synthesize(args.data)
    fleets: dict[tuple[str, str, float], list[GroupTrace]] = defaultdict(list)
    skipped = 0
    for s in series:
        tr = to_trace(s)
        key = (s.group, s.split, s.step_s)
        if args.split != "all" and s.split != args.split:
            continue
        if tr is None or s.values.size * s.step_s <= 86_400.0 + 3600.0:
            skipped += 1
            continue
        if args.quick and len(fleets[key]) >= QUICK_SERIES:
            continue
        fleets[key].append(tr)
    policy = ScalingPolicy.from_profile(
        args.profile, name=f"bench-{args.profile}", max_replicas=500, lead_time_s=BOOT_S,
        horizon_s=HORIZON_S,
    )  # fmt: skip
    level_down = args.level_down if args.level_down and args.level_down > 0 else None
    forecaster = (
        f"conformal_peak (level or seasonal path, {args.level:.0%} bound"
        f"{f', {level_down:.0%} for scale-downs' if level_down else ''}"
        f"{f' ({LEVEL_DOWN_BURSTY:.0%} on bursty series)' if level_down and LEVEL_DOWN_BURSTY else ''}"
        f", {WINDOW_S / 3600:.0f} h window"
        f"{f', calibrated apart after a drop to {DROP_FRACTION:.0%}' if DROP_LOOKBACK_S else ''}"
        f"{f' of the {DROP_LOOKBACK_S / 60:.0f}-min peak' if DROP_LOOKBACK_S else ''})"
    )
    champion = None
    if args.forecaster == "served-champion":
        champion = train_champion([s for s in series if s.split == "dev"])
    if args.forecaster in (*SERVED, "served-champion"):
        forecaster = f"served {args.forecaster[7:]}, bands raised to the level path's {forecaster}"
    out: dict[str, Any] = {"profile": args.profile, "forecaster": forecaster,
                           "boot_s": BOOT_S, "peak_units": PEAK_UNITS, "series_skipped": skipped,
                           "quick": args.quick, "split": args.split}  # fmt: skip
    by_split: dict[str, list[dict[str, FleetResult]]] = defaultdict(list)
    sims: dict[str, list[tuple[Sequence[GroupTrace], SimConfig]]] = defaultdict(list)
    by_group: dict[tuple[str, str], list[dict[str, FleetResult]]] = defaultdict(list)
    for (group, split, step_s), traces in sorted(fleets.items()):
        cfg = SimConfig(
            policy,
            boot_s=BOOT_S,
            level=args.level,
            max_eval_steps=int(QUICK_EVAL_S // step_s) if args.quick else None,
        )
        fleet, _ = run_fleet(traces, cfg, level_down, forecaster=args.forecaster, champion=champion)
        by_split[split].append(fleet)
        sims[split].append((traces, cfg))
        by_group[(group, split)].append(fleet)
        if not args.no_plots:
            RESULTS.mkdir(parents=True, exist_ok=True)
            plot(
                f"{group} {split}",
                fleet,
                RESULTS / f"fleet_autoscaling_{slug(group)}_{split}_{int(step_s)}s.png",
            )
    for split in ("dev", "heldout"):
        if by_split[split]:
            agg = totals(by_split[split], policy)
            out.update(figures(f"{split}_", agg))
            out.update(equal_sla_figures(f"{split}_", agg, sims[split], policy))
            if args.frontier:
                out.update(frontier_figures(f"{split}_", agg, sims[split], policy))
    for (group, split), runs in sorted(by_group.items()):
        f = figures(f"{split}_{slug(group)}_", totals(runs, policy))
        keep = (
            "reactive_events_reduction_pct",
            "false_positive_scale_downs",
            "false_positive_scale_downs_any_violation",
            "sla_violation_minutes_ratio_vs_reactive",
            "cost_ratio_vs_reactive",
            "cost_reduction_vs_static_pct",
            "utilization_avg_pct",
            "utilization_peak_host_pct",
        )
        out.update({k: v for k, v in f.items() if k.endswith(keep)})
    out["series"] = sum(len(v) for v in fleets.values())
    out["runtime_s"] = round(time.perf_counter() - t0, 1)
    name = "fleet_autoscaling"
    if args.forecaster != "conformal":
        name += "_" + args.forecaster.replace("-", "_")
    write_results(name if args.split == "all" else f"{name}_{args.split}", out)
    h = "dev_" if args.split == "dev" else "heldout_"
    print(
        f"fleet_autoscaling ({args.profile}, {out['series']} series, {out['runtime_s']} s): "
        f"{h[:-1]} reactive events {out.get(h + 'reactive_events_predictive')} vs "
        f"{out.get(h + 'reactive_events_baseline')} (-{out.get(h + 'reactive_events_reduction_pct')} %), "
        f"false-positive scale-downs {out.get(h + 'false_positive_scale_downs')}, "
        f"SLA ratio {out.get(h + 'sla_violation_minutes_ratio_vs_reactive')}, "
        f"cost ratio {out.get(h + 'cost_ratio_vs_reactive')}, "
        f"vs static -{out.get(h + 'cost_reduction_vs_static_pct')} %, "
        f"util avg {out.get(h + 'utilization_avg_pct')} %, host peak "
        f"{out.get(h + 'utilization_peak_host_pct')} %; against the HPA at target "
        f"{out.get(h + 'hpa_target_at_equal_sla')} ("
        f"{'equal SLA' if out.get(h + 'hpa_equal_sla_reached') else 'still worse SLA'}) cost ratio "
        f"{out.get(h + 'cost_ratio_vs_reactive_at_equal_sla')}; dev reduction "
        f"{out.get('dev_reactive_events_reduction_pct')} %, cost ratio "
        f"{out.get('dev_cost_ratio_vs_reactive')}"
    )  # fmt: skip


if __name__ == "__main__":
    main()
