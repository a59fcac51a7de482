"""Differentiable signal functions (torch) shared by the chain stages and its fast path.

Coefficient maps (parameters -> filter coefficients, IRs) run here in float64 torch for the
learners; the fast path (`tonemorph.chain.stages`, no torch) runs the same formulas in numpy.
They are written once, array-agnostic: `tonemorph.dsp.biquad.rbj_section` and
`tonemorph.chain.kernels.minimum_phase_ir` (over `tonemorph.dsp.fir.cepstral_minimum_phase`);
the constants and the compiled twins of the recursive stages are in `tonemorph.chain.kernels`.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import torch

from tonemorph.chain.kernels import (
    CONTROL_HOP,
    KNEE_DB,
    LIMIT_RELEASE_MS,
    OVERSAMPLE_TAPS,
    ballistics_backward,
    ballistics_forward,
    limit_block,
    limit_lookahead,
    limit_state,
    log_band_weights,
    oversample_fir,
    shaper_backward,
)
from tonemorph.chain.kernels import minimum_phase_ir as _minimum_phase_ir
from tonemorph.dsp.biquad import rbj_section
from tonemorph.dsp.units import one_pole_coef

__all__ = [
    "CONTROL_HOP",
    "IIR_GRID",
    "KNEE_DB",
    "OVERSAMPLE_TAPS",
    "SOFT_CLIP_LIMIT",
    "asym_shaper",
    "ballistics",
    "compressor_gain",
    "control_to_audio",
    "fft_filter",
    "fft_len",
    "gain_computer_db",
    "hop_level_db",
    "log_band_matrix",
    "minimum_phase_ir",
    "oversample_fir",
    "peak_limit",
    "rbj_biquad",
    "rfft",
    "shaper_2x",
    "soft_clip",
    "sos_ir",
    "sos_response",
    "time_coef",
]


def rbj_biquad(kind: str, freq_hz: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor,
               sample_rate: float) -> torch.Tensor:
    """RBJ-cookbook biquad as a normalised sos row [b0, b1, b2, 1, a1, a2] (torch, autograd).

    The formulas are `tonemorph.dsp.biquad.rbj_section`'s, run on tensors; freq_hz in Hz,
    gain_db in dB (ignored by the high- and low-pass), q; shape (6, *freq_hz.shape).
    """
    w0 = 2 * math.pi * freq_hz / sample_rate
    amp = torch.pow(10.0, gain_db / 40)
    row = rbj_section(kind, torch.cos(w0), torch.sin(w0) / (2 * q), amp, torch.sqrt(amp))
    return torch.stack(row)


class _Rfft(torch.autograd.Function):
    """torch.fft.rfft along the last axis whose backward is one inverse real FFT.

    torch's own backward of rfft runs a complex FFT of the full length (twice the work of a
    real one); the adjoint of the one-sided transform is n x irfft of the gradient with its
    inner bins halved (each stands for itself and its mirror). The forward is torch's.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, n: int) -> torch.Tensor:  # type: ignore[override]
        ctx.length, ctx.n = x.shape[-1], n
        return torch.fft.rfft(x, n=n)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        n, length = ctx.n, ctx.length
        g = grad.clone()
        g[..., 1: -1 if n % 2 == 0 else None] *= 0.5  # DC and (even n) Nyquist stand alone
        gx = torch.fft.irfft(g, n=n) * n
        if length > n:  # rfft cut x to n samples: the rest does not reach the output
            gx = torch.nn.functional.pad(gx, (0, length - n))
        return gx[..., :length], None


def rfft(x: torch.Tensor, n: int) -> torch.Tensor:
    """torch.fft.rfft(x, n=n) along the last axis, its gradient by a real inverse FFT (half
    the work of torch's; the same values)."""
    return _Rfft.apply(x, n)


