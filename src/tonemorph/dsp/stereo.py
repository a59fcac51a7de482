"""Stereo tools: mid/side, width (side-to-mid balance), mono low end; audio is (2, samples)."""

from __future__ import annotations

import math

import numpy as np

from tonemorph.errors import ParameterError

__all__ = [
    "MonoBass",
    "left_right",
    "mid_side",
    "mono_bass",
    "set_width",
    "side_to_mid_db",
]

_EPS_POWER = 1e-20


def _stereo(x: np.ndarray, name: str = "x") -> np.ndarray:
    """Check a (2, samples) array."""
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] != 2:
        raise ParameterError(f"{name} must be stereo shaped (2, samples), got {arr.shape}.")
    return arr


def mid_side(x: np.ndarray) -> np.ndarray:
    """(L, R) -> (M, S) with M = (L + R) / 2, S = (L - R) / 2 (shape (2, samples))."""
    lr = _stereo(x)
    return np.stack([(lr[0] + lr[1]) * 0.5, (lr[0] - lr[1]) * 0.5])


def left_right(ms: np.ndarray) -> np.ndarray:
    """(M, S) -> (L, R) = (M + S, M - S); the inverse of `mid_side`."""
    m = _stereo(ms, "ms")
    return np.stack([m[0] + m[1], m[0] - m[1]])


def side_to_mid_db(x: np.ndarray) -> float:
    """Width as the side-to-mid power ratio (dB) of a stereo signal; -200 dB for mono."""
    ms = mid_side(x)
    p_mid = float(np.mean(np.square(ms[0], dtype=np.float64)))
    p_side = float(np.mean(np.square(ms[1], dtype=np.float64)))
    if p_side <= _EPS_POWER:
        return -200.0
    return 10.0 * math.log10(p_side / max(p_mid, _EPS_POWER))


def set_width(x: np.ndarray, width: float) -> np.ndarray:
    """Scale the side signal by `width` (1 unchanged, 0 mono, 2 twice as wide); returns (L, R)."""
    if not (math.isfinite(width) and 0.0 <= width <= 4.0):
        raise ParameterError(f"width must be within 0..4 (1 = unchanged), got {width!r}.")
    ms = mid_side(x)
    ms[1] *= width
    return left_right(ms)


class MonoBass:
    """Streaming mono low end: the side signal is high-passed (4th-order Butterworth) at cutoff_hz.

    Below the cutoff left and right become equal (the mid); the mid is untouched.
    """

    def __init__(self, sample_rate: float, cutoff_hz: float):
        if not (math.isfinite(sample_rate) and sample_rate > 0):
            raise ParameterError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}.")
        if not (math.isfinite(cutoff_hz) and 10.0 <= cutoff_hz <= min(1000.0, 0.45 * sample_rate)):
            raise ParameterError(
                f"mono-bass cutoff must be within 10..1000 Hz, got {cutoff_hz!r}; e.g. 120."
            )
        self.cutoff_hz = float(cutoff_hz)
        import scipy.signal  # here: importing it costs 0.4 s

        self.sos = scipy.signal.butter(4, cutoff_hz, "highpass", fs=sample_rate, output="sos")
        self._zi = np.zeros((self.sos.shape[0], 2))

    def process(self, x: np.ndarray) -> np.ndarray:
        """Process a (2, n) block; returns (2, n) float64."""
        ms = mid_side(np.asarray(x, dtype=np.float64))
        if ms.shape[1] == 0:
            return ms
        import scipy.signal

        ms[1], self._zi = scipy.signal.sosfilt(self.sos, ms[1], zi=self._zi)
        return left_right(ms)


def mono_bass(x: np.ndarray, sample_rate: float, cutoff_hz: float) -> np.ndarray:
    """Offline `MonoBass`: side high-passed at cutoff_hz (Hz); returns (2, samples) float64."""
    return MonoBass(sample_rate, cutoff_hz).process(x)
