"""Test and training signals: sweeps, noise bursts, plucked-string notes and chords at many
levels, and the standard reamp signal `capture_signal` (alignment blips at start and end).

All functions return float32 mono arrays (samples,) at full scale 1, deterministic per seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.signal as ss

from tonemorph.dsp.units import db_to_gain

BLIP_GAP_S = 0.5  # silence around each alignment blip
BLIP_COUNT = 2  # blips at the start and at the end
BLIP_LEVEL = 0.5  # peak of one blip (full scale 1)
E2_HZ = 82.41  # low E string of a guitar in standard tuning
CAPTURE_PEAK_DBFS = -1.0


def log_sweep(f0_hz: float, f1_hz: float, seconds: float, sample_rate: int,
              peak_dbfs: float = -6.0) -> np.ndarray:
    """Exponential sine sweep f0 -> f1 (Hz, Farina 2000) with 10 ms fades, peak in dBFS."""
    n = max(int(round(seconds * sample_rate)), 1)
    t = np.arange(n) / sample_rate
    k = np.log(f1_hz / f0_hz)
    x = np.sin(2 * np.pi * f0_hz * seconds / k * (np.exp(t * k / seconds) - 1.0))
    return (_fade(x, sample_rate) * db_to_gain(peak_dbfs)).astype(np.float32)


def _fade(x: np.ndarray, sample_rate: int, fade_s: float = 0.01) -> np.ndarray:
    m = min(int(fade_s * sample_rate), len(x) // 2)
    if m > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, m))
        x = x.copy()
        x[:m] *= ramp
        x[len(x) - m:] *= ramp[::-1]
    return x


def noise_burst(seconds: float, sample_rate: int, rms_dbfs: float, *, pink: bool = False,
                seed: int = 0) -> np.ndarray:
    """White (or pink, -3 dB/octave) Gaussian noise burst at an RMS level in dBFS, faded."""
    rng = np.random.default_rng(seed)
    n = max(int(round(seconds * sample_rate)), 1)
    x = rng.standard_normal(n)
    if pink:
        # Kellet's economy pink filter as a 3-pole/3-zero IIR; accurate to ~0.5 dB above 10 Hz
        b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
        a = [1.0, -2.494956002, 2.017265875, -0.522189400]
        x = ss.lfilter(b, a, x)
    x = x / (np.sqrt(np.mean(x ** 2)) or 1.0) * db_to_gain(rms_dbfs)
    return np.clip(_fade(x, sample_rate), -1, 1).astype(np.float32)


def pluck(freq_hz: float, seconds: float, sample_rate: int, *, brightness: float = 0.5,
          seed: int = 0) -> np.ndarray:
    """One plucked-string note (Karplus-Strong, Jaffe-Smith 1983), peak 1."""
    rng = np.random.default_rng(seed)
    n = max(int(round(seconds * sample_rate)), 1)
    period = max(int(round(sample_rate / freq_hz)), 2)
    excite = rng.uniform(-1, 1, period)
    # a darker excitation sounds like a softer pick
    excite = ss.lfilter([1 - brightness], [1, -brightness], excite)
    decay = 0.996
    # y[t] = decay * (y[t-P] + y[t-P-1]) / 2 after the first period: each period depends only
    # on the one before, so it is computed a whole period at a time (index 0 is y[-1] = 0)
    y = np.zeros(n + 1 + period)
    y[1: 1 + period] = excite
    for k in range(1 + period, n + 1, period):
        m = min(period, n + 1 - k)
        a, b = y[k - period: k - period + m], y[k - period - 1: k - period - 1 + m]
        y[k: k + m] = 0.5 * decay * (a + b)
    y = y[1: n + 1]
    return (y / (np.max(np.abs(y)) or 1.0)).astype(np.float32)


def chord(root_hz: float, intervals: Sequence[int], seconds: float, sample_rate: int, *,
          strum_s: float = 0.015, brightness: float = 0.5, seed: int = 0) -> np.ndarray:
    """A strummed chord of plucked strings (semitone intervals above root_hz), peak 1."""
    n = max(int(round(seconds * sample_rate)), 1)
    out = np.zeros(n)
    for i, semis in enumerate(intervals):
        start = int(i * strum_s * sample_rate)
        if start >= n:
            break
        f = root_hz * 2 ** (semis / 12)
        out[start:] += pluck(f, (n - start) / sample_rate, sample_rate, brightness=brightness,
                             seed=seed + i)
    return (out / (np.max(np.abs(out)) or 1.0)).astype(np.float32)


_SHAPES = ((0, 7, 12, 16, 19, 24), (0, 7, 12, 15, 19, 24), (0, 5, 10, 15, 19, 24), (0, 7, 12))


def guitar_phrases(seconds: float, sample_rate: int, *, peak_dbfs: float = -6.0,
                   seed: int = 0) -> np.ndarray:
    """Single notes, power chords and open chords with soft and hard picks; peak in dBFS."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    out = np.zeros(n)
    pos = 0
    while pos < n:
        dur = float(rng.choice([0.15, 0.25, 0.5, 1.0, 2.0]))
        length = min(int(dur * sample_rate), n - pos)
        root = E2_HZ * 2 ** (int(rng.integers(0, 15)) / 12)
        vel_db = float(rng.uniform(-24, 0))  # soft to hard picking, darker when soft
        bright = 0.2 + 0.6 * (1 + vel_db / 24)
        if rng.random() < 0.5:
            note = pluck(root * 2 ** (int(rng.integers(0, 13)) / 12), length / sample_rate,
                         sample_rate, brightness=bright, seed=int(rng.integers(1 << 30)))
        else:
            shape = _SHAPES[int(rng.integers(len(_SHAPES)))]
            note = chord(root, shape, length / sample_rate, sample_rate, brightness=bright,
                         seed=int(rng.integers(1 << 30)))
        mute = np.minimum((length - np.arange(length)) / (0.005 * sample_rate), 1.0)
        out[pos: pos + length] += note[:length] * mute * db_to_gain(vel_db)
        pos += length
    return (out / (np.max(np.abs(out)) or 1.0) * db_to_gain(peak_dbfs)).astype(np.float32)


