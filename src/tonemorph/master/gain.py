"""The output gain of a master: the gain before the true-peak limiter that brings the limited
result to a loudness target (LUFS), found on pre-limiter excerpts."""

from __future__ import annotations

import math

import numpy as np

from tonemorph.dsp.limiter import LimiterConfig, TruePeakLimiter, interval_peaks
from tonemorph.dsp.loudness import gated_lufs
from tonemorph.dsp.meter import LoudnessMeter

__all__ = ["block_powers", "find_output_gain", "level_map", "lufs_of", "moved"]

_BLOCK = 1 << 16


def _metered(x: np.ndarray, sample_rate: int) -> LoudnessMeter:
    """A loudness meter fed (channels, n) audio in blocks (bounded memory)."""
    meter = LoudnessMeter(sample_rate, x.shape[0])
    for i in range(0, x.shape[1], _BLOCK):
        meter.add(x[:, i : i + _BLOCK])
    return meter


def lufs_of(x: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS) of (channels, n) audio, metered in blocks (bounded memory)."""
    return _metered(x, sample_rate).integrated_lufs()


def block_powers(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """K-weighted 400 ms block powers (75 % overlap) of (channels, n) audio, as the meter's."""
    return _metered(x, sample_rate).block_power()


def level_map(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How a process moved 400 ms blocks by their level: (level dB, change dB) per 1 dB bin of
    the level before (its mean), between the lowest and highest levels; silent blocks are left
    out."""
    keep = (before > 1e-12) & (after > 1e-12)
    level = 10.0 * np.log10(before[keep])
    change = 10.0 * np.log10(after[keep]) - level
    if level.size == 0:
        return np.zeros(1), np.zeros(1)
    _, inv = np.unique(np.floor(level), return_inverse=True)
    count = np.bincount(inv)
    mean_level, mean_change = np.bincount(inv, level) / count, np.bincount(inv, change) / count
    # the quietest and loudest blocks seen close the map with their bins' changes
    return (np.concatenate([[level.min()], mean_level, [level.max()]]),
            np.concatenate([mean_change[:1], mean_change, mean_change[-1:]]))


def moved(blocks: np.ndarray, levels_db: np.ndarray, change_db: np.ndarray) -> np.ndarray:
    """Block powers each moved by the change of its level in a `level_map`: interpolated
    between its levels, held above them; below them a cut shrinks by a dB per dB (a block
    that much quieter has peaks that much lower for a limiter to take) and a boost is held."""
    with np.errstate(divide="ignore"):
        level = 10.0 * np.log10(blocks)
    level = np.where(np.isfinite(level), level, -300.0)
    change = np.interp(level, levels_db, change_db)
    below = level < levels_db[0]
    if change_db[0] < 0:
        change[below] = np.minimum(0.0, change_db[0] + (levels_db[0] - level[below]))
    return blocks * 10.0 ** (change / 10.0)


def _limited(pre: np.ndarray, sample_rate: int, gain_db: float, limiter: LimiterConfig,
             peaks: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """(400 ms block powers, max limiter gain reduction dB) of pre-limiter audio after gain
    and limiting.

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
    return meter.block_power(), lim.max_gain_reduction_db


def find_output_gain(
    pre: np.ndarray,
    sample_rate: int,
    target_lufs: float,
    limiter: LimiterConfig,
    *,
    whole_blocks: np.ndarray | None = None,
    max_limiting_db: float = 9.0,
) -> tuple[float, float, bool]:
    """Output gain (dB) bringing the limited programme to target_lufs, searched on its
    pre-limiter excerpts `pre`.

    ``whole_blocks``: the whole programme's 400 ms block powers before the output gain and
    limiter, when `pre` is only its excerpts. At each gain the limiter's loudness change per
    block level is measured on the excerpts and applied to the whole programme's blocks: the
    excerpts are its loud sections, which the limiter takes down the most. Secant steps on the
    gain inside a bracket; no gain is taken where the limiter would reduce peaks by more than
    max_limiting_db (the ceiling wins). Returns (gain_db, predicted LUFS, capped).
    """
    goal = target_lufs  # the predicted loudness the search aims at
    pre_blocks = block_powers(pre, sample_rate)
    peaks = interval_peaks(pre, pad=TruePeakLimiter(sample_rate, pre.shape[0], limiter).latency)

    def limited_lufs(gain_db: float) -> tuple[float, float]:
        blocks, gr = _limited(pre, sample_rate, gain_db, limiter, peaks)
        if whole_blocks is None:
            return gated_lufs(blocks), gr
        scale = 10.0 ** (gain_db / 10.0)
        levels, change = level_map(pre_blocks * scale, blocks)
        return gated_lufs(moved(whole_blocks * scale, levels, change)), gr

    lo, hi = -math.inf, math.inf
    lo_lufs = -math.inf
    gain = goal - gated_lufs(pre_blocks if whole_blocks is None else whole_blocks)
    prev: tuple[float, float] | None = None
    capped = False
    best = (gain, -math.inf)
    for _ in range(10):
        lufs, gr = limited_lufs(gain)
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
    return best[0], best[1], capped and best[1] < goal - 0.1

