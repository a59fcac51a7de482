"""Generated stereo 'music' for the mastering tests: drums, notes and a pad, float32 (2, n)."""

from __future__ import annotations

import numpy as np
import scipy.signal


def stereo_music(seconds: float, sample_rate: int, *, seed: int = 0,
                 peak: float = 0.5) -> np.ndarray:
    """Noise-burst drums (centre), plucked notes (left of centre), a band-limited pad (wide)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    beat = int(0.25 * sample_rate)
    env = np.zeros(n)
    for start in range(0, n, beat):
        length = min(beat, n - start)
        env[start : start + length] = rng.uniform(0.05, 1.0) * np.exp(
            -np.arange(length) / sample_rate / 0.06)
    b, a = scipy.signal.butter(2, min(3000.0, 0.4 * sample_rate), fs=sample_rate)
    drums = scipy.signal.lfilter(b, a, rng.standard_normal(n) * env)
    notes = np.zeros(n)
    step = int(0.5 * sample_rate)
    for start in range(0, n, step):
        length = min(step, n - start)
        f0 = 110.0 * 2.0 ** (rng.integers(0, 24) / 12.0)
        tt = t[:length]
        notes[start : start + length] = sum(
            np.sin(2 * np.pi * f0 * h * tt) / h for h in (1, 2, 3, 4)) * np.exp(-tt / 0.3)
    b, a = scipy.signal.butter(2, [200.0, 900.0], "bandpass", fs=sample_rate)
    pad = scipy.signal.lfilter(b, a, rng.standard_normal((2, n)), axis=-1) * 0.3
    left = 0.6 * drums + 0.35 * notes + pad[0]
    right = 0.6 * drums + 0.25 * notes + pad[1]
    x = np.stack([left, right])
    return (x * peak / np.max(np.abs(x))).astype(np.float32)


def dense(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """A loud, dense master of x made without tonemorph: RMS compressor, tanh, peak normalise."""
    power = np.mean(np.square(x.astype(np.float64)), axis=0)
    a = np.exp(-1.0 / (0.01 * sample_rate))
    env = np.sqrt(scipy.signal.lfilter([1 - a], [1, -a], power))
    gain = np.minimum(1.0, (np.maximum(env, 1e-9) / 0.05) ** -0.7)
    y = np.tanh(3.0 * x * gain)
    return (0.97 * y / np.max(np.abs(y))).astype(np.float32)
