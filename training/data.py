"""Load the metrics evaluation data (../shared/data/metrics) onto regular grids, or make
synthetic workloads when that folder is absent.

Each source has its own format (see the data folder's README); every series comes out as
a gap-free float array on a fixed step with the unix time of its first point, tagged with
its source, group and split. The development / held-out split is the README's: tune on
``dev`` only, report ``heldout`` separately.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from novacron.models.base import DAY_S, FloatArray

Split = Literal["dev", "heldout"]

CRANE_DEV = {f"input{i}" for i in range(8)}
BITBRAINS_DEV = {"227", "232", "233", "234", "237", "252", "269", "386", "392", "402", "407", "412"}
# input15's second week is a copy of its first (data README): keep 7 days only.
CRANE_INPUT15_DAYS = 7
MAX_GAP_STEPS = 12  # interpolate short gaps; longer ones are held at the last value


@dataclass(frozen=True, slots=True)
class SeriesData:
    name: str  # unique, "<source>/<file>[:<column>]"
    source: str
    group: str
    split: Split
    step_s: float
    start_s: float
    values: FloatArray

    @property
    def days(self) -> float:
        return self.values.size * self.step_s / DAY_S


def to_grid(ts_s: np.ndarray, values: np.ndarray, step_s: float) -> tuple[float, FloatArray]:
    """Put samples on a ``step_s`` grid that starts at the first sample (nearest point, or
    the bin mean for finer sources), then fill gaps: linearly up to a few
    steps, longer ones held at the last value. Jittered sources (Bitbrains) snap cleanly."""
    ts = np.asarray(ts_s, dtype=np.float64)
    vals = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(ts) & np.isfinite(vals)
    ts, vals = ts[keep], vals[keep]
    order = np.argsort(ts, kind="stable")
    ts, vals = ts[order], vals[order]
    start = float(ts[0])
    # A finer source is averaged per bin; a jittered one at the same step is snapped.
    finer = ts.size > 1 and float(np.median(np.diff(ts))) < step_s / 2
    pos = (ts - start) / step_s
    idx = (np.floor(pos) if finer else np.rint(pos)).astype(np.int64)
    grid = pd.Series(vals).groupby(idx).mean().reindex(np.arange(idx[-1] + 1))
    grid = grid.interpolate(limit=MAX_GAP_STEPS, limit_area="inside").ffill().bfill()
    return start, grid.to_numpy(dtype=np.float64)


def _native_step(ts_s: np.ndarray) -> float:
    return float(np.median(np.diff(np.sort(ts_s))))


def _crane(root: Path) -> Iterator[SeriesData]:
    for path in sorted(root.glob("crane-dsp/input*.csv")):
        df = pd.read_csv(path)
        ts, vals = df["ts"].to_numpy(dtype=np.float64), df["value"].to_numpy()
        if path.stem == "input15":
            keep = ts < ts[0] + CRANE_INPUT15_DAYS * DAY_S
            ts, vals = ts[keep], vals[keep]
        start, grid = to_grid(ts, vals, 60.0)
        split: Split = "dev" if path.stem in CRANE_DEV else "heldout"
        yield SeriesData(f"crane/{path.stem}", "crane", "crane_1min", split, 60.0, start, grid)


def _bitbrains(root: Path) -> Iterator[SeriesData]:
    for path in sorted(root.glob("bitbrains-rnd/2013-7/*.csv")):
        df = pd.read_csv(path, sep=r";\s*", engine="python")
        df.columns = [c.strip() for c in df.columns]
        ts = df["Timestamp [ms]"].to_numpy(dtype=np.float64)  # actually unix seconds
        start, grid = to_grid(ts, df["CPU usage [%]"].to_numpy(), 300.0)
        split: Split = "dev" if path.stem in BITBRAINS_DEV else "heldout"
        name = f"bitbrains/{path.stem}:cpu_pct"
        yield SeriesData(name, "bitbrains", "bitbrains_5min", split, 300.0, start, grid)


def _nab(root: Path) -> Iterator[SeriesData]:
    for sub in ("realAWSCloudwatch", "realKnownCause"):
        for path in sorted(root.glob(f"nab/{sub}/*.csv")):
            df = pd.read_csv(path)
            since_epoch = pd.to_datetime(df["timestamp"]) - pd.Timestamp(0)
            ts = (since_epoch / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)
            step = max(_native_step(ts), 300.0)
            start, grid = to_grid(ts, df["value"].to_numpy(), step)
            dev = sub == "realAWSCloudwatch" and path.stem.startswith("ec2_cpu_utilization_")
            group = "nab_aws_5min" if sub == "realAWSCloudwatch" else "nab_known_cause"
            split: Split = "dev" if dev else "heldout"
            yield SeriesData(f"nab/{path.stem}", "nab", group, split, step, start, grid)


def _datacenter(root: Path) -> Iterator[SeriesData]:
    base = root / "datacenter-traces-datasets"
    specs: list[tuple[str, str, list[str], Split]] = [
        ("google2019", "instance_usage_grouped_300_seconds_month.csv",
         ["avg_cpu", "avg_mem", "avg_assigned_mem"], "dev"),
        ("azure_v2", "vm_cpu_readings_month_aggregated_cpu_mem.csv",
         ["cpu_usage", "assigned_mem"], "heldout"),
        # The 30 s Alibaba file is the same data at a finer step: one copy is enough.
        ("alibaba2018", "machine_usage_days_1_to_8_grouped_300_seconds.csv",
         ["cpu_util_percent", "mem_util_percent", "net_in", "net_out", "disk_io_percent"],
         "heldout"),
    ]  # fmt: skip
    for folder, fname, cols, split in specs:
        path = base / folder / fname
        if not path.exists():
            continue
        df = pd.read_csv(path)
        ts = (
            df["timestamp"].to_numpy(dtype=np.float64)
            if "timestamp" in df
            else np.arange(len(df)) * 300.0  # row i = i × 300 s (README)
        )
        for col in cols:
            start, grid = to_grid(ts, df[col].to_numpy(), 300.0)
            name = f"datacenter/{folder}:{col}"
            yield SeriesData(name, "datacenter", "datacenter_5min", split, 300.0, start, grid)


def load_metrics(root: Path | str) -> list[SeriesData]:
    """Every series of the metrics data folder, on regular grids, README split applied."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no metrics data folder at {root}")
    out: list[SeriesData] = []
    for loader in (_crane, _bitbrains, _nab, _datacenter):
        out.extend(s for s in loader(root) if s.values.size >= 10)
    return out


