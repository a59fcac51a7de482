"""FIR design from magnitude curves: minimum phase (real cepstrum), linear phase, smoothing.

Magnitude curves live on an rfft grid: ``n_fft // 2 + 1`` bins from 0 Hz to Nyquist, in dB.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Literal

import numpy as np

from tonemorph.dsp.designs import hann
from tonemorph.errors import ParameterError

__all__ = [
    "cepstral_minimum_phase",
    "minimum_phase_from_magnitude",
    "linear_phase_from_magnitude",
    "log_band_curve_to_bins",
    "smooth_log_spectrum",
    "next_pow2",
]

_CEPSTRUM_OVERSAMPLING = 8  # n_fft >= 8 * n_taps keeps cepstral (time) aliasing small
_DB_TO_NEPER = np.log(10.0) / 20.0


def next_pow2(n: int) -> int:
    """Smallest power of two >= n (n >= 1)."""
    return 1 << max(0, int(n - 1).bit_length())


def _check_curve(mag_db: np.ndarray, name: str = "mag_db") -> np.ndarray:
    """Validate a 1-D finite rfft-grid dB curve with at least 2 bins."""
    curve = np.asarray(mag_db, dtype=np.float64)
    if curve.ndim != 1 or curve.size < 2:
        raise ParameterError(
            f"{name} must be 1-D with n_fft//2+1 >= 2 bins (0 Hz..Nyquist), got {curve.shape}."
        )
    if not np.all(np.isfinite(curve)):
        raise ParameterError(f"{name} contains NaN or Inf; pass finite dB values (floor silence).")
    return curve


def _check_taps(n_taps: int) -> int:
    """Validate a tap count."""
    if isinstance(n_taps, bool) or not isinstance(n_taps, (int, np.integer)) or n_taps < 1:
        raise ParameterError(f"n_taps must be a positive integer, got {n_taps!r}.")
    return int(n_taps)


def _resample_curve(curve_db: np.ndarray, n_bins: int) -> np.ndarray:
    """Linearly interpolate an rfft-grid curve onto another rfft grid with n_bins bins."""
    if curve_db.size == n_bins:
        return curve_db
    src = np.linspace(0.0, 1.0, curve_db.size)
    dst = np.linspace(0.0, 1.0, n_bins)
    return np.interp(dst, src, curve_db)


def cepstral_minimum_phase(log_mag: Any, xp: ModuleType = np) -> Any:
    """Minimum-phase impulse response (n_fft samples) of a log-magnitude curve (nepers).

    ``log_mag`` is ``ln|H|`` on an rfft grid of ``n_fft // 2 + 1`` bins along its last axis;
    its real cepstrum is folded onto positive quefrencies (Oppenheim & Schafer,
    *Discrete-Time Signal Processing*, ch. 13) and exponentiated back. ``xp`` is numpy or
    torch (gradients flow through): the one folding of `minimum_phase_from_magnitude` and of
    the chain's cabinet (`tonemorph.chain.functional.minimum_phase_ir`).
    """
    n_fft = 2 * (log_mag.shape[-1] - 1)
    cepstrum = xp.fft.irfft(log_mag, n=n_fft)
    fold = xp.zeros_like(cepstrum)
    fold[..., 0] = 1.0
    fold[..., 1 : n_fft // 2] = 2.0
    fold[..., n_fft // 2] = 1.0
    return xp.fft.irfft(xp.exp(xp.fft.rfft(cepstrum * fold)), n=n_fft)


def minimum_phase_from_magnitude(
    mag_db: np.ndarray, n_taps: int, *, tail_fraction: float = 0.125
) -> np.ndarray:
    """Minimum-phase FIR (n_taps,) whose magnitude follows mag_db (dB, rfft grid 0..Nyquist).

    Homomorphic method (`cepstral_minimum_phase`). The cepstrum is computed on
    ``n_fft = max(grid, next_pow2(8 * n_taps))`` points (the curve is interpolated linearly if the
    given grid is coarser) to limit cepstral aliasing; the last ``tail_fraction`` of the taps is
    faded out with a half-Hann window so the truncation does not ripple the response.
    """
    curve = _check_curve(mag_db)
    taps = _check_taps(n_taps)
    if not 0.0 <= tail_fraction <= 1.0:
        raise ParameterError(f"tail_fraction must be within [0, 1], got {tail_fraction!r}.")
    n_grid = 2 * (curve.size - 1)
    n_fft = max(n_grid, next_pow2(_CEPSTRUM_OVERSAMPLING * taps))
    log_mag = _resample_curve(curve, n_fft // 2 + 1) * _DB_TO_NEPER
    ir = cepstral_minimum_phase(log_mag)[:taps]
    n_tail = int(round(taps * tail_fraction))
    if n_tail > 0:
        k = np.arange(1, n_tail + 1)
        ir[taps - n_tail :] *= 0.5 * (1.0 + np.cos(np.pi * k / (n_tail + 1)))
    return ir


def linear_phase_from_magnitude(mag_db: np.ndarray, n_taps: int) -> np.ndarray:
    """Linear-phase FIR (n_taps,) with magnitude mag_db (dB, rfft grid); delay n_taps // 2 samples.

    Frequency sampling on a fine grid, then a Hann window (periodic for even n_taps, so the
    response is symmetric about sample ``n_taps // 2`` for either parity).
    """
    curve = _check_curve(mag_db)
    taps = _check_taps(n_taps)
    n_grid = 2 * (curve.size - 1)
    n_fft = max(n_grid, next_pow2(2 * taps))
    mag = np.exp(_resample_curve(curve, n_fft // 2 + 1) * _DB_TO_NEPER)
    zero_phase = np.fft.irfft(mag, n_fft)
    centre = taps // 2
    ir = zero_phase[(np.arange(taps) - centre) % n_fft]
    window = hann(taps, periodic=taps % 2 == 0)
    return ir * window


def log_band_curve_to_bins(
    band_db: np.ndarray, band_hz: np.ndarray, n_fft: int, sample_rate: float
) -> np.ndarray:
    """Interpolate a curve given at band_hz (Hz, increasing) to the n_fft//2+1 rfft bins (dB).

    Linear in log-frequency between bands, flat beyond the first and last band (0 Hz gets the
    first band's value).
    """
    values = np.asarray(band_db, dtype=np.float64)
    centres = np.asarray(band_hz, dtype=np.float64)
    if values.ndim != 1 or centres.shape != values.shape or values.size < 1:
        raise ParameterError(
            f"band_db and band_hz must be 1-D of equal length, got {values.shape} and "
            f"{centres.shape}."
        )
    if not (np.all(np.isfinite(centres)) and np.all(centres > 0)):
        raise ParameterError("band_hz must be finite and > 0 Hz.")
    if np.any(np.diff(centres) <= 0):
        raise ParameterError("band_hz must be strictly increasing.")
    if not np.all(np.isfinite(values)):
        raise ParameterError("band_db contains NaN or Inf.")
    if isinstance(n_fft, bool) or not isinstance(n_fft, (int, np.integer)) or n_fft < 2:
        raise ParameterError(f"n_fft must be an integer >= 2, got {n_fft!r}.")
    if not (np.isfinite(sample_rate) and sample_rate > 0):
        raise ParameterError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}.")
    freqs = np.fft.rfftfreq(int(n_fft), 1.0 / sample_rate)
    log_f = np.log(np.maximum(freqs, centres[0]))
    return np.interp(log_f, np.log(centres), values)


def smooth_log_spectrum(
    mag_db: np.ndarray,
    freqs: np.ndarray,
    fraction: float = 1.0 / 6.0,
    *,
    domain: Literal["power", "db"] = "power",
) -> np.ndarray:
    """Fractional-octave smoothing (dB in, dB out) along the last axis of mag_db.

    Each bin at f is replaced by the mean over ``[f * 2**(-fraction/2), f * 2**(fraction/2)]``
    (``fraction`` in octaves; 0 Hz uses the window of the first non-zero bin). ``domain="power"``
    averages power (10**(dB/10)), ``"db"`` averages the dB values. Cost O(n_bins) per curve.
    """
    curve = np.asarray(mag_db, dtype=np.float64)
    f = np.asarray(freqs, dtype=np.float64)
    if f.ndim != 1 or curve.ndim < 1 or curve.shape[-1] != f.size:
        raise ParameterError(
            f"freqs must be 1-D and match the last axis of mag_db, got {f.shape} vs {curve.shape}."
        )
    if f.size > 1 and np.any(np.diff(f) <= 0):
        raise ParameterError("freqs must be strictly increasing (Hz).")
    if np.any(f < 0):
        raise ParameterError("freqs must be >= 0 Hz.")
    if not (np.isfinite(fraction) and fraction > 0):
        raise ParameterError(f"fraction must be a positive number of octaves, got {fraction!r}.")
    if domain not in ("power", "db"):
        raise ParameterError(f"domain must be 'power' or 'db', got {domain!r}.")
    if f.size < 2:
        return curve.copy()
    half = 2.0 ** (fraction / 2.0)
    f_first = f[f > 0][0] if np.any(f > 0) else 1.0
    lo = np.searchsorted(f, f / half, side="left")
    hi = np.searchsorted(f, np.maximum(f, f_first) * half, side="right")
    idx = np.arange(f.size)
    lo = np.minimum(lo, idx)
    hi = np.maximum(hi, idx + 1)
    if domain == "power":
        data = 10.0 ** (curve / 10.0)
    else:
        data = curve
    # Direct window sums (np.add.reduceat over interleaved [lo, hi) pairs) rather than a cumulative
    # sum, whose differences lose quiet bins next to loud ones in a wide dynamic range.
    padded = np.concatenate([data, np.zeros(curve.shape[:-1] + (1,))], axis=-1)
    pairs = np.stack([lo, hi], axis=1).reshape(-1)
    mean = np.add.reduceat(padded, pairs, axis=-1)[..., ::2] / (hi - lo)
    if domain == "power":
        return 10.0 * np.log10(np.maximum(mean, 1e-300))
    return mean
