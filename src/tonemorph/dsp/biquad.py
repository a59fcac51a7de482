"""Biquad designs from the RBJ Audio EQ Cookbook, as normalised second-order sections.

`rbj_section` holds the cookbook formulas once, for any array type (the torch chain's
`tonemorph.chain.functional.rbj_biquad` runs them on tensors). Each design below returns one
sos row ``[b0, b1, b2, 1, a1, a2]`` (float64, ``a0 == 1``) usable with ``scipy.signal.sosfilt``
(stack rows with ``np.stack`` for a cascade).

Reference: R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter coefficients"
(W3C Audio EQ Cookbook, https://www.w3.org/TR/audio-eq-cookbook/).
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

from tonemorph.errors import ParameterError

__all__ = [
    "BIQUAD_KINDS",
    "rbj_section",
    "rbj_design",
    "highpass",
    "lowpass",
    "peaking",
    "low_shelf",
    "high_shelf",
    "freq_response_db",
]

_MAX_ABS_GAIN_DB = 60.0

T = TypeVar("T")  # float, numpy array or torch tensor


def _check_common(freq_hz: float, q: float, sample_rate: float, name: str) -> tuple[float, float]:
    """Validate frequency/Q/rate; return (w0 in rad/sample, alpha)."""
    if not (math.isfinite(sample_rate) and sample_rate > 0):
        raise ParameterError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}.")
    nyquist = 0.5 * sample_rate
    if not (math.isfinite(freq_hz) and 0.0 < freq_hz < nyquist):
        raise ParameterError(
            f"{name} must lie strictly between 0 and Nyquist ({nyquist:g} Hz), got {freq_hz!r} Hz."
        )
    if not (math.isfinite(q) and q > 0):
        raise ParameterError(f"q must be a positive number, got {q!r}.")
    w0 = 2.0 * math.pi * freq_hz / sample_rate
    return w0, math.sin(w0) / (2.0 * q)


def _check_gain(gain_db: float) -> float:
    """Validate a gain in dB and return the cookbook amplitude A = 10**(gain_db/40)."""
    if not (math.isfinite(gain_db) and abs(gain_db) <= _MAX_ABS_GAIN_DB):
        raise ParameterError(
            f"gain_db must be finite and within ±{_MAX_ABS_GAIN_DB:g} dB, got {gain_db!r} dB."
        )
    return 10.0 ** (gain_db / 40.0)


BIQUAD_KINDS = ("highpass", "lowpass", "peaking", "low_shelf", "high_shelf")
"""Designs `rbj_section` knows (gain is ignored by the high- and low-pass)."""


def rbj_section(kind: str, cos_w0: T, alpha: T, amp: T, sqrt_amp: T) -> tuple[T, ...]:
    """RBJ-cookbook section (b0, b1, b2, 1, a1, a2) divided by a0, for any array type.

    The one formula of every biquad in tonemorph: plain arithmetic on its inputs, so floats,
    numpy arrays and torch tensors (autograd) all go through it. ``cos_w0 = cos(w0)``,
    ``alpha = sin(w0) / (2 q)`` with ``w0 = 2 pi f / sample_rate`` (rad/sample),
    ``amp = 10 ** (gain_db / 40)`` and ``sqrt_amp = sqrt(amp)``.
    """
    if kind == "highpass":
        b = ((1 + cos_w0) / 2, -(1 + cos_w0), (1 + cos_w0) / 2)
        a = (1 + alpha, -2 * cos_w0, 1 - alpha)
    elif kind == "lowpass":
        b = ((1 - cos_w0) / 2, 1 - cos_w0, (1 - cos_w0) / 2)
        a = (1 + alpha, -2 * cos_w0, 1 - alpha)
    elif kind == "peaking":
        b = (1 + alpha * amp, -2 * cos_w0, 1 - alpha * amp)
        a = (1 + alpha / amp, -2 * cos_w0, 1 - alpha / amp)
    elif kind == "low_shelf":
        k = 2.0 * sqrt_amp * alpha
        b = (amp * ((amp + 1) - (amp - 1) * cos_w0 + k),
             2 * amp * ((amp - 1) - (amp + 1) * cos_w0),
             amp * ((amp + 1) - (amp - 1) * cos_w0 - k))
        a = ((amp + 1) + (amp - 1) * cos_w0 + k,
             -2 * ((amp - 1) + (amp + 1) * cos_w0),
             (amp + 1) + (amp - 1) * cos_w0 - k)
    elif kind == "high_shelf":
        k = 2.0 * sqrt_amp * alpha
        b = (amp * ((amp + 1) + (amp - 1) * cos_w0 + k),
             -2 * amp * ((amp - 1) + (amp + 1) * cos_w0),
             amp * ((amp + 1) + (amp - 1) * cos_w0 - k))
        a = ((amp + 1) - (amp - 1) * cos_w0 + k,
             2 * ((amp - 1) - (amp + 1) * cos_w0),
             (amp + 1) - (amp - 1) * cos_w0 - k)
    else:
        raise ParameterError(f"biquad kind must be one of {list(BIQUAD_KINDS)}, got {kind!r}.")
    a0 = a[0]
    return (b[0] / a0, b[1] / a0, b[2] / a0, a0 / a0, a[1] / a0, a[2] / a0)


def _design(kind: str, freq_hz: float, gain_db: float, q: float, sample_rate: float,
            name: str) -> np.ndarray:
    """Validated float64 sos row (6,) of an RBJ design."""
    w0, alpha = _check_common(freq_hz, q, sample_rate, name)
    amp = _check_gain(gain_db)
    return np.array(rbj_section(kind, math.cos(w0), alpha, amp, math.sqrt(amp)),
                    dtype=np.float64)


def rbj_design(kind: str, freq_hz: float, gain_db: float, q: float,
               sample_rate: float) -> np.ndarray:
    """Validated sos row (6,) of any `BIQUAD_KINDS` design: freq_hz (Hz), gain_db (dB), q."""
    return _design(kind, freq_hz, gain_db, q, sample_rate, "freq_hz")


def highpass(cutoff_hz: float, q: float, sample_rate: float) -> np.ndarray:
    """Second-order high-pass (-3 dB at cutoff_hz for q = 1/sqrt(2)); sos row, shape (6,)."""
    return _design("highpass", cutoff_hz, 0.0, q, sample_rate, "cutoff_hz")


def lowpass(cutoff_hz: float, q: float, sample_rate: float) -> np.ndarray:
    """Second-order low-pass (-3 dB at cutoff_hz for q = 1/sqrt(2)); sos row, shape (6,)."""
    return _design("lowpass", cutoff_hz, 0.0, q, sample_rate, "cutoff_hz")


def peaking(center_hz: float, gain_db: float, q: float, sample_rate: float) -> np.ndarray:
    """Peaking EQ: gain_db (dB) at center_hz, 0 dB far away; sos row, shape (6,)."""
    return _design("peaking", center_hz, gain_db, q, sample_rate, "center_hz")


def low_shelf(cutoff_hz: float, gain_db: float, q: float, sample_rate: float) -> np.ndarray:
    """Low shelf: gain_db (dB) at DC, 0 dB at Nyquist, gain_db/2 at cutoff_hz; sos row (6,)."""
    return _design("low_shelf", cutoff_hz, gain_db, q, sample_rate, "cutoff_hz")


def high_shelf(cutoff_hz: float, gain_db: float, q: float, sample_rate: float) -> np.ndarray:
    """High shelf: 0 dB at DC, gain_db (dB) at Nyquist, gain_db/2 at cutoff_hz; sos row (6,)."""
    return _design("high_shelf", cutoff_hz, gain_db, q, sample_rate, "cutoff_hz")


def freq_response_db(sos: np.ndarray, freqs_hz: np.ndarray, sample_rate: float) -> np.ndarray:
    """Magnitude response (dB) of one sos row (6,) or a cascade (n_sections, 6) at freqs_hz (Hz).

    Returns an array shaped like ``freqs_hz``; magnitudes are floored at -400 dB.
    """
    sos_arr = np.asarray(sos, dtype=np.float64)
    if sos_arr.ndim == 1:
        sos_arr = sos_arr[None, :]
    if sos_arr.ndim != 2 or sos_arr.shape[1] != 6:
        raise ParameterError(f"sos must have shape (6,) or (n_sections, 6), got {sos_arr.shape}.")
    if not (math.isfinite(sample_rate) and sample_rate > 0):
        raise ParameterError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}.")
    freqs = np.asarray(freqs_hz, dtype=np.float64)
    z1 = np.exp(-2j * np.pi * freqs / sample_rate)  # z^-1
    z2 = z1 * z1
    total_db = np.zeros(freqs.shape, dtype=np.float64)
    for b0, b1, b2, a0, a1, a2 in sos_arr:
        h = (b0 + b1 * z1 + b2 * z2) / (a0 + a1 * z1 + a2 * z2)
        total_db += 20.0 * np.log10(np.maximum(np.abs(h), 1e-20))
    return total_db
