"""Frame features of audio (torch, differentiable): log-mel, liftered envelope, level, dynamics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from tonemorph.chain.functional import rfft
from tonemorph.dsp.silence import GATE_ABS_DB, GATE_REL_DB

DYN_WINDOWS_MS = (5.0, 50.0, 400.0)


@dataclass(frozen=True)
class FeatureConfig:
    """Analysis settings: frame/hop in samples, mel bands, cepstral coefficients kept."""

    sample_rate: int = 48000
    n_fft: int = 2048
    hop: int = 512
    n_mels: int = 64
    n_cep: int = 20
    fmin_hz: float = 30.0
    fmax_hz: float = 20000.0


@dataclass
class Features:
    """Per-frame features of gated (non-silent) frames, and windowed levels for dynamics."""

    logmel_db: torch.Tensor  # (N, n_mels)
    env_db: torch.Tensor  # (N, n_mels), liftered log-mel (spectral envelope, pitch-free)
    cep: torch.Tensor  # (N, n_cep)
    level_db: torch.Tensor  # (N,)
    centroid: torch.Tensor  # (N,), mel-band index weighted by power, 0..1
    flatness_db: torch.Tensor  # (N,)
    crest_db: torch.Tensor  # (N,)
    dyn_levels_db: list[torch.Tensor]  # per DYN_WINDOWS_MS, gated window levels
    level_delta_db: torch.Tensor  # change of the 50 ms level per 10 ms, gated

    def tensors(self) -> list[torch.Tensor]:
        """Every feature tensor, in field order (the dynamics windows in place)."""
        return [self.logmel_db, self.env_db, self.cep, self.level_db, self.centroid,
                self.flatness_db, self.crest_db, *self.dyn_levels_db, self.level_delta_db]

    @classmethod
    def from_tensors(cls, ts: list[torch.Tensor]) -> Features:
        """Inverse of `tensors`."""
        n_dyn = len(ts) - 8
        return cls(*ts[:7], list(ts[7: 7 + n_dyn]), ts[-1])

    @classmethod
    def cat(cls, parts: list[Features]) -> Features:
        """Features of consecutive parts of a batch as one (frames in part order)."""
        return cls.from_tensors([torch.cat(ts) for ts in zip(*(p.tensors() for p in parts))])

    def joint(self) -> torch.Tensor:
        """Per-frame feature vectors (N, D) for joint-distribution losses."""
        return torch.cat([self.level_db[:, None] / 10, self.centroid[:, None] * 10,
                          self.flatness_db[:, None] / 10, self.crest_db[:, None] / 5,
                          self.cep[:, 1:9] / 10], dim=1)


@lru_cache(maxsize=8)
def mel_matrix(sample_rate: int, n_fft: int, n_mels: int, fmin_hz: float,
               fmax_hz: float) -> torch.Tensor:
    """Triangular mel filterbank (n_fft//2+1, n_mels), HTK mel scale, unit peak."""
    def mel(f: np.ndarray) -> np.ndarray:
        return 2595 * np.log10(1 + f / 700)

    fmax_hz = min(fmax_hz, sample_rate / 2)
    pts = 700 * (10 ** (np.linspace(mel(np.array(fmin_hz)), mel(np.array(fmax_hz)),
                                    n_mels + 2) / 2595) - 1)
    f = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    m = np.zeros((len(f), n_mels))
    for i in range(n_mels):
        lo, c, hi = pts[i], pts[i + 1], pts[i + 2]
        m[:, i] = np.clip(np.minimum((f - lo) / (c - lo), (hi - f) / (hi - c)), 0, None)
    return torch.from_numpy(m).float()


@lru_cache(maxsize=8)
def dct_matrix(n: int, k: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix (n, k): cepstrum = logmel @ D."""
    i = np.arange(n)[:, None]
    j = np.arange(k)[None, :]
    d = np.cos(math.pi / n * (i + 0.5) * j) * math.sqrt(2 / n)
    d[:, 0] /= math.sqrt(2)
    return torch.from_numpy(d).float()


def gate_threshold_db(level_db: torch.Tensor) -> float:
    """Silence gate (dBFS) from a level distribution: loud level minus GATE_REL_DB, floored."""
    if level_db.numel() == 0:
        return GATE_ABS_DB
    loud = torch.quantile(level_db.detach().float(), 0.95).item()
    return max(loud - GATE_REL_DB, GATE_ABS_DB)


def running_sum(power: torch.Tensor) -> torch.Tensor:
    """Running sum of power (B, T) in float64 with a 0 in front (B, T + 1): every window mean
    of one signal from one pass (float64 keeps the differences of large sums exact enough for
    -100 dB windows after loud ones)."""
    return torch.nn.functional.pad(power.double().cumsum(-1), (1, 0))


def _window_mean(power: torch.Tensor, win: int, hop: int,
                 sums: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of power (B, T) over windows of `win` samples every `hop` (B, F); F may be 0.
    `sums`: power's `running_sum`, when the caller has it."""
    n = (power.shape[-1] - win) // hop + 1
    if n < 1:
        return power.new_zeros(power.shape[0], 0)
    # running sums instead of unfold().mean(): the 400 ms windows overlap 40x, and the unfolded
    # copy and its backward were a sixth of a training step
    c = running_sum(power) if sums is None else sums
    ends, starts = c[:, win: win + (n - 1) * hop + 1: hop], c[:, : (n - 1) * hop + 1: hop]
    return ((ends - starts) / win).clamp_min(0).to(power.dtype)


def window_levels(power: torch.Tensor, sample_rate: int, win_ms: float,
                  sums: torch.Tensor | None = None) -> torch.Tensor:
    """Levels (dB) of x^2 averaged over win_ms windows with hop win_ms/4 (or 10 ms at most);
    `sums`: power's `running_sum`, when the caller has it."""
    win = max(int(sample_rate * win_ms / 1000), 1)
    hop = max(min(win // 4, int(sample_rate * 0.01)), 1)
    return 10 * torch.log10(_window_mean(power, win, hop, sums) + 1e-10)


def frame_levels_db(x: torch.Tensor, cfg: FeatureConfig, skip: int = 0) -> torch.Tensor:
    """Level (dBFS) of each analysis frame of x (B, T) after `skip` samples, flattened (B*F,)."""
    return 10 * torch.log10(_frame_ms(x[:, skip:] ** 2, cfg) + 1e-10)


def _frame_ms(sq: torch.Tensor, cfg: FeatureConfig, sums: torch.Tensor | None = None
              ) -> torch.Tensor:
    """Mean square of each analysis frame of sq = x^2 (B, T), flattened (B*F,); `sums`: sq's
    `running_sum`, when the caller has it."""
    return _window_mean(sq, cfg.n_fft, cfg.hop, sums).reshape(-1)


def frame_features(x: torch.Tensor, cfg: FeatureConfig, skip: int = 0,
                   gate_db: float | None = None) -> Features:
    """Features of x (B, T), ignoring the first `skip` samples of each row (warm-up).

    Frames below the silence gate are dropped; `gate_db` fixes the gate (else from x itself).
    """
    x = x[:, skip:]
    window = torch.hann_window(cfg.n_fft, dtype=x.dtype)
    # torch.stft's values (center=False), its gradient by a real inverse FFT (`rfft`)
    spec = rfft(x.unfold(-1, cfg.n_fft, cfg.hop) * window, cfg.n_fft)  # (B, frames, bins)
    power = (spec.real ** 2 + spec.imag ** 2).reshape(-1, spec.shape[-1])
    power = power / (window.sum() ** 2 / 2)
    sq = x ** 2
    sums = running_sum(sq)  # for the frames' and every dynamics window's mean square
    # frame mean square and peak without an unfolded copy of the frames (4x overlap)
    ms = _frame_ms(sq, cfg, sums)
    peak = torch.nn.functional.max_pool1d(sq[:, None], cfg.n_fft, cfg.hop)[:, 0].reshape(-1)
    level = 10 * torch.log10(ms + 1e-10)
    gate = gate_threshold_db(level) if gate_db is None else gate_db
    keep = level > gate
    power, peak, level, ms = power[keep], peak[keep], level[keep], ms[keep]

    mel = power @ mel_matrix(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin_hz, cfg.fmax_hz)
    logmel = 10 * torch.log10(mel + 1e-10)
    d = dct_matrix(cfg.n_mels, cfg.n_cep)
    cep = logmel @ d
    env = cep @ d.T
    w = mel / (mel.sum(-1, keepdim=True) + 1e-12)
    centroid = (w * torch.linspace(0, 1, cfg.n_mels)).sum(-1)
    f = torch.fft.rfftfreq(cfg.n_fft, 1 / cfg.sample_rate)
    band = (f > 100) & (f < min(10000.0, cfg.fmax_hz))
    pb = power[:, band] + 1e-12
    flat = 10 * (torch.log10(pb).mean(-1) - torch.log10(pb.mean(-1)))
    crest = 10 * torch.log10(peak / (ms + 1e-12) + 1e-12)

    dyn = []
    delta = x.new_zeros(0)
    for win_ms in DYN_WINDOWS_MS:
        lv = window_levels(sq, cfg.sample_rate, win_ms, sums)
        if win_ms == 50.0 and lv.shape[-1] > 1:
            both = (lv[:, 1:] > gate) & (lv[:, :-1] > gate)
            delta = (lv[:, 1:] - lv[:, :-1])[both]
        dyn.append(lv[lv > gate])
    return Features(logmel, env, cep, level, centroid, flat, crest, dyn, delta)
