"""All of DESIGN.md §5 at once: the score dictionary of a rendering against its truth."""

from __future__ import annotations

import numpy as np

from tonemorph.dsp.checks import as_audio_2d, check_rate
from tonemorph.dsp.loudness import (
    crest_factor_db,
    integrated_lufs,
)
from tonemorph.errors import AudioContentError, ParameterError
from tonemorph.metrics._common import _pair_channels
from tonemorph.metrics.sample import align
from tonemorph.metrics.spectral import (
    _best_gain,
    _check_n_bins,
    _level_binned_error,
    _logmel_frames,
    _mrstft_terms,
)


def _safe_lufs(audio: np.ndarray, rate: float) -> float:
    """Integrated loudness (LUFS), NaN when the audio is too short or has too many channels."""
    try:
        return integrated_lufs(audio, rate)
    except (AudioContentError, ParameterError):
        return float("nan")


def score(
    est: np.ndarray,
    ref: np.ndarray,
    sample_rate: float,
    *,
    align_first: bool = True,
    n_bins: int = 4,
) -> dict[str, float]:
    """Score est against a ground truth ref (DESIGN.md §5); no loudness normalisation.

    Keys: ``mrstft``; ``mrstft_best_gain`` (est scaled by the least-squares gain first);
    ``logmel_db``; ``level_binned_db`` (paired: aligned frames grouped by ref's loudness
    quantiles); ``lufs_err`` (LU) and ``crest_err_db`` (dB), both signed est - ref;
    ``lag_samples`` (est's latency removed by `align`, 0 when align_first is False).
    """
    rate = check_rate(sample_rate)
    bins = _check_n_bins(n_bins)
    e2, r2 = as_audio_2d(est, "est", keep_float32=True), as_audio_2d(ref, "ref", keep_float32=True)
    lag = 0
    if align_first:
        e2, r2, lag = align(e2, r2, rate)
    n = min(e2.shape[1], r2.shape[1])
    e2, r2 = e2[:, :n], r2[:, :n]
    ep, rp = _pair_channels(e2, r2)
    gain = _best_gain(ep, rp)
    mr, mr_gain = _mrstft_terms(ep, rp, (1.0, gain))
    _, le, lev_e = _logmel_frames(e2, rate)
    _, lr, lev_r = _logmel_frames(r2, rate)
    return {
        "mrstft": mr,
        "mrstft_best_gain": mr_gain,
        "logmel_db": float(np.mean(np.abs(le - lr))),
        "level_binned_db": _level_binned_error((le, lev_e), (lr, lev_r), bins, lev_r),
        "lufs_err": _safe_lufs(e2, rate) - _safe_lufs(r2, rate),
        "crest_err_db": crest_factor_db(e2, rate) - crest_factor_db(r2, rate),
        "lag_samples": float(lag),
    }
