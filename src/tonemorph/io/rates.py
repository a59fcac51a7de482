"""Sample rates: the supported range and resampling (soxr, very high quality)."""

from __future__ import annotations

import math

import numpy as np
import soxr

from tonemorph.errors import ParameterError
from tonemorph.io.content import _as_2d

#: Sample rates (Hz) tonemorph reads, writes and resamples to.
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 384000


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample (channels, samples) audio from `sr_in` Hz to `sr_out` Hz with soxr 'HQ'.

    Returns `audio` itself when the rates are equal. float32/float64 are kept; other dtypes
    come back as float32. 1-D input gives 1-D output.
    """
    for name, rate in (("sr_in", sr_in), ("sr_out", sr_out)):
        if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise ParameterError(f"{name} must be a positive integer in Hz, got {rate!r}")
    if sr_in == sr_out:
        return audio
    arr = np.asarray(audio)
    squeeze = arr.ndim == 1
    x = _as_2d(arr)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    if x.shape[1] == 0:
        out = np.zeros((x.shape[0], 0), dtype=x.dtype)
    else:
        out = soxr.resample(np.ascontiguousarray(x.T), int(sr_in), int(sr_out), quality="HQ")
        out = np.ascontiguousarray(np.asarray(out, dtype=x.dtype).reshape(-1, x.shape[0]).T)
    return out[0] if squeeze else out


# --------------------------------------------------------------------------- writing


def check_sample_rate(rate: object, what: str = "sample rate") -> int:
    """The rate as an int (Hz) when it is a whole number (44100 or 44100.0) in
    8 kHz..384 kHz; ParameterError if not."""
    if isinstance(rate, (float, np.floating)) and math.isfinite(rate) and float(rate).is_integer():
        rate = int(rate)
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
        got = (f"an array of shape {rate.shape}" if isinstance(rate, np.ndarray)
               else repr(rate))
        raise ParameterError(f"{what} must be a whole number of Hz, got {got}")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ParameterError(f"{what} must be {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz, got {rate}")
    return int(rate)


__all__ = [
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "check_sample_rate",
    "resample",
]
