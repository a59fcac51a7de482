"""Compiled (numba) kernels for the sample-recursive parts of the chain, and its constants.

Numpy/numba only (no torch): the chain's fast path and the mastering density stage run them;
`tonemorph.chain.functional` holds their differentiable torch twins.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numba
import numpy as np

from tonemorph.dsp.designs import OVERSAMPLE_LOWPASS
from tonemorph.dsp.fir import cepstral_minimum_phase

__all__ = [
    "CONTROL_HOP",
    "KNEE_DB",
    "OVERSAMPLE_TAPS",
    "ballistics_backward",
    "ballistics_forward",
    "compressor_block",
    "compressor_gain_block",
    "log_band_weights",
    "minimum_phase_ir",
    "oversample_fir",
    "shaper_2x_block",
    "shaper_backward",
]

CONTROL_HOP = 32  # samples per control-rate step of the dynamics stages (0.67 ms at 48 kHz)
KNEE_DB = 6.0  # soft-knee width of every compressor, dB
OVERSAMPLE_TAPS = 47  # halfband-ish anti-imaging/anti-aliasing FIR for 2x oversampling


def oversample_fir() -> np.ndarray:
    """Anti-imaging / anti-aliasing FIR of the 2x oversampled waveshaper (at the 2x rate)."""
    # firwin(OVERSAMPLE_TAPS, 0.5, window=("kaiser", 7.0)), tabulated (no scipy.signal import)
    return OVERSAMPLE_LOWPASS.copy()


def log_band_weights(band_hz: np.ndarray, n_fft: int, sample_rate: float) -> np.ndarray:
    """Matrix (n_bins, n_bands) interpolating band values (dB) linearly in log-frequency."""
    f = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    lf = np.log(np.maximum(f, band_hz[0]))
    lb = np.log(band_hz)
    idx = np.clip(np.searchsorted(lb, lf) - 1, 0, len(lb) - 2)
    t = np.clip((lf - lb[idx]) / (lb[idx + 1] - lb[idx]), 0.0, 1.0)
    m = np.zeros((len(f), len(lb)))
    m[np.arange(len(f)), idx] = 1 - t
    m[np.arange(len(f)), idx + 1] += t
    return m


def minimum_phase_ir(mag_db: Any, n_taps: int, xp: ModuleType = np) -> Any:
    """Minimum-phase FIR (n_taps) from a magnitude curve (dB, rfft grid) by cepstral folding.

    The folding is `tonemorph.dsp.fir.cepstral_minimum_phase` on the curve's own grid; the
    last n_taps // 8 taps fade out on a half-Hann reaching 0 at the last tap. ``xp`` is numpy
    (fast path) or torch (the differentiable chain).
    """
    ir = cepstral_minimum_phase(mag_db * (math.log(10) / 20), xp)[:n_taps]
    fade = max(n_taps // 8, 1)
    window = xp.ones(n_taps, dtype=ir.dtype)
    window[-fade:] = 0.5 * (1 + xp.cos(xp.linspace(0, math.pi, fade, dtype=ir.dtype)))
    return ir * window


@numba.njit(cache=True, nogil=True, fastmath=False)
def ballistics_forward(target: np.ndarray, a_att: float, a_rel: float, y0: float) -> np.ndarray:
    """Attack/release one-pole smoothing of gain-reduction curves (dB, <= 0), rows independent.

    Attack (coefficient `a_att`) applies while the target asks for more reduction than the
    state holds, release otherwise, as in a feed-forward compressor's gain smoother.
    """
    b, k = target.shape
    y = np.empty_like(target)
    for i in range(b):
        prev = y0
        for n in range(k):
            t = target[i, n]
            a = a_att if t < prev else a_rel
            prev = a * prev + (1.0 - a) * t
            y[i, n] = prev
    return y


@numba.njit(cache=True, nogil=True, fastmath=False)
def ballistics_backward(
    grad_y: np.ndarray, target: np.ndarray, y: np.ndarray, a_att: float, a_rel: float, y0: float
) -> tuple[np.ndarray, float, float]:
    """Exact adjoint of `ballistics_forward`: gradients for target, a_att and a_rel."""
    b, k = target.shape
    grad_t = np.empty_like(target)
    g_att = 0.0
    g_rel = 0.0
    for i in range(b):
        lam = 0.0
        a_next = 0.0
        for n in range(k - 1, -1, -1):
            prev = y[i, n - 1] if n > 0 else y0
            t = target[i, n]
            is_att = t < prev
            a = a_att if is_att else a_rel
            lam = grad_y[i, n] + a_next * lam
            grad_t[i, n] = (1.0 - a) * lam
            g = lam * (prev - t)
            if is_att:
                g_att += g
            else:
                g_rel += g
            a_next = a
    return grad_t, g_att, g_rel


@numba.njit(cache=True, nogil=True, fastmath=False)
def compressor_gain_block(detector: np.ndarray, state: np.ndarray, hop: int,
                          threshold_db: float, ratio: float, knee_db: float, a_att: float,
                          a_rel: float, float32_level: bool) -> np.ndarray:
    """Streaming twin of `functional.compressor_gain`: linear gain (float64) per detector sample.

    The mean square of each hop of the detector (squares in its dtype) gives a level (dBFS;
    rounded through float32 when ``float32_level``: the chain's float32 torch path), the
    soft-knee curve a gain reduction, attack/release (one-pole coefficients per hop) smooth it. state = [sum
    of squares in the current hop, samples in it, smoothed gain reduction (dB), linear gain of
    hop k-2, of hop k-1]; the gain ramps from the k-2 to the k-1 value over hop k.
    """
    g = np.empty(detector.shape[0])
    acc, count, smooth, g2, g1 = state[0], int(state[1]), state[2], state[3], state[4]
    slope = 1.0 / ratio - 1.0
    for n in range(detector.shape[0]):
        g[n] = g2 + (g1 - g2) * (count + 1) / hop
        v = float(detector[n])
        acc += v * v
        count += 1
        if count == hop:
            if float32_level:
                level = 10.0 * np.log10(np.float32(acc / hop) + np.float32(1e-10))
            else:
                level = 10.0 * math.log10(acc / hop + 1e-10)
            over = level - threshold_db
            if 2.0 * over < -knee_db:
                target = 0.0
            elif 2.0 * over > knee_db:
                target = slope * over
            else:
                target = slope * (over + knee_db / 2) ** 2 / (2 * knee_db)
            a = a_att if target < smooth else a_rel
            smooth = a * smooth + (1.0 - a) * target
            g2, g1 = g1, 10.0 ** (smooth / 20.0)
            acc, count = 0.0, 0
    state[0], state[1], state[2], state[3], state[4] = acc, count, smooth, g2, g1
    return g


@numba.njit(cache=True, nogil=True, fastmath=False)
def compressor_block(x: np.ndarray, state: np.ndarray, hop: int, threshold_db: float,
                     ratio: float, knee_db: float, a_att: float, a_rel: float) -> np.ndarray:
    """x times its own compressor gain (`compressor_gain_block`, float32 levels): the chain's
    sag and comp stages."""
    g = compressor_gain_block(x, state, hop, threshold_db, ratio, knee_db, a_att, a_rel, True)
    y = np.empty_like(x)
    for n in range(x.shape[0]):
        y[n] = x[n] * g[n]
    return y


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _soft_clip(u: float) -> float:
    u = min(max(u, -4.97), 4.97)
    u2 = u * u
    return u * (135135 + u2 * (17325 + u2 * (378 + u2))) / (
        135135 + u2 * (62370 + u2 * (3150 + 28 * u2)))


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _soft_clip_slope(u: float) -> float:
    """Derivative of `_soft_clip` (0 where it clamps)."""
    v = u * u
    p = 135135.0 + v * (17325.0 + v * (378.0 + v))
    iq = 1.0 / (135135.0 + v * (62370.0 + v * (3150.0 + 28.0 * v)))
    dp = 17325.0 + v * (756.0 + 3.0 * v)
    dq = 62370.0 + v * (6300.0 + 84.0 * v)
    slope = ((p + 2.0 * v * dp) - 2.0 * v * p * dq * iq) * iq
    return slope if -4.97 <= u <= 4.97 else 0.0


@numba.njit(cache=True, nogil=True, fastmath=True)
def shaper_backward(grad: np.ndarray, u: np.ndarray, y: np.ndarray, drive: float,
                    bias: float) -> tuple[np.ndarray, float, float]:
    """Gradients of y = (s(g u + b) - s(b)) / (g (1 - s(b)^2)) (the chain's asymmetric
    shaper, s = `_soft_clip`) from the output's: (d/du (n, t) in u's dtype, d/dg and d/db
    summed), one pass over the (n, t) arrays, in float64 inside."""
    sb = _soft_clip(bias)
    slope_b = _soft_clip_slope(bias)
    c = 1.0 - sb * sb
    inv_den = 1.0 / (drive * c)
    gu = np.empty_like(u)
    gd = 0.0
    gb = 0.0
    for i in range(u.shape[0]):
        for j in range(u.shape[1]):
            g = float(grad[i, j]) * inv_den
            x = float(u[i, j])
            ga = g * _soft_clip_slope(drive * x + bias)
            gu[i, j] = ga * drive
            gd += ga * x - g * float(y[i, j]) * c
            gb += ga - g * slope_b * (1.0 - 2.0 * drive * sb * float(y[i, j]))
    return gu, gd, gb


@numba.njit(cache=True, nogil=True, fastmath=True)
def _fir_valid(ext: np.ndarray, h: np.ndarray, n: int) -> np.ndarray:
    """y[i] = sum_k h[k] ext[len(h) - 1 + i - k] for i < n (loop order that vectorises)."""
    y = np.zeros(n, dtype=np.float32)
    m = h.shape[0]
    tile = 2048  # keeps y and ext in L1/L2 across the m passes
    for t0 in range(0, n, tile):
        t1 = min(t0 + tile, n)
        yt = y[t0:t1]
        for k in range(m):
            hk = h[k]
            xt = ext[m - 1 - k + t0 : m - 1 - k + t1]
            # indices from 0 over slices: no negative-index wraparound check, so it vectorises
            for i in range(t1 - t0):
                yt[i] += hk * xt[i]
    return y


@numba.njit(cache=True, nogil=True, fastmath=True)
def shaper_2x_block(x: np.ndarray, state: np.ndarray, h_even: np.ndarray, h_center: float,
                    drive: float, bias: float) -> np.ndarray:
    """Streaming twin of `functional.shaper_2x` for a halfband FIR (odd taps zero but centre).

    The 2x signal is kept as its even and odd phases. state (3, len(h_even) - 1) holds the last
    inputs, even-phase and odd-phase shaped samples; it is updated.
    """
    ne = h_even.shape[0]
    hl = ne - 1
    n = x.shape[0]
    half = hl // 2  # centre tap index is 2*half+1: the odd phase is the input delayed by half
    ext = np.empty(hl + n, dtype=np.float32)
    ext[:hl] = state[0]
    ext[hl:] = x
    ve = np.empty(hl + n, dtype=np.float32)
    vo = np.empty(hl + n, dtype=np.float32)
    ve[:hl] = state[1]
    vo[:hl] = state[2]
    ve[hl:] = 2 * _fir_valid(ext, h_even, n)
    hc2 = np.float32(2.0 * h_center)
    for i in range(n):
        vo[hl + i] = ext[hl + i - half] * hc2
    d = np.float32(drive)
    b = np.float32(bias)
    sb = np.float32(_soft_clip(bias))
    norm = np.float32(1.0 / (drive * (1.0 - sb * sb)))
    lim = np.float32(4.97)
    for arr in (ve, vo):
        for j in range(hl, hl + n):
            u = min(max(d * arr[j] + b, -lim), lim)
            u2 = u * u
            arr[j] = (u * (135135 + u2 * (17325 + u2 * (378 + u2))) / (
                135135 + u2 * (62370 + u2 * (3150 + 28 * u2))) - sb) * norm
    y = _fir_valid(ve, h_even, n)
    hc = np.float32(h_center)
    for i in range(n):
        y[i] += hc * vo[hl + i - half - 1]
    state[0] = ext[n:]
    state[1] = ve[n:]
    state[2] = vo[n:]
    return y


LIMIT_RELEASE_MS = 50.0  # the peak limit's gain recovers with this time constant
# The peak limit's gain ramps down over this much before a peak reaches the output (its
# latency): a gain that fell at once, sample by sample, clipped each waveform peak it caught,
# and after the cabinet that read as fizz (tuning chains, held-out takes: 15-39 dB more energy
# at 7-11 kHz than the real chain where the limit took 14-19 dB off the peaks; 8-11 dB less
# with the ramp, and MR-STFT 0.601 -> 0.569, 0.522 -> 0.485 on the two heavy-compression cases)
LIMIT_LOOKAHEAD_MS = 1.0


def limit_lookahead(sample_rate: float) -> int:
    """Samples (>= 1) the peak limit's gain ramps over before a peak; its latency is one less."""
    return max(1, int(round(LIMIT_LOOKAHEAD_MS * 1e-3 * sample_rate)))


