"""Synthetic test signals; every function returns float32 (channels, samples) at full scale 1."""

from __future__ import annotations

import numpy as np


def _seconds_to_samples(seconds: float, sample_rate: int) -> int:
    """Duration in seconds to a whole number of samples."""
    return round(seconds * sample_rate)


def sine(
    freq_hz: float,
    seconds: float,
    sample_rate: int,
    *,
    amplitude: float = 0.5,
    channels: int = 1,
    phase_rad: float = 0.0,
) -> np.ndarray:
    """Sine of `freq_hz` Hz, peak `amplitude` (full scale 1), the same on every channel."""
    t = np.arange(_seconds_to_samples(seconds, sample_rate)) / sample_rate
    x = amplitude * np.sin(2.0 * np.pi * freq_hz * t + phase_rad)
    return np.tile(x.astype(np.float32), (channels, 1))


def white_noise(
    seconds: float,
    sample_rate: int,
    *,
    amplitude: float = 0.1,
    channels: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """Gaussian white noise with RMS `amplitude` (full scale 1), independent per channel."""
    rng = np.random.default_rng(seed)
    n = _seconds_to_samples(seconds, sample_rate)
    return (amplitude * rng.standard_normal((channels, n))).astype(np.float32)


def brick_wall(x: np.ndarray, cutoff_hz: float, sample_rate: int) -> np.ndarray:
    """1-D x with every FFT bin above cutoff_hz zeroed (a lossy codec's low-pass, steeper), in
    x's dtype."""
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(x.size, 1.0 / sample_rate) > cutoff_hz] = 0.0
    return np.fft.irfft(spec, x.size).astype(x.dtype)


def silence(seconds: float, sample_rate: int, *, channels: int = 1) -> np.ndarray:
    """Digital silence (all zeros)."""
    return np.zeros((channels, _seconds_to_samples(seconds, sample_rate)), dtype=np.float32)


def log_sweep(
    f0_hz: float,
    f1_hz: float,
    seconds: float,
    sample_rate: int,
    *,
    amplitude: float = 0.5,
    channels: int = 1,
) -> np.ndarray:
    """Exponential sine sweep from `f0_hz` to `f1_hz` Hz (Farina 2000), peak `amplitude`."""
    n = _seconds_to_samples(seconds, sample_rate)
    t = np.arange(n) / sample_rate
    k = np.log(f1_hz / f0_hz)
    x = amplitude * np.sin(2.0 * np.pi * f0_hz * seconds / k * (np.exp(t * k / seconds) - 1.0))
    return np.tile(x.astype(np.float32), (channels, 1))


def plucked_notes(
    seconds: float,
    sample_rate: int,
    *,
    notes_per_second: float = 2.0,
    amplitude: float = 0.5,
    channels: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """Guitar-like notes: random pitches (82-660 Hz) with 3 harmonics and exponential decay."""
    rng = np.random.default_rng(seed)
    n = _seconds_to_samples(seconds, sample_rate)
    out = np.zeros(n, dtype=np.float64)
    hop = max(1, int(sample_rate / notes_per_second))
    for start in range(0, n, hop):
        f0 = 82.41 * 2.0 ** (rng.integers(0, 36) / 12.0)
        length = min(hop, n - start)
        t = np.arange(length) / sample_rate
        note = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3))
        out[start : start + length] += note * np.exp(-t / 0.25)
    peak = float(np.max(np.abs(out))) or 1.0
    x = (amplitude * out / peak).astype(np.float32)
    return np.tile(x, (channels, 1))


def guitar_line(
    seconds: float,
    sample_rate: int,
    *,
    seed: int = 0,
    level_db: float = -6.0,
) -> np.ndarray:
    """Monophonic guitar-like line: 20 harmonics, pluck noise, soft and hard notes, rests."""
    rng = np.random.default_rng(seed)
    n = _seconds_to_samples(seconds, sample_rate)
    out = np.zeros(n, dtype=np.float64)
    pos = 0
    while pos < n:
        dur = float(rng.choice([0.125, 0.25, 0.25, 0.5, 1.0, 1.5]))
        length = min(int(dur * sample_rate), n - pos)
        if rng.random() < 0.12:  # rest
            pos += length
            continue
        f0 = 82.41 * 2.0 ** (rng.integers(0, 30) / 12.0)
        vel = 10 ** (rng.uniform(-24, 0) / 20)
        t = np.arange(length) / sample_rate
        decay = rng.uniform(0.3, 1.2)
        note = np.zeros(length)
        for h in range(1, 21):
            if f0 * h > sample_rate / 2.2:
                break
            amp = vel ** (0.3 * (h - 1) / 19) / h**1.1  # harder picking is brighter
            note += (
                amp
                * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
                * np.exp(-t * h**0.7 / decay)
            )
        attack = np.minimum(t / 0.002, 1.0)
        pluck = rng.standard_normal(length) * np.exp(-t / 0.004) * 0.3
        fade = np.minimum((length - np.arange(length)) / (0.01 * sample_rate), 1.0)
        out[pos : pos + length] += vel * (note * attack + pluck) * fade
        pos += length
    out *= 10 ** (level_db / 20) / (np.max(np.abs(out)) or 1.0)
    return out.astype(np.float32)[None, :]


def riff_take(
    seconds: float,
    sample_rate: int,
    *,
    take: int = 0,
    jitter_ms: float = 10.0,
    level_db: float = -6.0,
) -> np.ndarray:
    """One take of a fixed two-bar riff: the same notes and rhythm in every take; the timing
    (onsets off by `jitter_ms` RMS), picking strength and string phases of take `take`."""
    riff = np.random.default_rng(7)
    rng = np.random.default_rng(100 + take)
    pattern = [
        (float(riff.choice([0.125, 0.25, 0.25, 0.5])), 82.41 * 2 ** (riff.integers(0, 24) / 12),
         riff.uniform(-18, 0))
        for _ in range(8)
    ]
    n = _seconds_to_samples(seconds, sample_rate)
    out = np.zeros(n)
    t0 = 0.0
    while t0 < seconds:
        for dur, f0, vel_db in pattern:
            start = int((t0 + rng.normal(0, jitter_ms * 1e-3)) * sample_rate)
            t0 += dur
            if not 0 <= start < n:
                continue
            t = np.arange(min(int(dur * sample_rate), n - start)) / sample_rate
            vel = 10 ** ((vel_db + rng.normal(0, 2)) / 20)
            note = sum(
                np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
                * np.exp(-t * h**0.7 / 0.6) / h**1.1
                for h in range(1, 21) if f0 * h < sample_rate / 2.2
            )
            pluck = 0.3 * rng.standard_normal(len(t)) * np.exp(-t / 0.004)
            out[start : start + len(t)] += vel * (note * np.minimum(t / 0.002, 1) + pluck)
    out *= 10 ** (level_db / 20) / (np.max(np.abs(out)) or 1.0)
    return out.astype(np.float32)[None, :]
