"""A small LSTM trained once over many series (a global model), pytorch-lightning on CPU.

One network learns the shape of load from every series at a given step, so a new series
needs no training, only its recent window. Windows are normalised per series (level = mean
of the context window, scale = the series' spread) so one network serves series of any
unit. The network reads the last ``context`` values with their time-of-day phase, plus the
values one day before each future step (the seasonal-naive path), and emits all
``horizon`` steps at once (direct multi-output: no error feedback, one forward pass). L1
loss, so the path is a median forecast, robust to bursts. Intervals are the empirical
quantiles of the normalised training residuals per step.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .base import (
    DAY_S,
    FloatArray,
    Forecast,
    HistoryForecaster,
    Interval,
    season_steps,
)

for _noisy in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)

_CLIP = 10.0  # normalised values beyond ±10 spreads are bursts; clipping keeps training stable


@dataclass(frozen=True, slots=True)
class LSTMConfig:
    context: int = 96
    horizon: int = 72
    hidden: int = 32
    epochs: int = 4
    batch_size: int = 256
    lr: float = 3e-3
    max_windows: int = 20_000
    residual_windows: int = 1_000
    seed: int = 0
    period_s: float = DAY_S
    scale_points: int = 7 * 288


def pin_threads() -> None:
    """Apply torch's thread count to the *calling* thread's OpenMP runtime.

    ``torch.set_num_threads`` sets OpenMP's team size only for the thread that calls it;
    any other thread (the BentoML/AnyIO worker thread a request runs in) starts from
    OpenMP's default, one thread per core. The LSTM forward goes through oneDNN, whose
    ``GOMP_parallel`` then spins up a team of that size, and on a busy 2-core machine its
    barriers wait for descheduled team members: multi-second stalls (seen in
    bench.forecast_serving, p99 3.1 s). Cheap enough to call before every forward pass.
    """
    torch.set_num_threads(torch.get_num_threads())


def series_scale(y: FloatArray, points: int) -> float:
    """The per-series spread used to normalise, floored so flat series do not blow up."""
    tail = y[-points:]
    return max(float(np.std(tail)), 1e-3 * abs(float(np.mean(tail))), 1e-6)


class _Net(nn.Module):
    def __init__(self, horizon: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=3, hidden_size=hidden, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(hidden + horizon + 2, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, horizon)
        )

    def forward(self, ctx: torch.Tensor, seas: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(ctx)
        z = torch.cat([h[-1], seas, phase], dim=1)
        # The seasonal path is added back so the network learns a correction to it.
        out: torch.Tensor = self.head(z) + seas
        return out


class _Lit(pl.LightningModule):
    def __init__(self, net: _Net, lr: float) -> None:
        super().__init__()
        self.net = net
        self.lr = lr

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        ctx, seas, phase, target = batch
        loss: torch.Tensor = nn.functional.l1_loss(self.net(ctx, seas, phase), target)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)


@dataclass(slots=True)
class _Windows:
    ctx: FloatArray  # (n, context, 3): value, sin, cos of time of day
    seas: FloatArray  # (n, horizon)
    phase: FloatArray  # (n, 2) phase of the first forecast step
    target: FloatArray  # (n, horizon)


class GlobalLSTM:
    """One network for every series with the same step; picklable without its trainer."""

    def __init__(self, config: LSTMConfig | None = None) -> None:
        self.config = config or LSTMConfig()
        self.step_s = 0.0
        self._net: _Net | None = None
        self._resid: FloatArray = np.zeros((1, self.config.horizon))

    @property
    def trained(self) -> bool:
        return self._net is not None

    def _phase(self, t_s: FloatArray) -> FloatArray:
        ang = 2.0 * np.pi * (t_s % self.config.period_s) / self.config.period_s
        return np.stack([np.sin(ang), np.cos(ang)], axis=-1)

    def _window(
        self, y: FloatArray, start_s: float, origin: int, scale: float
    ) -> tuple[FloatArray, FloatArray, FloatArray, float]:
        """Inputs for a forecast made after ``origin`` observed points of ``y``."""
        cfg = self.config
        m = season_steps(self.step_s, cfg.period_s)
        lo = max(origin - cfg.context, 0)
        raw = y[lo:origin]
        if raw.size < cfg.context:  # short history: pad with its first value
            raw = np.concatenate([np.full(cfg.context - raw.size, raw[0]), raw])
        level = float(np.mean(raw))
        t_ctx = start_s + np.arange(origin - cfg.context, origin, dtype=np.float64) * self.step_s
        ctx = np.empty((cfg.context, 3))
        ctx[:, 0] = np.clip((raw - level) / scale, -_CLIP, _CLIP)
        ctx[:, 1:] = self._phase(t_ctx)
        if origin >= m:
            s_idx = np.arange(origin - m, origin - m + cfg.horizon)
            s_idx = np.minimum(s_idx, origin - 1)  # horizon longer than a season: hold last
            seas = np.clip((y[s_idx] - level) / scale, -_CLIP, _CLIP)
        else:
            seas = np.zeros(cfg.horizon)
        phase = self._phase(np.array([start_s + origin * self.step_s]))[0]
        return ctx, seas, phase, level

    def _windows(
        self, series: Sequence[tuple[FloatArray, float]], rng: np.random.Generator
    ) -> _Windows:
        cfg = self.config
        m = season_steps(self.step_s, cfg.period_s)
        candidates: list[tuple[int, int]] = []
        for i, (y, _) in enumerate(series):
            first = min(max(cfg.context, m), max(y.size - cfg.horizon, 1))
            candidates.extend((i, o) for o in range(first, y.size - cfg.horizon + 1))
        if not candidates:
            raise ValueError("lstm: no series is long enough for one training window")
        n_take = min(cfg.max_windows, len(candidates))
        take = rng.choice(len(candidates), size=n_take, replace=False)
        scales = [series_scale(y, cfg.scale_points) for y, _ in series]
        ctxs, seass, phases, targets = [], [], [], []
        for j in np.sort(take):
            i, o = candidates[j]
            y, start_s = series[i]
            ctx, seas, phase, level = self._window(y, start_s, o, scales[i])
            ctxs.append(ctx)
            seass.append(seas)
            phases.append(phase)
            targets.append(np.clip((y[o : o + cfg.horizon] - level) / scales[i], -_CLIP, _CLIP))
        return _Windows(np.array(ctxs), np.array(seass), np.array(phases), np.array(targets))

    def fit(self, series: Sequence[tuple[FloatArray, float]], step_s: float) -> GlobalLSTM:
        """Train on (values, start_s) pairs that share ``step_s``; deterministic per seed."""
        cfg = self.config
        self.step_s = float(step_s)
        rng = np.random.default_rng(cfg.seed)
        w = self._windows([(np.asarray(y, dtype=np.float64), s) for y, s in series], rng)
        pl.seed_everything(cfg.seed, workers=False, verbose=False)
        tensors = [torch.tensor(a, dtype=torch.float32) for a in (w.ctx, w.seas, w.phase, w.target)]
        loader = DataLoader(
            TensorDataset(*tensors),
            batch_size=cfg.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(cfg.seed),
        )
        net = _Net(cfg.horizon, cfg.hidden)
        trainer = pl.Trainer(
            max_epochs=cfg.epochs,
            accelerator="cpu",
            devices=1,
            deterministic=True,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # num_workers advice: a loader over RAM tensors
            trainer.fit(_Lit(net, cfg.lr), loader)
        net.eval()
        self._net = net
        # Residuals on (a sample of) the training windows give the interval shape per step.
        k = min(cfg.residual_windows, tensors[0].shape[0])
        with torch.no_grad():
            pred = net(tensors[0][:k], tensors[1][:k], tensors[2][:k]).numpy()
        self._resid = (w.target[:k] - pred).astype(np.float64)
        return self

    def forecast(
        self, y: FloatArray, start_s: float, scale: float, levels: Sequence[float]
    ) -> tuple[FloatArray, dict[float, tuple[FloatArray, FloatArray]]]:
        """One ``config.horizon`` path after all of ``y`` and per-level (lower, upper)."""
        if self._net is None:
            raise RuntimeError("lstm: the global model is not trained")
        pin_threads()
        ctx, seas, phase, level = self._window(y, start_s, y.size, scale)
        with torch.no_grad():
            out = self._net(
                torch.tensor(ctx[None], dtype=torch.float32),
                torch.tensor(seas[None], dtype=torch.float32),
                torch.tensor(phase[None], dtype=torch.float32),
            ).numpy()[0]
        point = level + scale * out.astype(np.float64)
        bands: dict[float, tuple[FloatArray, FloatArray]] = {}
        for lv in levels:
            lo_q = np.quantile(self._resid, (1.0 - lv) / 2.0, axis=0)
            hi_q = np.quantile(self._resid, (1.0 + lv) / 2.0, axis=0)
            bands[lv] = (point + scale * lo_q, point + scale * hi_q)
        return point, bands


class LSTMForecaster(HistoryForecaster):
    """One series seen through a (shared) global LSTM; trains a local one if given none."""

    name = "lstm"
    min_points = 10

    def __init__(self, model: GlobalLSTM | None = None, config: LSTMConfig | None = None) -> None:
        super().__init__()
        self.model = model
        self.config = config or (model.config if model is not None else LSTMConfig())
        self._scale = 1.0

    def _fit(self) -> None:
        self._scale = series_scale(self._y, self.config.scale_points)
        if self.model is None or not self.model.trained or self.model.step_s != self._step_s:
            self.model = GlobalLSTM(self.config).fit([(self._y, self._start_s)], self._step_s)

    def _update(self, new: FloatArray, old_n: int) -> None:
        pass  # a recurrent model conditions on the latest window at predict time

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> Forecast:
        assert self.model is not None
        h_model = self.model.config.horizon
        y = self._y
        points: list[FloatArray] = []
        lows: dict[float, list[FloatArray]] = {lv: [] for lv in levels}
        highs: dict[float, list[FloatArray]] = {lv: [] for lv in levels}
        done = 0
        # Longer horizons than the network's: feed its own path back (recursive blocks).
        while done < horizon:
            point, bands = self.model.forecast(y, self._start_s, self._scale, levels)
            points.append(point)
            for lv in levels:
                lows[lv].append(bands[lv][0])
                highs[lv].append(bands[lv][1])
            y = np.concatenate([y, point])
            done += h_model
        p = np.concatenate(points)[:horizon]
        intervals = {
            lv: Interval(
                lv, np.concatenate(lows[lv])[:horizon], np.concatenate(highs[lv])[:horizon]
            )
            for lv in levels
        }
        return Forecast(self.name, p, intervals)
