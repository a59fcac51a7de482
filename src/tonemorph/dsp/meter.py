"""Streaming BS.1770 loudness: integrated LUFS and short-term levels of audio fed in blocks.

Gives the same integrated loudness as `tonemorph.dsp.loudness.integrated_lufs` on the whole
signal (same K-weighting and 400 ms blocks at 75 % overlap), keeping only one number per 100 ms.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from tonemorph.dsp.loudness import (
    BS1770_CHANNEL_WEIGHTS,
    _k_weighting_sos,
    active_frames,
    gated_lufs,
)
from tonemorph.dsp.units import DB_FLOOR, gain_to_db, power_to_db
from tonemorph.errors import AudioContentError, ParameterError

__all__ = ["LoudnessMeter", "StatsMeter", "TruePeakMeter"]

_SEGMENT_S = 0.1
_BLOCK_SEGMENTS = 4


@numba.njit(cache=True, nogil=True, fastmath=False)
def _weighted_power(block: np.ndarray, sos: np.ndarray, zi: np.ndarray,
                    weights: np.ndarray) -> np.ndarray:
    """Channel-weighted power (full scale 1) per sample of K-weighted (channels, n) audio.

    The biquad cascade of `scipy.signal.sosfilt` (transposed direct form II, same operation
    order), zi (sections, channels, 2) updated; one pass instead of filter, square and weigh.
    """
    n_ch, n = block.shape
    n_sec = sos.shape[0]
    power = np.empty(n)
    if n_sec == 2 and n_ch == 2:
        _weighted_power_2x2(block, sos, zi, weights, power)
        return power
    state = zi.copy()
    for i in range(n):
        # channels inside the sample loop: their independent recursions overlap in the CPU
        acc = 0.0
        for c in range(n_ch):
            v = block[c, i]
            for k in range(n_sec):
                y = sos[k, 0] * v + state[k, c, 0]
                state[k, c, 0] = sos[k, 1] * v - sos[k, 4] * y + state[k, c, 1]
                state[k, c, 1] = sos[k, 2] * v - sos[k, 5] * y
                v = y
            acc += weights[c] * (v * v)
        power[i] = acc
    zi[:] = state
    return power


@numba.njit(cache=True, nogil=True, fastmath=False)
def _stats_kernel(block: np.ndarray, frame: int, state: np.ndarray, frames: np.ndarray) -> int:
    """One pass of `StatsMeter.add`: state [peak, mid power sum, side power sum, current
    frame's power sum, samples in it] updated, finished frames' mean powers written to
    frames; returns how many (the numpy version made ten passes over the block)."""
    n_ch, n = block.shape
    peak, mid, side, acc, count = state[0], state[1], state[2], state[3], int(state[4])
    k = 0
    for i in range(n):
        p = 0.0
        for c in range(n_ch):
            v = block[c, i]
            peak = max(peak, abs(v))
            p += v * v
        if n_ch == 2:
            m = block[0, i] + block[1, i]
            d = block[0, i] - block[1, i]
            mid += 0.25 * (m * m)
            side += 0.25 * (d * d)
        acc += p / n_ch
        count += 1
        if count == frame:
            frames[k] = acc / frame
            k += 1
            acc = 0.0
            count = 0
    state[0], state[1], state[2], state[3], state[4] = peak, mid, side, acc, count
    return k


@numba.njit(cache=True, nogil=True, fastmath=False)
def _weighted_power_2x2(block: np.ndarray, sos: np.ndarray, zi: np.ndarray,
                        weights: np.ndarray, power: np.ndarray) -> None:
    """`_weighted_power` for two channels and two sections (K-weighting of stereo), its states
    in local variables (registers, not memory: twice as fast), the same operations."""
    b00, b01, b02, a01, a02 = sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5]
    b10, b11, b12, a11, a12 = sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 4], sos[1, 5]
    w0, w1 = weights[0], weights[1]
    s000, s001, s100, s101 = zi[0, 0, 0], zi[0, 0, 1], zi[1, 0, 0], zi[1, 0, 1]  # channel 0
    s010, s011, s110, s111 = zi[0, 1, 0], zi[0, 1, 1], zi[1, 1, 0], zi[1, 1, 1]  # channel 1
    for i in range(block.shape[1]):
        v = block[0, i]
        y = b00 * v + s000
        s000 = b01 * v - a01 * y + s001
        s001 = b02 * v - a02 * y
        v = y
        y = b10 * v + s100
        s100 = b11 * v - a11 * y + s101
        s101 = b12 * v - a12 * y
        acc = 0.0
        acc += w0 * (y * y)
        v = block[1, i]
        y = b00 * v + s010
        s010 = b01 * v - a01 * y + s011
        s011 = b02 * v - a02 * y
        v = y
        y = b10 * v + s110
        s110 = b11 * v - a11 * y + s111
        s111 = b12 * v - a12 * y
        acc += w1 * (y * y)
        power[i] = acc
    zi[0, 0, 0], zi[0, 0, 1], zi[1, 0, 0], zi[1, 0, 1] = s000, s001, s100, s101
    zi[0, 1, 0], zi[0, 1, 1], zi[1, 1, 0], zi[1, 1, 1] = s010, s011, s110, s111


def _as_block(x: np.ndarray, channels: int) -> np.ndarray:
    """A fed block as float64 (channels, n); (n,) is one channel."""
    block = np.asarray(x, dtype=np.float64)
    if block.ndim == 1:
        block = block[None, :]
    if block.ndim != 2 or block.shape[0] != channels:
        raise ParameterError(f"block must be ({channels}, samples), got {np.shape(x)}.")
    return block


class LoudnessMeter:
    """Feed (channels, n) blocks with `add`; read `integrated_lufs()` or `block_lufs()` any time."""

    def __init__(self, sample_rate: float, channels: int):
        if not (math.isfinite(sample_rate) and sample_rate > 0):
            raise ParameterError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}.")
        if not 1 <= channels <= 5:
            raise ParameterError(f"loudness is defined for 1..5 channels, got {channels}.")
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        self._sos = _k_weighting_sos(self.sample_rate)
        self._zi = np.zeros((self._sos.shape[0], channels, 2))
        self._weights = BS1770_CHANNEL_WEIGHTS[:channels]
        self._n = 0  # samples fed
        self._segments: list[float] = []  # weighted power summed over each finished 100 ms
        self._acc = 0.0  # weighted power of the current segment so far

    def _bound(self, k: int) -> int:
        """First sample of segment k (as pyloudnorm places its 400 ms blocks)."""
        return int(_SEGMENT_S * k * self.sample_rate)

    def add(self, x: np.ndarray) -> None:
        """Feed a (channels, n) block."""
        block = _as_block(x, self.channels)
        if block.shape[1] == 0:
            return
        power = _weighted_power(block, self._sos, self._zi, self._weights)
        pos = 0
        n = power.size
        while pos < n:
            end = self._bound(len(self._segments) + 1) - self._n
            take = min(n - pos, end - pos) if end > pos else 0
            if take > 0:
                self._acc += float(np.sum(power[pos : pos + take]))
                pos += take
            if self._n + pos >= self._bound(len(self._segments) + 1):
                self._segments.append(self._acc)
                self._acc = 0.0
        self._n += n

    @property
    def samples(self) -> int:
        """Samples (per channel) fed so far."""
        return self._n

    def block_power(self) -> np.ndarray:
        """Weighted mean-square power of every complete 400 ms block (75 % overlap)."""
        rate = self.sample_rate
        n_blocks = int(np.round((self._n / rate - _BLOCK_SEGMENTS * _SEGMENT_S) / _SEGMENT_S)) + 1
        if n_blocks < 1:
            return np.zeros(0)
        seg = np.zeros(n_blocks + _BLOCK_SEGMENTS)
        done = np.asarray(self._segments)[: seg.size]
        seg[: done.size] = done
        if done.size < seg.size and self._bound(done.size) < self._n:
            seg[done.size] = self._acc  # the partial last segment, as the offline meter sums it
        z = sum(seg[k : k + n_blocks] for k in range(_BLOCK_SEGMENTS))
        return z / (_BLOCK_SEGMENTS * _SEGMENT_S * rate)

    def block_lufs(self) -> np.ndarray:
        """Momentary loudness (LUFS) of every 400 ms block; -inf for silent blocks."""
        with np.errstate(divide="ignore"):
            return -0.691 + 10.0 * np.log10(self.block_power())

    def integrated_lufs(self) -> float:
        """Integrated loudness (LUFS) of everything fed so far."""
        if self._n < int(math.ceil(_BLOCK_SEGMENTS * _SEGMENT_S * self.sample_rate)):
            raise AudioContentError(
                f"integrated loudness needs at least 0.4 s of audio, got {self._n / self.sample_rate:.3f} s."
            )
        return gated_lufs(self.block_power())


class TruePeakMeter:
    """Streaming true peak (dBTP): max |x| over the 4x interpolation of blocks fed with `add`.

    Same interpolator as `scipy.signal.resample_poly(x, 4, 1)`, computed by the limiter's
    compiled detector (`tonemorph.dsp.loudness.true_peak_dbtp` measures with this meter), with
    the signal taken as zero before the first and after the last sample and only the
    interpolated points within the signal counted; never below the sample peak.
    """

    def __init__(self, channels: int):
        from tonemorph.dsp.limiter import _TAPS_PER_PHASE, _phase_taps

        self.channels = int(channels)
        self._phases = _phase_taps()
        self._p = _TAPS_PER_PHASE
        self._l1 = max(float(np.sum(np.abs(ph))) for ph in self._phases)
        self._hist = np.zeros((self.channels, self._p - 1))
        self._seen = 0  # samples fed
        self.peak = 0.0

    def _peaks(self, block: np.ndarray) -> float:
        """Highest interval peak among the new samples of block (intervals before sample 0
        dropped). Intervals whose samples bound their interpolated values (sum |taps| * max |x|)
        at or below the peak found so far are skipped: exact, and most are on music."""
        from tonemorph.dsp.limiter import _max_interval_peak

        n = block.shape[1]
        ext = np.concatenate([self._hist, block], axis=1)
        self._hist = ext[:, n:]
        lead = max(0, self._p // 2 - self._seen)  # intervals starting before the signal
        self._seen += n
        return _max_interval_peak(ext, self._phases, min(lead, n), n, self.peak, self._l1)

    def add(self, x: np.ndarray) -> None:
        """Feed a (channels, n) block."""
        block = _as_block(x, self.channels)
        if block.shape[1] == 0:
            return
        self.peak = max(self.peak, float(np.max(np.abs(block))))
        self.peak = self._peaks(block)

    def dbtp(self) -> float:
        """True peak so far (dBTP) with the signal's end taken as zeros; DB_FLOOR for silence."""
        hist, seen = self._hist.copy(), self._seen
        # the last P/2 intervals need P/2 samples after the end (zeros)
        peak = self._peaks(np.zeros((self.channels, self._p // 2)))
        self._hist, self._seen = hist, seen
        return gain_to_db(peak)


class StatsMeter:
    """Streaming crest factor (as `crest_factor_db`, gated) and width (side/mid power, dB).

    Crest: sample peak over the RMS of the 100 ms frames passing `active_frames`; frames are
    non-overlapping from sample 0, a partial last frame is dropped.
    """

    def __init__(self, sample_rate: float, channels: int):
        self._frame = max(1, int(round(0.1 * sample_rate)))
        self.channels = int(channels)
        self._frames: list[float] = []
        self._acc = 0.0
        self._count = 0
        self._peak = 0.0
        self._mid = 0.0
        self._side = 0.0

    def add(self, x: np.ndarray) -> None:
        """Feed a (channels, n) block."""
        block = _as_block(x, self.channels)
        if block.shape[1] == 0:
            return
        state = np.array([self._peak, self._mid, self._side, self._acc, float(self._count)])
        frames = np.empty(block.shape[1] // self._frame + 1)
        k = _stats_kernel(np.ascontiguousarray(block), self._frame, state, frames)
        self._frames.extend(frames[:k].tolist())
        self._peak, self._mid, self._side, self._acc = (float(v) for v in state[:4])
        self._count = int(state[4])

    def crest_db(self) -> float:
        """Crest factor (dB) so far; 0 for silence."""
        if self._peak == 0.0:
            return 0.0
        frames = np.asarray(self._frames if self._frames else [self._acc / self._frame])
        mask = active_frames(power_to_db(frames))
        ms = float(np.mean(frames[mask])) if np.any(mask) else float(np.mean(frames))
        return 20.0 * math.log10(self._peak) - 10.0 * math.log10(ms)

    def width_db(self) -> float | None:
        """Side-to-mid power ratio (dB) of a stereo signal; None for mono, DB_FLOOR when no side."""
        if self.channels != 2:
            return None
        if self._side <= 1e-20:
            return DB_FLOOR
        return 10.0 * math.log10(self._side / max(self._mid, 1e-20))