def limit_state(sample_rate: float) -> tuple[np.ndarray, ...]:
    """`limit_block`'s state at rest at sample_rate: (need, box, delay, fstate, istate)."""
    n = limit_lookahead(sample_rate)
    return (np.ones(n), np.ones(n), np.zeros(n), np.array([1.0, float(n), 1.0]),
            np.zeros(1, np.int64))


@numba.njit(cache=True, nogil=True, fastmath=False)
def limit_block(x: np.ndarray, ceiling: float, a_rel: float, need: np.ndarray, box: np.ndarray,
                delay: np.ndarray, fstate: np.ndarray, istate: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Look-ahead peak limiter over the block x: (output float32, gain float64), the output
    len(need) - 1 samples late.

    The gain a sample needs (ceiling / |x|, at most 1) is held for the look-ahead L = len(need)
    samples (their minimum), released toward 1 with coefficient a_rel (never above the hold)
    and averaged over the last L values: it has reached what a peak needs when the peak,
    delayed by L - 1, comes out, so no output sample passes the ceiling. The rings need, box
    and delay (length L) and fstate = [released gain, box sum, hold], istate = [ring position]
    carry the state between blocks.
    """
    n_look = need.shape[0]
    pos = istate[0]
    g_rel = fstate[0]
    box_sum = fstate[1]
    hold = fstate[2]
    out = np.empty(x.shape[0], np.float32)
    gain = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        v = np.float64(x[i])
        a = abs(v)
        r = 1.0 if a <= ceiling else ceiling / a
        leaving = need[pos]
        need[pos] = r
        if r <= hold:
            hold = r
        elif leaving == hold:  # the minimum may have left the window: look again
            hold = need[0]
            for j in range(1, n_look):
                hold = min(hold, need[j])
        g_rel = min(hold, 1.0 - (1.0 - g_rel) * a_rel)
        box_sum += g_rel - box[pos]
        box[pos] = g_rel
        delay[pos] = v
        pos += 1
        if pos == n_look:
            pos = 0
        g = min(box_sum / n_look, 1.0)
        gain[i] = g
        out[i] = np.float32(delay[pos] * g)  # the sample of L - 1 steps ago
    istate[0] = pos
    fstate[0] = g_rel
    fstate[1] = box_sum
    fstate[2] = hold
    return out, gain
