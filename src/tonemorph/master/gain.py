"""The output gain of a master: the gain before the true-peak limiter that brings the limited
result to a loudness target (LUFS), found on pre-limiter excerpts."""

from __future__ import annotations

import math

import numpy as np

from tonemorph.dsp.limiter import LimiterConfig, TruePeakLimiter, interval_peaks
from tonemorph.dsp.meter import LoudnessMeter

__all__ = ["find_output_gain", "lufs_of"]

_BLOCK = 1 << 16


def lufs_of(x: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS) of (channels, n) audio, metered in blocks (bounded memory)."""
    meter = LoudnessMeter(sample_rate, x.shape[0])
    for i in range(0, x.shape[1], _BLOCK):
        meter.add(x[:, i : i + _BLOCK])
    return meter.integrated_lufs()


def _limited_lufs(pre: np.ndarray, sample_rate: int, gain_db: float,
                  limiter: LimiterConfig, peaks: np.ndarray | None = None) -> tuple[float, float]:
    """(LUFS, max limiter gain reduction dB) of pre-limiter audio after gain and limiting.

    ``peaks``: the detector's `interval_peaks` of pre (padded by the limiter latency), reused
    across gains.
    """
    lim = TruePeakLimiter(sample_rate, pre.shape[0], limiter)
    meter = LoudnessMeter(sample_rate, pre.shape[0])
    gain = 10.0 ** (gain_db / 20.0)
    n = pre.shape[1]
    skip = lim.latency
    for i in range(0, n + lim.latency, _BLOCK):
        stop = min(i + _BLOCK, n + lim.latency)
        block = np.zeros((pre.shape[0], stop - i))
        if i < n:
            block[:, : min(stop, n) - i] = pre[:, i : min(stop, n)]
        y = lim.process(block * gain, peaks=None if peaks is None else peaks[i:stop] * gain)
        meter.add(y[:, skip:])
        skip = max(0, skip - y.shape[1])
    return meter.integrated_lufs(), lim.max_gain_reduction_db


def find_output_gain(
    pre: np.ndarray,
    sample_rate: int,
    target_lufs: float,
    limiter: LimiterConfig,
    *,
    offset_lu: float = 0.0,
    max_limiting_db: float = 9.0,
) -> tuple[float, float, bool]:
    """Output gain (dB) bringing limited pre-limiter excerpts to target_lufs + offset_lu.

    ``offset_lu`` is how much louder the excerpts are than the whole file. Secant steps on the
    gain inside a bracket; no gain is taken where the limiter would reduce peaks by more than
    max_limiting_db (the ceiling wins). Returns (gain_db, predicted whole-file LUFS, capped).
    """
    goal = target_lufs + offset_lu
    pre_lufs = lufs_of(pre, sample_rate)
    peaks = interval_peaks(pre, pad=TruePeakLimiter(sample_rate, pre.shape[0], limiter).latency)
    lo, hi = -math.inf, math.inf
    lo_lufs = -math.inf
    gain = goal - pre_lufs
    prev: tuple[float, float] | None = None
    capped = False
    best = (gain, -math.inf)
    for _ in range(10):
        lufs, gr = _limited_lufs(pre, sample_rate, gain, limiter, peaks)
        if gr > max_limiting_db:
            hi, capped = gain, True
            gain = 0.5 * (lo + hi) if math.isfinite(lo) else gain - 2.0
            prev = None
            continue
        error = goal - lufs
        if error >= 0 and lufs > lo_lufs:
            lo, lo_lufs = gain, lufs
        if error < 0:
            hi = gain
        if abs(error) < abs(goal - best[1]):
            best = (gain, lufs)
        if abs(error) < 0.03 or hi - lo < 0.01:
            break
        slope = 1.0
        if prev is not None and gain != prev[0]:
            slope = min(max((lufs - prev[1]) / (gain - prev[0]), 0.1), 1.0)
        prev = (gain, lufs)
        step = gain + error / slope
        if not lo < step < hi:
            step = 0.5 * (lo + hi) if math.isfinite(lo) and math.isfinite(hi) else (
                hi - 0.5 if math.isfinite(hi) else lo + 3.0)
        gain = step
    if not math.isfinite(best[1]) and math.isfinite(lo):
        best = (lo, lo_lufs)
    if best[1] < goal - 0.1 and math.isfinite(lo):
        best = (lo, lo_lufs)  # short of the goal: the most gain the cap allows
    return best[0], best[1] - offset_lu, capped and best[1] < goal - 0.1