def sos_response(sos: torch.Tensor, n_fft: int) -> torch.Tensor:
    """Complex response of an sos cascade (n_sections, 6) on the rfft grid of size n_fft."""
    w = torch.linspace(0, math.pi, n_fft // 2 + 1, dtype=sos.dtype)
    z1 = torch.polar(torch.ones_like(w), -w)
    z2 = z1 * z1
    h = torch.ones_like(z1)
    for row in sos:
        h = h * (row[0] + row[1] * z1 + row[2] * z2) / (1 + row[4] * z1 + row[5] * z2)
    return h


def log_band_matrix(band_hz: np.ndarray, n_fft: int, sample_rate: float) -> torch.Tensor:
    """Matrix (n_bins, n_bands) interpolating band values (dB) linearly in log-frequency."""
    return torch.from_numpy(log_band_weights(band_hz, n_fft, sample_rate))


def minimum_phase_ir(mag_db: torch.Tensor, n_taps: int) -> torch.Tensor:
    """Minimum-phase FIR (n_taps) from a magnitude curve (dB, rfft grid); autograd.

    `tonemorph.chain.kernels.minimum_phase_ir` run on tensors (the fast path runs it on numpy).
    """
    return _minimum_phase_ir(mag_db, n_taps, torch)


IIR_GRID = 16384  # biquad IRs are taken this long (341 ms at 48 kHz; a 10 Hz high-pass decays
# to 4e-7 by then)


def sos_ir(sos: torch.Tensor, n: int = IIR_GRID) -> torch.Tensor:
    """Impulse response (n samples) of an sos cascade, from its response on an n-point grid."""
    return torch.fft.irfft(sos_response(sos, n), n=n)


def fft_len(n: int) -> int:
    """Smallest even 2^a 3^b 5^c >= n: an FFT size whose transform is about as fast per point
    as a power of two, without the up-to-2x padding the next power of two costs."""
    best = 1 << max(math.ceil(math.log2(max(n, 2))), 1)
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = 2 * p35  # even: the 2x shaper's spectrum mirror needs it
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def fft_filter(x: torch.Tensor, response: torch.Tensor, n_fft: int) -> torch.Tensor:
    """Filter x (..., T) by a response given on the rfft grid of n_fft >= T + filter length."""
    t = x.shape[-1]
    y = torch.fft.irfft(rfft(x, n_fft) * response.to(torch.complex64 if x.dtype
                        == torch.float32 else torch.complex128), n=n_fft)
    return y[..., :t]


SOFT_CLIP_LIMIT = 4.97  # where the rational tanh below meets +-1 (error < 1e-4 everywhere)


def soft_clip(u: torch.Tensor) -> torch.Tensor:
    """tanh by Lambert's continued fraction (7/6 rational), clamped: cheap, vectorisable."""
    u = torch.clamp(u, -SOFT_CLIP_LIMIT, SOFT_CLIP_LIMIT)
    u2 = u * u
    return u * (135135 + u2 * (17325 + u2 * (378 + u2))) / (
        135135 + u2 * (62370 + u2 * (3150 + 28 * u2)))


def peak_limit(x: torch.Tensor, ceiling: float, sample_rate: float) -> torch.Tensor:
    """x (B, T) through the look-ahead peak limiter of `kernels.limit_block` (ceiling linear),
    its latency (`limit_lookahead` - 1 samples) kept. Its gain is computed without gradient and
    applied as a factor: the gradient reaches x, scaled as the limiter scales the signal, but
    not the ceiling (set in closed form)."""
    late = limit_lookahead(sample_rate) - 1
    delayed = torch.nn.functional.pad(x, (late, 0))[..., : x.shape[-1]] if late else x
    if x.numel() == 0 or float(x.detach().abs().max()) <= ceiling:
        return delayed  # never engaged: the gain stays 1 (the common case while learning)
    a_rel = one_pole_coef(LIMIT_RELEASE_MS, sample_rate)
    rows = x.detach().to(torch.float32).cpu().numpy()
    g = np.stack([limit_block(np.ascontiguousarray(row), ceiling, a_rel,
                              *limit_state(sample_rate))[1] for row in rows])
    return delayed * torch.from_numpy(g).to(x.dtype)


class _AsymShaper(torch.autograd.Function):
    """`asym_shaper` with its derivatives in one compiled pass (`kernels.shaper_backward`):
    autograd through the rational clipper kept a dozen signal-sized intermediates and ran as
    many backward ops (a sixth of a training step). The forward is the same expression."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, drive: torch.Tensor,  # type: ignore[override]
                bias: torch.Tensor) -> torch.Tensor:
        sb = soft_clip(bias)
        y = (soft_clip(drive * u + bias) - sb) / (drive * (1 - sb * sb))
        ctx.save_for_backward(u, drive, bias, y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor  # type: ignore[override]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        u, drive, bias, y = ctx.saved_tensors
        shape = y.shape
        rows = (lambda t: t.detach().expand(shape).reshape(-1, shape[-1]).contiguous().numpy())
        gu, gd, gb = shaper_backward(rows(grad.to(y.dtype)), rows(u.to(y.dtype)), rows(y),
                                     float(drive), float(bias))
        return (torch.from_numpy(gu).reshape(shape).to(u.dtype),
                torch.full_like(drive, gd), torch.full_like(bias, gb))


def asym_shaper(u: torch.Tensor, drive: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Asymmetric soft clipper with unit small-signal gain: (s(g u + b) - s(b)) / (g s'(b));
    drive and bias hold one value each."""
    return _AsymShaper.apply(u, drive, bias)


_FIR_SPECTRA: dict[tuple[int, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}
_FIR_SPECTRA_KEPT = 16  # FFT sizes remembered (the fit runs a handful of segment lengths)
_FIR_SPECTRA_LOCK = threading.Lock()  # the fit's threads share them


def _fir_spectrum(fir: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """rfft of the (constant, gradient-free) FIR at length n in dtype, remembered: every step
    of a fit asks for the same one."""
    key = (n, dtype)
    kept = _FIR_SPECTRA.get(key)
    if kept is not None and torch.equal(kept[0], fir):
        return kept[1]
    h = torch.fft.rfft(fir.detach().to(dtype), n=n)
    with _FIR_SPECTRA_LOCK:
        if len(_FIR_SPECTRA) >= _FIR_SPECTRA_KEPT:
            _FIR_SPECTRA.pop(next(iter(_FIR_SPECTRA)))
        _FIR_SPECTRA[key] = (fir.detach().clone(), h)
    return h


def shaper_2x(x: torch.Tensor, drive: torch.Tensor, bias: torch.Tensor,
              fir: torch.Tensor) -> torch.Tensor:
    """Waveshaper run at 2x the sample rate with causal FIR up/down-sampling; x (B, T).

    Equal to zero-stuffing, FIR, shaper, FIR, decimation (`scipy.signal.upfirdn` twice), done
    with FFTs because the convolutions' backward pass dominates training time otherwise.
    """
    t = x.shape[-1]
    n = fft_len(t + fir.shape[0])
    h = _fir_spectrum(fir, 2 * n, x.dtype)
    xs = rfft(x, n)
    # spectrum of the zero-stuffed signal on the 2n grid: the n-grid spectrum and its mirror
    up = torch.cat([xs, torch.conj(xs.flip(-1)[..., 1:])], dim=-1)
    u = torch.fft.irfft(2 * up * h, n=2 * n)[..., : 2 * t]
    v = asym_shaper(u, drive, bias)
    d = torch.fft.irfft(rfft(v, 2 * n) * h, n=2 * n)
    return d[..., : 2 * t : 2]


class _Ballistics(torch.autograd.Function):
    @staticmethod
    def forward(ctx, target: torch.Tensor, a_att: torch.Tensor, a_rel: torch.Tensor):
        t = target.detach().double().numpy()
        y = ballistics_forward(t, float(a_att), float(a_rel), 0.0)
        ctx.save_for_backward(target, a_att, a_rel)
        ctx.y = y
        return torch.from_numpy(y).to(target.dtype)

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):
        target, a_att, a_rel = ctx.saved_tensors
        gt, ga, gr = ballistics_backward(grad_y.detach().double().numpy(),
                                         target.detach().double().numpy(), ctx.y,
                                         float(a_att), float(a_rel), 0.0)
        return (torch.from_numpy(gt).to(target.dtype),
                torch.full_like(a_att, ga), torch.full_like(a_rel, gr))


def ballistics(target_db: torch.Tensor, a_att: torch.Tensor, a_rel: torch.Tensor) -> torch.Tensor:
    """Attack/release smoothing of gain reduction (B, K) in dB, exact gradients (numba)."""
    return _Ballistics.apply(target_db, a_att, a_rel)


def time_coef(time_ms: torch.Tensor, control_rate_hz: float) -> torch.Tensor:
    """One-pole coefficient for a time constant in ms at the control rate."""
    return torch.exp(-1000.0 / (time_ms * control_rate_hz))


def gain_computer_db(level_db: torch.Tensor, threshold_db: torch.Tensor,
                     ratio: torch.Tensor) -> torch.Tensor:
    """Soft-knee (KNEE_DB) static compressor curve: gain reduction in dB (<= 0)."""
    over = level_db - threshold_db
    slope = 1 / ratio - 1
    knee = slope * (over + KNEE_DB / 2) ** 2 / (2 * KNEE_DB)
    lin = slope * over
    return torch.where(2 * over < -KNEE_DB, torch.zeros_like(over),
                       torch.where(2 * over > KNEE_DB, lin, knee))


def hop_level_db(x: torch.Tensor, hop: int = CONTROL_HOP) -> torch.Tensor:
    """Mean-square level (dBFS) of each control hop of x (B, T); T padded up to a hop multiple."""
    b, t = x.shape
    k = -(-t // hop)
    xp = torch.nn.functional.pad(x, (0, k * hop - t))
    ms = (xp.view(b, k, hop) ** 2).mean(-1)
    return 10 * torch.log10(ms + 1e-10)


def control_to_audio(gain: torch.Tensor, t: int, hop: int = CONTROL_HOP) -> torch.Tensor:
    """Causal ramp of control-rate linear gains (B, K) to audio rate: hop k goes g[k-2]->g[k-1]."""
    b, k = gain.shape
    padded = torch.nn.functional.pad(gain, (2, 0), value=1.0)
    start, end = padded[:, :k], padded[:, 1:k + 1]
    w = torch.arange(1, hop + 1, dtype=gain.dtype) / hop
    ramp = start.unsqueeze(-1) + (end - start).unsqueeze(-1) * w
    return ramp.reshape(b, k * hop)[:, :t]


def compressor_gain(x: torch.Tensor, sample_rate: float, threshold_db: torch.Tensor,
                    ratio: torch.Tensor, attack_ms: torch.Tensor,
                    release_ms: torch.Tensor) -> torch.Tensor:
    """Feed-forward compressor linear gain at audio rate for x (B, T), soft knee, causal."""
    rate = sample_rate / CONTROL_HOP
    level = hop_level_db(x)
    target = gain_computer_db(level, threshold_db, ratio)
    smooth = ballistics(target, time_coef(attack_ms, rate), time_coef(release_ms, rate))
    return control_to_audio(torch.pow(10.0, smooth / 20), x.shape[-1])
