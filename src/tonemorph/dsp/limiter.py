"""True-peak look-ahead limiter: stereo-linked, streaming in blocks of any size.

The peak detector looks at 4x oversampled audio (BS.1770-4 annex 2 style polyphase interpolation)
so inter-sample peaks are caught; the gain is a look-ahead minimum hold, a one-pole release and a
box-filter attack of L samples. The hold spans the attack window plus a guard either side, so the
smoothed gain at sample n never exceeds the gain any sample within the guard of n needs (each of
the L hold values averaged there saw them): a brickwall at the detector without clipping.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numba
import numpy as np

from tonemorph.dsp.designs import INTERPOLATOR_LOWPASS
from tonemorph.dsp.units import one_pole_coef
from tonemorph.errors import ParameterError

__all__ = [
    "OVERSAMPLING",
    "LimiterConfig",
    "TruePeakLimiter",
    "dither_safe_ceiling_dbtp",
    "interpolator_taps",
    "interval_peaks",
    "limit",
    "limit_blocks",
]

OVERSAMPLING = 4
_TAPS_PER_PHASE = 20  # even, so the interpolator delay is a whole number of samples
_GUARD = 8  # samples of flat minimum gain either side of a peak


def interpolator_taps() -> np.ndarray:
    """4x interpolation FIR (81 taps, DC gain 4); phase 0 is a scaled identity (x 1.0006).

    The design of ``scipy.signal.resample_poly(x, 4, 1)`` (Kaiser beta 5, 10 zero crossings per
    side), which `tonemorph.dsp.loudness.true_peak_dbtp` meters with: meters disagree by tenths
    of a dB on content near Nyquist, so the limiter detects what the project measures.
    """
    n = 2 * OVERSAMPLING * (_TAPS_PER_PHASE // 2) + 1
    assert INTERPOLATOR_LOWPASS.size == n  # firwin(n, 1 / OVERSAMPLING, kaiser 5), tabulated
    return OVERSAMPLING * INTERPOLATOR_LOWPASS


@dataclass(frozen=True)
class LimiterConfig:
    """Limiter settings: ceiling in dBTP, look-ahead (= attack) and release in ms.

    ``margin_db`` is kept below the ceiling for the difference between this detector's
    interpolator and any other 4x true-peak meter.
    """

    ceiling_dbtp: float = -1.0
    lookahead_ms: float = 1.5
    release_ms: float = 80.0
    margin_db: float = 0.05

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ceiling_dbtp) and -60.0 <= self.ceiling_dbtp <= 0.0):
            raise ParameterError(
                f"ceiling must be within -60..0 dBTP, got {self.ceiling_dbtp!r}; e.g. -1.0."
            )
        if not (math.isfinite(self.lookahead_ms) and 0.1 <= self.lookahead_ms <= 50.0):
            raise ParameterError(f"lookahead_ms must be within 0.1..50 ms, got {self.lookahead_ms!r}.")
        if not (math.isfinite(self.release_ms) and 1.0 <= self.release_ms <= 5000.0):
            raise ParameterError(f"release_ms must be within 1..5000 ms, got {self.release_ms!r}.")
        if not (math.isfinite(self.margin_db) and 0.0 <= self.margin_db <= 3.0):
            raise ParameterError(f"margin_db must be within 0..3 dB, got {self.margin_db!r}.")


@numba.njit(cache=True, nogil=True, fastmath=True)
def _interval_peaks(ext: np.ndarray, phases: np.ndarray, n: int) -> np.ndarray:
    """Peak over channels of each new sample's interval: the scaled sample and 3 interpolated
    points.

    ext is (channels, P - 1 + n): P - 1 history samples, then the n new ones. Entry i is the
    peak of the interval starting P/2 samples before new sample i. The three phases are
    accumulated together per sample over the window read forwards (measured 2x faster than
    one pass per tap).
    """
    n_ch = ext.shape[0]
    p = phases.shape[1]
    peak = np.zeros(n)
    h1 = phases[1, ::-1].copy()
    h2 = phases[2, ::-1].copy()
    h3 = phases[3, ::-1].copy()
    # phase 0's taps are sinc zeros but its centre (1.0006 for this window): a scaled sample
    centre = abs(phases[0, p // 2])
    for c in range(n_ch):
        row = ext[c]
        for i in range(n):
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for q in range(p):
                xv = row[i + q]
                a1 += h1[q] * xv
                a2 += h2[q] * xv
                a3 += h3[q] * xv
            v = max(abs(a1), abs(a2), abs(a3), centre * abs(row[i + p - 1 - p // 2]))
            peak[i] = max(peak[i], v)
    return peak


@numba.njit(cache=True, nogil=True)
def _block_bounds(ext: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Peak over channels of |ext| per sample, and its maximum per run of p samples."""
    m = ext.shape[1]
    env = np.zeros(m)
    for c in range(ext.shape[0]):
        for j in range(m):
            env[j] = max(env[j], abs(ext[c, j]))
    bmax = np.zeros(m // p + 2)
    b = 0
    for start in range(0, m, p):  # runs walked in turn: no division per sample
        top = 0.0
        for j in range(start, min(start + p, m)):
            top = max(top, env[j])
        bmax[b] = top
        b += 1
    return env, bmax


@numba.njit(cache=True, nogil=True, fastmath=True)
def _interval_peak_at(ext: np.ndarray, h1: np.ndarray, h2: np.ndarray, h3: np.ndarray,
                      centre: float, i: int) -> float:
    """Peak over channels of interval i of ext: the scaled sample and 3 interpolated points."""
    p = h1.shape[0]
    best = 0.0
    for c in range(ext.shape[0]):
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        for q in range(p):
            xv = ext[c, i + q]
            a1 += h1[q] * xv
            a2 += h2[q] * xv
            a3 += h3[q] * xv
        best = max(best, abs(a1), abs(a2), abs(a3), centre * abs(ext[c, i + p - 1 - p // 2]))
    return best


@numba.njit(cache=True, nogil=True)
def _bounded_peaks(ext: np.ndarray, phases: np.ndarray, n: int, limit: float,
                   l1: float) -> np.ndarray:
    """`_interval_peaks` where they can exceed limit; elsewhere the sample peak (also below).

    Interval i reads samples i .. i + P - 1, all within runs i // P and i // P + 1; where
    those runs' peak times sum |taps| (l1) is at or below limit, no interpolated point can
    pass it and the 60 multiply-adds are skipped: per sample, so quiet stretches between
    loud peaks cost almost nothing.
    """
    p = phases.shape[1]
    env, bmax = _block_bounds(ext, p)
    h1 = phases[1, ::-1].copy()
    h2 = phases[2, ::-1].copy()
    h3 = phases[3, ::-1].copy()
    centre = abs(phases[0, p // 2])
    half = p - 1 - p // 2
    peak = np.empty(n)
    for start in range(0, n, p):  # run b = start // p holds samples start .. start + p - 1
        b = start // p
        stop = min(start + p, n)
        if max(bmax[b], bmax[b + 1]) * l1 <= limit:
            for i in range(start, stop):
                peak[i] = env[i + half]
        else:
            for i in range(start, stop):
                peak[i] = _interval_peak_at(ext, h1, h2, h3, centre, i)
    return peak


@numba.njit(cache=True, nogil=True)
def _max_interval_peak(ext: np.ndarray, phases: np.ndarray, start: int, n: int, best: float,
                       l1: float) -> float:
    """Highest of best and the interval peaks start .. n - 1 of ext (as `_interval_peaks`).

    Intervals whose samples bound them (l1 times their runs' peak, see `_bounded_peaks`) at or
    below the highest found so far are skipped: exact, and most are on limited music.
    """
    p = phases.shape[1]
    _, bmax = _block_bounds(ext, p)
    h1 = phases[1, ::-1].copy()
    h2 = phases[2, ::-1].copy()
    h3 = phases[3, ::-1].copy()
    centre = abs(phases[0, p // 2])
    for run in range(start - start % p, n, p):  # run b = run // p: samples run .. run + p - 1
        b = run // p
        for i in range(max(run, start), min(run + p, n)):
            if max(bmax[b], bmax[b + 1]) * l1 > best:
                best = max(best, _interval_peak_at(ext, h1, h2, h3, centre, i))
    return best


@numba.njit(cache=True, nogil=True, fastmath=False)
def _gain_kernel(
    x: np.ndarray,  # (channels, n) float64 input block
    peaks: np.ndarray,  # (n,) interval peaks from `_interval_peaks`
    ceiling: float,
    a_rel: float,
    delay: np.ndarray,  # (channels, D) ring of inputs awaiting their gain
    dq_val: np.ndarray,  # (L + 2W,) monotonic deque of required gains (sliding minimum)
    dq_idx: np.ndarray,  # (L + 2W,) their sample indices
    box: np.ndarray,  # (L,) ring of released gains (attack box filter)
    istate: np.ndarray,  # int64 [t, p_half, delay_pos, dq_head, dq_len, box_pos]
    fstate: np.ndarray,  # float64 [prev_interval_peak, released_gain, box_sum, min_gain, gr_sum]
    out: np.ndarray,  # (channels, n) output block
) -> None:
    n_ch, n = x.shape
    hold = dq_val.shape[0]
    attack = box.shape[0]
    d_len = delay.shape[1]
    t, p_half, dpos, head, qlen, bpos = (istate[0], istate[1], istate[2], istate[3], istate[4],
                                         istate[5])
    prev_peak, g_rel, box_sum, g_min, gr_sum = fstate[0], fstate[1], fstate[2], fstate[3], fstate[4]
    for i in range(n):
        # sample s = t - P/2 touches the intervals starting at s-1 and s
        peak = peaks[i]
        env = max(peak, prev_peak)
        prev_peak = peak
        g_req = 1.0 if env <= ceiling else ceiling / env
        s = t - p_half
        # look-ahead hold: minimum of the required gains of the last L + 2W samples
        # (ring positions wrap by a compare, not %: integer division per sample was a third
        # of this loop). The sample leaving the window goes before the new one comes in: a
        # window of rising required gains (a long falling peak) fills the ring, and pushing
        # first overwrote the minimum and then wrote past the ring's end
        if qlen > 0 and dq_idx[head] <= s - hold:
            head += 1
            if head == hold:
                head = 0
            qlen -= 1
        while qlen > 0:
            last = head + qlen - 1
            if last >= hold:
                last -= hold
            if dq_val[last] < g_req:
                break
            qlen -= 1
        tail = head + qlen
        if tail >= hold:
            tail -= hold
        dq_val[tail] = g_req
        dq_idx[tail] = s
        qlen += 1
        g_hold = dq_val[head]
        # release: recover towards the hold value, never above it
        g_rel = min(g_hold, a_rel * g_rel + (1.0 - a_rel) * g_hold)
        # attack: mean of the last L released gains
        box_sum += g_rel - box[bpos]
        box[bpos] = g_rel
        bpos += 1
        if bpos == attack:
            bpos = 0
        g = min(box_sum / attack, 1.0)
        # output the input sample the gain belongs to (delayed by the latency)
        for c in range(n_ch):
            out[c, i] = g * delay[c, dpos]
            delay[c, dpos] = x[c, i]
        dpos += 1
        if dpos == d_len:
            dpos = 0
        g_min = min(g_min, g)
        if g < 1.0:  # log10 per sample is most of this loop's cost; unity gain adds 0 dB
            gr_sum += -20.0 * math.log10(max(g, 1e-12))
        t += 1
    istate[0], istate[2], istate[3], istate[4], istate[5] = t, dpos, head, qlen, bpos
    fstate[0], fstate[1], fstate[2], fstate[3], fstate[4] = prev_peak, g_rel, box_sum, g_min, gr_sum


class TruePeakLimiter:
    """Streaming true-peak limiter: `process` returns as many samples as it gets, delayed by
    `latency` samples; `flush` returns the last `latency` samples.

    Channels share one gain (stereo image kept). Audio is (channels, samples), full scale 1.
    """

    def __init__(self, sample_rate: float, channels: int, config: LimiterConfig = LimiterConfig()):
        if not (math.isfinite(sample_rate) and sample_rate > 0):
            raise ParameterError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}.")
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or not (
            1 <= channels <= 64
        ):
            raise ParameterError(f"channels must be an integer in 1..64, got {channels!r}.")
        self.config = config
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        # phase k holds taps k, k+4, ...: its output at input t is the interpolated value at
        # time t - P/2 + k/4 (phase 0: sinc zeros except its centre at j = P/2)
        self._phases = _phase_taps()
        self._p = _TAPS_PER_PHASE
        self._l1 = max(float(np.sum(np.abs(ph))) for ph in self._phases)
        self.attack = max(1, int(round(config.lookahead_ms * 1e-3 * sample_rate)))
        # the hold also covers GUARD samples either side of the attack window, so the gain is
        # flat at its minimum across the interpolator's main lobes around a peak: the
        # interpolated output there is scaled like the samples the detector saw
        self.hold = self.attack + 2 * _GUARD
        self.latency = self._p // 2 + self.attack - 1 + _GUARD
        self._ceiling = 10.0 ** ((config.ceiling_dbtp - config.margin_db) / 20.0)
        self._a_rel = one_pole_coef(config.release_ms, sample_rate)
        self.reset()

    def reset(self) -> None:
        """Clear all state (as freshly constructed)."""
        c = self.channels
        self._hist = np.zeros((c, self._p - 1))
        self._delay = np.zeros((c, max(1, self.latency)))
        self._dq_val = np.ones(self.hold)
        self._dq_idx = np.zeros(self.hold, dtype=np.int64)
        self._box = np.ones(self.attack)
        # the hold window starts full of unity gains at indices before the first sample
        self._istate = np.array([0, self._p // 2, 0, 0, 0, 0], dtype=np.int64)
        self._fstate = np.array([0.0, 1.0, float(self.attack), 1.0, 0.0])
        if self.latency == 0:  # pragma: no cover - latency >= P/2 > 0 by construction
            raise RuntimeError("limiter latency must be positive")

    @property
    def samples_processed(self) -> int:
        """Samples fed in so far (per channel)."""
        return int(self._istate[0])

    @property
    def max_gain_reduction_db(self) -> float:
        """Largest gain reduction applied so far (dB, >= 0)."""
        return max(0.0, -20.0 * math.log10(max(float(self._fstate[3]), 1e-12)))

    @property
    def mean_gain_reduction_db(self) -> float:
        """Mean gain reduction over the samples output so far (dB, >= 0)."""
        n = self.samples_processed
        return float(self._fstate[4]) / n if n else 0.0

    def process(self, x: np.ndarray, *, peaks: np.ndarray | None = None) -> np.ndarray:
        """Limit a (channels, n) block; returns (channels, n) float64, `latency` samples late.

        ``peaks`` (n,) may pass the detector's interval peaks of this block, computed before
        (`interval_peaks` of the same audio, scaled like it): the gain search of the mastering
        chain runs one excerpt at many gains, and the peaks scale with the gain.
        """
        block = np.asarray(x, dtype=np.float64)
        if block.ndim == 1 and self.channels == 1:
            block = block[None, :]
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ParameterError(
                f"block must be ({self.channels}, samples), got shape {np.shape(x)}."
            )
        if not np.all(np.isfinite(block)):
            raise ParameterError("block contains NaN or Inf samples; the processing before failed.")
        out = np.empty_like(block)
        n = block.shape[1]
        if n:
            ext = np.concatenate([self._hist, block], axis=1)
            self._hist = ext[:, n:]
            if peaks is None:
                peaks = self._peaks(ext, n)
            elif np.shape(peaks) != (n,):
                raise ParameterError(f"peaks must have shape ({n},), got {np.shape(peaks)}.")
            _gain_kernel(
                np.ascontiguousarray(block), peaks, self._ceiling, self._a_rel, self._delay,
                self._dq_val, self._dq_idx, self._box, self._istate, self._fstate, out,
            )
        return out

    def _peaks(self, ext: np.ndarray, n: int) -> np.ndarray:
        """Interval peaks of the n new samples of ext; exact where they can reach the ceiling.

        Where the samples bound the interpolated values (sum |taps| * max |x|) at or below the
        ceiling no gain is needed, so the sample peaks (also below) stand in: the gain, and so
        the output, is the same as with the exact peaks.
        """
        return _bounded_peaks(ext, self._phases, n, self._ceiling, self._l1)

    def flush(self) -> np.ndarray:
        """Feed `latency` zeros and return the delayed tail (channels, latency)."""
        return self.process(np.zeros((self.channels, self.latency)))


def interval_peaks(x: np.ndarray, *, pad: int = 0) -> np.ndarray:
    """The detector's peak per sample of (channels, n) audio from silence, then `pad` zeros.

    Entry i is the peak over channels of |x| and the three 4x-interpolated points of the
    interval starting P/2 = 10 samples before sample i (the detector's own delay); these are
    what `TruePeakLimiter.process` computes, for ``peaks=``.
    """
    audio = np.atleast_2d(np.asarray(x))
    p = _TAPS_PER_PHASE
    phases = _phase_taps()
    n = audio.shape[1]
    out = np.empty(n + pad)
    hist = np.zeros((audio.shape[0], p - 1))
    block = 1 << 16  # bounded memory on long excerpts
    for i in range(0, n + pad, block):
        stop = min(i + block, n + pad)
        new = np.zeros((audio.shape[0], stop - i))
        if i < n:
            new[:, : min(stop, n) - i] = audio[:, i : min(stop, n)]
        ext = np.concatenate([hist, new], axis=1)
        out[i:stop] = _interval_peaks(ext, phases, stop - i)
        hist = ext[:, ext.shape[1] - (p - 1) :]
    return out


def _phase_taps() -> np.ndarray:
    """Interpolator taps per phase (OVERSAMPLING, P); phase k at input t is time t - P/2 + k/4."""
    h = interpolator_taps()
    p = _TAPS_PER_PHASE
    phases = np.zeros((OVERSAMPLING, p))
    for k in range(OVERSAMPLING):
        taps = h[k::OVERSAMPLING][:p]
        phases[k, : taps.size] = taps
    return phases


def dither_safe_ceiling_dbtp(config: LimiterConfig, bits: int) -> float:
    """The ceiling (dBTP) to limit to so that dither and rounding to `bits` keep the true peak
    at or under `config`'s: each sample moves by up to 1.5 LSB (TPDF +-1, rounding +-0.5) and
    the interpolated points by that times the interpolator's largest tap sum. Its own ceiling
    where the limiter's margin already covers that (16 bits and more), or where the move is
    as large as the ceiling itself (nothing can be promised there)."""
    lift = 1.5 * 2.0 ** (1 - bits) * max(float(np.sum(np.abs(ph))) for ph in _phase_taps())
    top = 10.0 ** (config.ceiling_dbtp / 20.0)
    held = 10.0 ** (-config.margin_db / 20.0)  # the limiter keeps the peaks this far under
    if top * held + lift <= top or lift >= top:
        return config.ceiling_dbtp
    return 20.0 * math.log10((top - lift) / held)


def limit_blocks(
    blocks: Iterable[np.ndarray], sample_rate: float, channels: int,
    config: LimiterConfig = LimiterConfig(),
) -> Iterator[np.ndarray]:
    """Stream (channels, n) blocks through a true-peak limiter, latency removed, length kept."""
    lim = TruePeakLimiter(sample_rate, channels, config)
    to_drop = lim.latency
    for b in blocks:
        y = lim.process(b)
        if to_drop:
            k = min(to_drop, y.shape[1])
            y, to_drop = y[:, k:], to_drop - k
        if y.shape[1]:
            yield y.astype(np.float32)
    tail = lim.flush()[:, to_drop:]
    if tail.shape[1]:
        yield tail.astype(np.float32)


def limit(
    x: np.ndarray, sample_rate: float, config: LimiterConfig = LimiterConfig()
) -> np.ndarray:
    """Offline true-peak limiting of (channels, samples) or (samples,) audio, latency removed."""
    arr = np.asarray(x, dtype=np.float64)
    squeeze = arr.ndim == 1
    audio = arr[None, :] if squeeze else arr
    lim = TruePeakLimiter(sample_rate, audio.shape[0], config)
    y = np.concatenate([lim.process(audio), lim.flush()], axis=1)[:, lim.latency :]
    return y[0] if squeeze else y
