"""Density: stereo-linked compressor into a gentle 2x-oversampled soft saturator, fitted unpaired.

The mix's mid channel is taken to the reference's distributions of short-term level (50 ms and
400 ms frames, relative to the overall level) and of 50 ms crest factor: 1-D Wasserstein
distances on quantiles (`tonemorph.losses.unpaired.quantiles`), through the same differentiable
compressor and soft clipper as tone learning (`tonemorph.chain.functional`). A dense reference
is then matched by level-dependent gain and rounded peaks, not only by limiting harder.

Fitting imports torch (lazily); applying is numpy/numba only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from tonemorph.chain.kernels import (
    CONTROL_HOP,
    KNEE_DB,
    OVERSAMPLE_TAPS,
    compressor_gain_block,
    oversample_fir,
    shaper_2x_block,
)
from tonemorph.errors import ParameterError

__all__ = [
    "NEUTRAL",
    "SHAPER_LATENCY",
    "DensityParams",
    "DynamicsStage",
    "density_features",
    "fit_density",
]

SHAPER_LATENCY = (OVERSAMPLE_TAPS - 1) // 2  # samples: half the up- plus down-sampling delay
_FRAMES_MS = (50.0, 400.0)
_N_QUANT = 32
_GATE_DB = -40.0  # frames this far below the power mean are left out of the distributions


@dataclass(frozen=True)
class DensityParams:
    """Compressor (threshold dBFS, ratio, attack/release ms) and saturation (clip level dBFS).

    Levels are of the normalised mix (its active RMS set to the reference's), so they read as
    dB relative to the music. ``clip_db`` is where the soft clipper reaches full saturation;
    +40 dBFS means no saturation.
    """

    threshold_db: float = 0.0
    ratio: float = 1.0
    attack_ms: float = 10.0
    release_ms: float = 150.0
    clip_db: float = 40.0

    def scaled(self, amount: float) -> DensityParams:
        """Parameters moved from neutral (amount 0) to these (1): ratio and clip level in dB."""
        a = float(amount)
        ratio = math.exp(a * math.log(self.ratio))
        clip = NEUTRAL.clip_db + a * (self.clip_db - NEUTRAL.clip_db)
        return DensityParams(self.threshold_db, ratio, self.attack_ms, self.release_ms, clip)

    @property
    def is_neutral(self) -> bool:
        """True when neither stage changes the signal audibly."""
        return self.ratio <= 1.0 + 1e-6 and self.clip_db >= NEUTRAL.clip_db - 1e-6

    def as_dict(self) -> dict[str, float]:
        """Fields by name, in their units."""
        return asdict(self)


NEUTRAL = DensityParams()

# (lo, hi, log-scaled) of every fitted parameter
_RANGES: dict[str, tuple[float, float, bool]] = {
    "threshold_db": (-40.0, 0.0, False),
    "ratio": (1.0, 8.0, True),
    "attack_ms": (0.5, 80.0, True),
    "release_ms": (20.0, 1000.0, True),
    "clip_db": (-12.0, 6.0, False),
}


class DynamicsStage:
    """Streaming density stage on (channels, n) blocks: linked compressor, then saturation.

    The compressor's detector is the mean of the channels (the mid); its gain scales every
    channel alike. Output is delayed by `latency` samples (the saturator's oversampling FIRs)
    when saturation is on, else not at all.
    """

    def __init__(self, params: DensityParams, sample_rate: float, channels: int):
        self.params = params
        self.channels = int(channels)
        rate = sample_rate / CONTROL_HOP
        self._args = (
            CONTROL_HOP, float(params.threshold_db), float(params.ratio), KNEE_DB,
            math.exp(-1000.0 / (params.attack_ms * rate)),
            math.exp(-1000.0 / (params.release_ms * rate)),
            False,  # hop levels in float64, as this stage has always measured them
        )
        self._state = np.array([0.0, 0.0, 0.0, 1.0, 1.0])
        self.compress = params.ratio > 1.0 + 1e-6
        self.saturate = params.clip_db < NEUTRAL.clip_db - 1e-6
        h = oversample_fir()
        centre = len(h) // 2
        self._h_even = h[0::2].astype(np.float32)
        self._h_centre = float(h[centre])
        self._drive = 10.0 ** (-params.clip_db / 20.0)
        self._shaper_state = [
            np.zeros((3, len(self._h_even) - 1), np.float32) for _ in range(self.channels)
        ]
        self.latency = SHAPER_LATENCY if self.saturate else 0
        self._gr_sum = 0.0
        self._n = 0

    @property
    def mean_gain_reduction_db(self) -> float:
        """Mean compressor gain reduction (dB, >= 0) over the samples processed so far."""
        return self._gr_sum / self._n if self._n else 0.0

    def process(self, x: np.ndarray) -> np.ndarray:
        """Process a (channels, n) block; returns (channels, n)."""
        y = np.asarray(x, dtype=np.float64)
        if self.compress:
            gain = compressor_gain_block(np.ascontiguousarray(y.mean(axis=0)), self._state,
                                         *self._args)
            y = y * gain
            self._gr_sum += float(-20.0 * np.sum(np.log10(np.maximum(gain, 1e-12))))
        self._n += y.shape[1]
        if self.saturate:
            y = np.stack([
                shaper_2x_block(np.ascontiguousarray(ch, dtype=np.float32), st, self._h_even,
                                self._h_centre, self._drive, 0.0).astype(np.float64)
                for ch, st in zip(y, self._shaper_state)
            ])
        return y

    def flush(self) -> np.ndarray:
        """Feed `latency` zeros and return the delayed tail."""
        return self.process(np.zeros((self.channels, self.latency)))


# ------------------------------------------------------------------------------ fitting (torch)


def _block_stats(y, block: int):
    """Sum of squares and peak of consecutive blocks of a 1-D torch signal (tail dropped)."""
    n = (y.shape[0] // block) * block
    b = y[:n].view(-1, block)
    return b.pow(2).sum(-1), b.abs().amax(-1)


def density_features(y, sample_rate: float, gate_db: float | None = None):
    """Distribution features (dB) of a 1-D signal: quantiles of level at 50/400 ms, 50 ms crest.

    Frames overlap by half and are built from 25 ms blocks (no overlapping copies of the
    signal). Levels are relative to the gated mean power of the 50 ms frames, so the features do
    not depend on gain. Returns (features (3, _N_QUANT) torch tensor, gate_db used).
    """
    import torch

    from tonemorph.losses.unpaired import quantiles

    block = max(CONTROL_HOP, int(round(_FRAMES_MS[0] * 0.5e-3 * sample_rate)))
    sq, pk = _block_stats(y, block)
    feats = []
    # 50 ms frames: pairs of blocks, hop one block
    power = (sq[1:] + sq[:-1]) / (2 * block)
    peak = torch.maximum(pk[1:], pk[:-1])
    level = 10 * torch.log10(power + 1e-12)
    with torch.no_grad():
        mean_db = float(10 * torch.log10(power.mean() + 1e-12))
    gate = mean_db + _GATE_DB if gate_db is None else gate_db
    mask = level.detach() > gate
    ref_db = 10 * torch.log10(power[mask].mean() + 1e-12)
    feats.append(quantiles(level[mask] - ref_db, _N_QUANT))
    feats.append(quantiles(20 * torch.log10(peak[mask] + 1e-9) - level[mask], _N_QUANT))
    # 400 ms frames: 16 blocks, hop 8
    k = int(round(_FRAMES_MS[1] / _FRAMES_MS[0] * 2))
    if sq.shape[0] >= k:
        long_power = sq.unfold(0, k, k // 2).sum(-1) / (k * block)
        long_level = 10 * torch.log10(long_power + 1e-12)
        long_mask = long_level.detach() > gate
        feats.append(quantiles(long_level[long_mask] - ref_db, _N_QUANT))
    else:
        feats.append(torch.zeros(_N_QUANT, dtype=y.dtype))
    return torch.stack(feats), gate


def _to_value(raw, lo: float, hi: float, log: bool):
    import torch

    s = torch.sigmoid(raw)
    if log:
        return torch.exp(math.log(lo) + s * (math.log(hi) - math.log(lo)))
    return lo + s * (hi - lo)


def _to_raw(value: float, lo: float, hi: float, log: bool) -> float:
    if log:
        u = (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
    else:
        u = (value - lo) / (hi - lo)
    u = min(max(u, 1e-4), 1 - 1e-4)
    return math.log(u / (1 - u))


def _soft_saturate():
    """autograd Function y = tanh~(d u) / d (the tone chain's rational tanh), lean backward."""
    import torch

    from tonemorph.chain.functional import SOFT_CLIP_LIMIT, soft_clip

    class SoftSaturate(torch.autograd.Function):
        @staticmethod
        def forward(ctx, u, drive):
            v = u * drive
            s = soft_clip(v)
            ctx.save_for_backward(u, drive, s, v)
            return s / drive

        @staticmethod
        def backward(ctx, grad):
            u, drive, s, v = ctx.saved_tensors
            # d tanh(v)/dv = 1 - tanh(v)^2 (the rational form is within 1e-4 of tanh; flat
            # where it is clamped)
            ds = torch.where(v.abs() < SOFT_CLIP_LIMIT, 1 - s * s, torch.zeros_like(s))
            grad_u = grad * ds
            grad_d = (grad * (u * ds * drive - s)).sum() / (drive * drive)
            return grad_u, grad_d

    return SoftSaturate


def _forward(x, params: dict, sample_rate: float):
    """Differentiable density stage on a 1-D torch signal (the tone chain's functions).

    The saturator runs at 1x here (the applied stage oversamples 2x): the fitted features are
    level and crest distributions, which aliasing barely moves, and the 2x FFT path would cost
    most of the fitting time.
    """
    import torch

    from tonemorph.chain import functional as F

    b = x[None, :]
    gain = F.compressor_gain(b, sample_rate, params["threshold_db"], params["ratio"],
                             params["attack_ms"], params["release_ms"])
    drive = torch.pow(10.0, -params["clip_db"] / 20)
    return _soft_saturate().apply((b * gain)[0], drive)


def fit_density(
    mix_mid: np.ndarray,
    ref_mid: np.ndarray,
    sample_rate: float,
    *,
    steps: int = 60,
    seed: int = 0,
) -> tuple[DensityParams, dict[str, float]]:
    """Fit `DensityParams` taking mix_mid's level/crest distributions to ref_mid's.

    Both are 1-D mid signals at sample_rate; mix_mid is already level-matched (active RMS) to
    ref_mid. A few starts are scored, the best refined with Adam for `steps` steps, and kept
    only if it beats doing nothing. Returns (params, {"loss_neutral", "loss"}).
    """
    import torch

    if steps < 0:
        raise ParameterError(f"steps must be >= 0, got {steps}.")
    # one thread: the ops are small and elementwise, and on a busy machine torch's thread pool
    # was measured 10-100x slower than a single thread (2 cores shared with other work)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit(torch, mix_mid, ref_mid, sample_rate, steps, seed)
    finally:
        torch.set_num_threads(threads)


def _fit(torch, mix_mid, ref_mid, sample_rate, steps, seed):
    """Body of `fit_density` (torch passed in, threads already set)."""
    torch.manual_seed(seed)
    dt = torch.float32
    x = torch.from_numpy(np.ascontiguousarray(mix_mid, dtype=np.float32)).to(dt)
    r = torch.from_numpy(np.ascontiguousarray(ref_mid, dtype=np.float32)).to(dt)
    with torch.no_grad():
        target, _ = density_features(r, sample_rate)

    def loss_of(values: dict) -> torch.Tensor:
        y = _forward(x, values, sample_rate)
        feats, _ = density_features(y, sample_rate)
        return (feats - target).abs().mean()

    def values_of(raw: dict) -> dict:
        return {k: _to_value(raw[k], *_RANGES[k]) for k in _RANGES}

    with torch.no_grad():
        neutral_feats, _ = density_features(x, sample_rate)
        loss_neutral = float((neutral_feats - target).abs().mean())
    # rms of the normalised mix in dBFS anchors the starts
    with torch.no_grad():
        rms_db = float(10 * torch.log10(x.pow(2).mean() + 1e-12))
    starts = [
        DensityParams(rms_db + 3.0, 2.0, 10.0, 150.0, rms_db + 14.0),
        DensityParams(rms_db - 3.0, 3.0, 5.0, 80.0, rms_db + 10.0),
        DensityParams(rms_db - 8.0, 1.5, 20.0, 300.0, rms_db + 8.0),
    ]
    best_raw: dict = {}
    best_loss = math.inf
    for start in starts:
        raw = {k: torch.tensor(_to_raw(_clamp(k, getattr(start, k)), *_RANGES[k]), dtype=dt,
                               requires_grad=True) for k in _RANGES}
        with torch.no_grad():
            val = float(loss_of(values_of(raw)))
        if val < best_loss:
            best_raw, best_loss = raw, val
    best_state = {k: float(v.detach()) for k, v in best_raw.items()}
    adam = _Adam(len(_RANGES), lr=0.08)
    names = list(_RANGES)
    for _ in range(steps):
        for v in best_raw.values():
            v.grad = None
        loss = loss_of(values_of(best_raw))
        loss.backward()
        value = float(loss.detach())
        if value < best_loss:
            best_loss = value
            best_state = {k: float(v.detach()) for k, v in best_raw.items()}
        grads = np.array([float(best_raw[k].grad) if best_raw[k].grad is not None else 0.0
                          for k in names])
        step = adam.step(grads)
        with torch.no_grad():
            for k, d in zip(names, step):
                best_raw[k] -= float(d)
    with torch.no_grad():
        final = {k: float(_to_value(torch.tensor(v, dtype=torch.float64), *_RANGES[k]))
                 for k, v in best_state.items()}
    stats = {"loss_neutral": loss_neutral, "loss": best_loss}
    if best_loss >= loss_neutral:
        stats["loss"] = loss_neutral
        return NEUTRAL, stats
    return DensityParams(**final), stats


class _Adam:
    """Adam (Kingma & Ba, 2015) on a parameter vector; torch.optim would import torch._dynamo,
    which costs ~3 s and ~80 MB for five scalars."""

    def __init__(self, n: int, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, betas[0], betas[1], eps
        self.m = np.zeros(n)
        self.v = np.zeros(n)
        self.t = 0

    def step(self, grad: np.ndarray) -> np.ndarray:
        """The update to subtract from the parameters for this gradient."""
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * grad
        self.v = self.b2 * self.v + (1 - self.b2) * grad * grad
        m_hat = self.m / (1 - self.b1**self.t)
        v_hat = self.v / (1 - self.b2**self.t)
        return self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def _clamp(name: str, value: float) -> float:
    lo, hi, _ = _RANGES[name]
    return min(max(value, lo), hi)