def blip_train(sample_rate: int) -> np.ndarray:
    """BLIP_COUNT one-sample blips, each followed by BLIP_GAP_S of silence, led by silence."""
    gap = int(BLIP_GAP_S * sample_rate)
    x = np.zeros(gap * (BLIP_COUNT + 1), np.float32)
    for i in range(BLIP_COUNT):
        x[gap * (i + 1)] = BLIP_LEVEL
    return x


def _silence(seconds: float, sample_rate: int) -> np.ndarray:
    return np.zeros(int(round(seconds * sample_rate)), np.float32)


def _normalise_peak(x: np.ndarray, peak_dbfs: float) -> np.ndarray:
    peak = float(np.max(np.abs(x))) or 1.0
    return (x * (db_to_gain(peak_dbfs) / peak) if peak > db_to_gain(peak_dbfs) else x).astype(
        np.float32)


def capture_signal(sample_rate: int = 48000,
                   guitar: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, list[int]]:
    """The reamp test signal and its blip positions (samples).

    Layout: blips; sweeps 20 Hz - 20 kHz at -30/-18/-6 dBFS; white and pink noise bursts at
    -48..-6 dBFS RMS; synthetic guitar phrases at 4 levels; `guitar` takes (mono, at
    `sample_rate`) at 3 levels; blips. Peak at most -1 dBFS. About 2 minutes.
    """
    sr = int(sample_rate)
    if sr < 8000:
        raise ValueError(f"sample_rate must be >= 8000 Hz, got {sr}")
    parts: list[np.ndarray] = []
    for level in (-30.0, -18.0, -6.0):
        parts += [log_sweep(20.0, min(20000.0, 0.45 * sr), 5.0, sr, level), _silence(0.5, sr)]
    for i, level in enumerate((-48.0, -36.0, -24.0, -15.0, -6.0)):
        parts += [noise_burst(1.5, sr, level, seed=i), _silence(0.25, sr),
                  noise_burst(1.5, sr, level, pink=True, seed=100 + i), _silence(0.25, sr)]
    for i, level in enumerate((-30.0, -18.0, -9.0, -3.0)):
        parts += [guitar_phrases(12.0, sr, peak_dbfs=level, seed=10 + i), _silence(0.5, sr)]
    for take in guitar:
        g = np.asarray(take, np.float32).reshape(-1)
        peak = float(np.max(np.abs(g))) or 1.0
        for level in (-24.0, -12.0, -3.0):
            parts += [g * (db_to_gain(level) / peak), _silence(0.5, sr)]
    body = _normalise_peak(np.concatenate(parts), CAPTURE_PEAK_DBFS)
    head = blip_train(sr)
    x = np.concatenate([head, body, blip_train(sr), _silence(BLIP_GAP_S, sr)]).astype(np.float32)
    gap = int(BLIP_GAP_S * sr)
    blips = [gap * (i + 1) for i in range(BLIP_COUNT)]
    blips += [len(head) + len(body) + gap * (i + 1) for i in range(BLIP_COUNT)]
    return x, blips


def distill_excitation(sample_rate: int = 48000, guitar: Sequence[np.ndarray] = (), *,
                       seed: int = 0) -> np.ndarray:
    """Training input for distillation: guitar takes and phrases, chords, sweeps and noise at
    levels from -42 to 0 dBFS peak, so the whole dynamic range of a guitar is covered."""
    sr = int(sample_rate)
    parts: list[np.ndarray] = []
    for take in guitar:
        g = np.asarray(take, np.float32).reshape(-1)
        peak = float(np.max(np.abs(g))) or 1.0
        for level in (-30.0, -18.0, -9.0, -3.0, 0.0):
            parts += [g * (db_to_gain(level) / peak), _silence(0.2, sr)]
    for i, level in enumerate((-42.0, -30.0, -20.0, -12.0, -6.0, -1.0)):
        parts += [guitar_phrases(10.0, sr, peak_dbfs=level, seed=seed * 100 + 50 + i),
                  _silence(0.2, sr)]
    for level in (-36.0, -24.0, -12.0, -3.0):
        parts += [log_sweep(30.0, min(18000.0, 0.45 * sr), 3.0, sr, level), _silence(0.2, sr)]
    for i, level in enumerate((-45.0, -33.0, -21.0, -12.0, -6.0)):
        parts += [noise_burst(0.8, sr, level, pink=bool(i % 2), seed=seed * 100 + i),
                  _silence(0.3, sr)]
    return np.clip(np.concatenate(parts), -1.0, 1.0).astype(np.float32)


__all__ = [
    "blip_train",
    "capture_signal",
    "chord",
    "distill_excitation",
    "guitar_phrases",
    "log_sweep",
    "noise_burst",
    "pluck",
]
