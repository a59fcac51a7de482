"""Argument checks shared by the measures: audio arrays and sample rates."""

from __future__ import annotations

import math

import numpy as np

from tonemorph.errors import AudioContentError, ParameterError

__all__ = ["MAX_CHANNELS", "as_audio_2d", "check_finite", "check_rate"]

MAX_CHANNELS = 64
"""More channels than this is taken for a (samples, channels) array passed the wrong way."""


def as_audio_2d(x: np.ndarray, name: str = "x", *, keep_float32: bool = False) -> np.ndarray:
    """Audio as float64 (channels, samples); rejects bad shapes and non-finite samples.

    1-D input is one channel. With ``keep_float32`` a float32 input stays float32 (no copy).
    """
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ParameterError(
            f"{name} must be audio shaped (samples,) or (channels, samples), got {np.shape(x)}."
        )
    if arr.shape[0] > MAX_CHANNELS:
        raise ParameterError(
            f"{name} has shape {arr.shape}: more than {MAX_CHANNELS} channels, which looks like "
            "(samples, channels). Pass (channels, samples), e.g. x.T."
        )
    if not (keep_float32 and arr.dtype == np.float32):
        arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise AudioContentError(f"{name} contains NaN or Inf samples; clean the audio first.")
    return arr


def check_rate(sample_rate: float) -> float:
    """The sample rate (Hz) as a float; ParameterError unless a finite number > 0."""
    if isinstance(sample_rate, bool) or not (
        isinstance(sample_rate, (int, float, np.integer, np.floating))
        and math.isfinite(sample_rate)
        and sample_rate > 0
    ):
        raise ParameterError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}.")
    return float(sample_rate)


def check_finite(x: np.ndarray, name: str = "audio") -> None:
    """AudioContentError unless every sample of x is finite (no NaN, no Inf)."""
    if not np.all(np.isfinite(x)):
        raise AudioContentError(f"{name} contains NaN or infinite samples; clean it first")