def synthetic_workloads(
    n: int = 8, step_s: float = 300.0, days: float = 14.0, seed: int = 0
) -> list[SeriesData]:
    """Load-like series: daily and weekly cycles, a slow trend, noise and bursts.

    Half are marked ``dev`` and half ``heldout`` so the same harness runs on them.
    """
    rng = np.random.default_rng(seed)
    steps = int(days * DAY_S / step_s)
    t = np.arange(steps) * step_s
    start = 1_700_000_000.0 - (1_700_000_000.0 % (7 * DAY_S))
    out: list[SeriesData] = []
    for i in range(n):
        base = rng.uniform(20, 60)
        daily = rng.uniform(0.2, 0.5) * base * np.sin(2 * np.pi * (t / DAY_S + rng.uniform()))
        weekend = (((start + t) // DAY_S + 4) % 7) >= 5  # 1970-01-01 was a Thursday
        weekly = -rng.uniform(0.0, 0.3) * base * weekend
        trend = rng.normal(0, 0.05) * base * t / (days * DAY_S)
        noise = rng.normal(0, rng.uniform(0.03, 0.08) * base, steps)
        # AR(1) wander makes recent values informative, as in real load.
        ar = np.zeros(steps)
        e = rng.normal(0, 0.02 * base, steps)
        for k in range(1, steps):
            ar[k] = 0.95 * ar[k - 1] + e[k]
        bursts = np.zeros(steps)
        for _ in range(int(days)):
            at = rng.integers(0, steps)
            width = rng.integers(1, max(2, int(3600 / step_s)))
            bursts[at : at + width] += rng.uniform(0.3, 1.0) * base
        y = np.maximum(base + daily + weekly + trend + noise + ar + bursts, 0.0)
        split: Split = "dev" if i % 2 == 0 else "heldout"
        step_tag = f"{int(step_s // 60)}min"
        out.append(
            SeriesData(
                f"synthetic/{step_tag}-{i}", "synthetic", f"synthetic_{step_tag}", split,
                step_s, start, y,
            )
        )  # fmt: skip
    return out


def load_or_synthesize(root: Path | str | None, seed: int = 0) -> list[SeriesData]:
    """The real data when the folder exists, else synthetic 1- and 5-minute workloads."""
    if root is not None and Path(root).is_dir():
        return load_metrics(root)
    return synthetic_workloads(6, 60.0, 8.0, seed) + synthetic_workloads(6, 300.0, 21.0, seed)


def slug(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "_", name).strip("_").lower()
