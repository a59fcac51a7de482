"""Sample-level comparisons: error-to-signal ratio (and NAM's grade), alignment."""

from __future__ import annotations

import math

import numpy as np

from tonemorph.dsp.align import correlation_lag
from tonemorph.dsp.checks import as_audio_2d, check_rate
from tonemorph.errors import AudioContentError, ParameterError
from tonemorph.metrics._common import _mono, _restore_shape

ESR_GRADES = ((0.01, "great"), (0.035, "not bad"), (0.1, "okay"))
"""NAM's trainer's words for an ESR: below each bound that word, above the last "poor"."""


def esr(pred: np.ndarray, target: np.ndarray, skip: int = 0) -> float:
    """Error-to-signal ratio sum((t - p)^2) / sum(t^2) after `skip` samples (no pre-emphasis)."""
    t = np.asarray(target[skip:], np.float64)
    e = t - np.asarray(pred[skip:], np.float64)
    return float(np.sum(e * e) / max(float(np.sum(t * t)), 1e-30))


def esr_grade(value: float) -> str:
    """NAM's word for an ESR: great < 0.01, not bad < 0.035, okay < 0.1, else poor."""
    return next((name for limit, name in ESR_GRADES if value < limit), "poor")


def align(
    est: np.ndarray, ref: np.ndarray, sample_rate: float, *, max_lag_ms: float = 50.0
) -> tuple[np.ndarray, np.ndarray, int]:
    """Remove the latency between est and ref; returns (est_aligned, ref_aligned, lag_samples).

    The lag maximises the cross-correlation of the mono sums within ±max_lag_ms (ms),
    `tonemorph.dsp.align.correlation_lag`;
    ``lag_samples > 0`` means est is late (est[lag:] lines up with ref). Both outputs are trimmed
    to their common length and keep their own channels and 1-D/2-D shape.
    """
    e2 = as_audio_2d(est, "est", keep_float32=True)
    r2 = as_audio_2d(ref, "ref", keep_float32=True)
    rate = check_rate(sample_rate)
    if not (math.isfinite(max_lag_ms) and max_lag_ms >= 0):
        raise ParameterError(f"max_lag_ms must be a number of ms >= 0, got {max_lag_ms!r}.")
    max_lag = int(round(max_lag_ms * 1e-3 * rate))
    # est and ref are two renderings of one tone: the plain correlation peak, never a refusal
    lag = correlation_lag(_mono(r2), _mono(e2), max_lag)
    if lag >= 0:
        e2, r2 = e2[:, lag:], r2
    else:
        e2, r2 = e2, r2[:, -lag:]
    length = min(e2.shape[1], r2.shape[1])
    if length < 1:
        raise AudioContentError("est and ref do not overlap after alignment; pass longer audio.")
    return (
        _restore_shape(e2[:, :length], est),
        _restore_shape(r2[:, :length], ref),
        lag,
    )


# ----------------------------------------------------------------------------------- MR-STFT
