"""Spectral distances: MR-STFT, log-mel, level-binned spectra (DESIGN.md §5)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import scipy.fft
import scipy.sparse

from tonemorph.dsp.checks import as_audio_2d, check_rate
from tonemorph.dsp.designs import hann
from tonemorph.dsp.loudness import (
    active_frames,
    frame_rms_db,
)
from tonemorph.errors import AudioContentError, ParameterError
from tonemorph.metrics._common import _centered, _frames, _pair_channels, _reflect_pad

MRSTFT_FFT_SIZES: tuple[int, ...] = (512, 1024, 2048)
"""FFT sizes of the MR-STFT distance; hop = size // 4, Hann window of the FFT size."""

MAG_POWER_EPS = 1e-8
"""Power floor of the MR-STFT magnitudes: |X| = sqrt(max(|X|^2, 1e-8)), as auraloss STFTLoss."""

_MEL_FRAME = 2048
_MEL_HOP = 512
_N_MELS = 64
_MEL_FMIN_HZ = 20.0
_MEL_FMAX_HZ = 20000.0
_LOGMEL_FLOOR_DB = -100.0


def _stft_power_chunks(
    x: np.ndarray, n_fft: int, hop: int, chunk_values: int = 1 << 16
) -> Iterator[np.ndarray]:
    """Yield |STFT|^2 (float32) chunks (channels, frames, n_fft // 2 + 1), periodic Hann.

    Frames start at sample 0 of x (pad x first for centred frames). Chunks keep the working set
    in cache: on long files this is several times faster than one whole-file array.
    """
    frames = _frames(x, n_fft, hop)
    window = hann(n_fft).astype(np.float32)
    step = max(1, chunk_values // ((n_fft // 2 + 1) * x.shape[0]))
    for start in range(0, frames.shape[1], step):
        block = frames[:, start : start + step].astype(np.float32, copy=False) * window
        spec = scipy.fft.rfft(block, axis=-1)
        yield spec.real * spec.real + spec.imag * spec.imag


# ----------------------------------------------------------------------------------- align


def _mrstft_terms(est: np.ndarray, ref: np.ndarray, gains: tuple[float, ...]) -> list[float]:
    """MR-STFT distance of (gain * est) vs ref for each gain; est/ref (channels, samples)."""
    max_pad = max(MRSTFT_FFT_SIZES) // 2
    est_p, ref_p = _reflect_pad(est, max_pad), _reflect_pad(ref, max_pad)
    # Per-chunk float32 sums (pairwise summation) are accumulated in Python floats (float64).
    totals = [0.0] * len(gains)
    eps = np.float32(MAG_POWER_EPS)
    for n_fft in MRSTFT_FFT_SIZES:
        hop = n_fft // 4
        ref_sq = 0.0
        diff_sq = [0.0] * len(gains)
        log_abs = [0.0] * len(gains)
        count = 0
        chunks = zip(
            _stft_power_chunks(_centered(est_p, max_pad, n_fft), n_fft, hop),
            _stft_power_chunks(_centered(ref_p, max_pad, n_fft), n_fft, hop),
            strict=True,
        )
        for pe, pr in chunks:
            np.maximum(pr, eps, out=pr)
            log_r = np.log(pr)
            ref_sq += float(pr.sum())
            count += pr.size
            mag_r = np.sqrt(pr, out=pr)
            for i, gain in enumerate(gains):
                pg = pe * np.float32(gain * gain) if gain != 1.0 else pe.copy()
                np.maximum(pg, eps, out=pg)
                tmp = np.log(pg)
                tmp -= log_r
                log_abs[i] += float(np.abs(tmp, out=tmp).sum())
                np.sqrt(pg, out=pg)
                pg -= mag_r
                diff_sq[i] += float(np.square(pg, out=pg).sum())
        for i in range(len(gains)):
            # ln|X| = 0.5 ln|X|^2, hence the 0.5 on the summed log-power differences.
            totals[i] += math.sqrt(diff_sq[i] / max(ref_sq, 1e-30)) + 0.5 * log_abs[i] / count
    return [t / len(MRSTFT_FFT_SIZES) for t in totals]


def mrstft_distance(est: np.ndarray, ref: np.ndarray, sample_rate: float) -> float:
    """Multi-resolution STFT distance: spectral convergence + log-magnitude L1, mean over sizes.

    As auraloss ``MultiResolutionSTFTLoss`` (Yamamoto et al. 2019, arXiv:1910.11480) with FFT
    sizes 512/1024/2048, hop 1/4, periodic Hann, centred frames: per size
    ``||R|-|E||_F / ||R||_F + mean|ln|R| - ln|E||`` with ``|X| = sqrt(max(|X|^2, 1e-8))``.
    Channels are pooled (equal channel counts) or both are averaged to mono. Signals must be
    aligned and are trimmed to the shorter one; sample_rate is only validated.
    """
    e2, r2 = _pair_channels(
        as_audio_2d(est, "est", keep_float32=True), as_audio_2d(ref, "ref", keep_float32=True)
    )
    check_rate(sample_rate)
    n = min(e2.shape[1], r2.shape[1])
    return _mrstft_terms(e2[:, :n], r2[:, :n], (1.0,))[0]


def _best_gain(est: np.ndarray, ref: np.ndarray) -> float:
    """Least-squares gain g minimising ||ref - g est||^2 (1.0 if est is silent)."""
    energy = float(np.sum(np.square(est)))
    if energy <= 0.0:
        return 1.0
    return float(np.sum(est * ref)) / energy


# ----------------------------------------------------------------------------------- log-mel


def _mel_filterbank(sample_rate: float, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """HTK-mel triangles averaging power: (centre_freqs_hz (n_mels,), weights (n_mels, bins))."""
    fmax = min(_MEL_FMAX_HZ, 0.5 * sample_rate)
    fmin = min(_MEL_FMIN_HZ, 0.25 * fmax)

    def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), _N_MELS + 2))
    freqs = scipy.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (freqs[None, :] - lower) / (centre - lower)
    fall = (upper - freqs[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rise, fall))
    empty = weights.sum(axis=1) == 0.0
    if np.any(empty):  # bands narrower than a bin: take the nearest bin
        nearest = np.argmin(np.abs(freqs[None, :] - centre[empty]), axis=1)
        weights[np.flatnonzero(empty), nearest] = 1.0
    weights /= weights.sum(axis=1, keepdims=True)
    return edges[1:-1], weights.astype(np.float32)


def _logmel_frames(
    audio: np.ndarray, sample_rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-mel frames (dB) and frame levels (dBFS) of (channels, samples) audio, 2048/512.

    Returns (mel_freqs_hz (n_mels,), logmel_db (n_frames, n_mels), level_db (n_frames,)). Frames
    start at sample 0 (not centred); power is averaged over channels; a full-scale sine reads
    about 0 dB in its band peak bin; floored at -100 dB.
    """
    mel_freqs, weights = _mel_filterbank(sample_rate, _MEL_FRAME)
    window_sum = float(np.sum(hann(_MEL_FRAME)))
    # Sparse projection: a dense BLAS matmul per chunk is slow when BLAS threads compete.
    bank = scipy.sparse.csr_matrix(weights * np.float32(4.0 / window_sum**2 / audio.shape[0]))
    mel = np.concatenate(
        [(bank @ p.sum(axis=0).T).T for p in _stft_power_chunks(audio, _MEL_FRAME, _MEL_HOP)]
    )
    logmel = 10.0 * np.log10(np.maximum(mel, np.float32(10.0 ** (_LOGMEL_FLOOR_DB / 10.0))))
    level = frame_rms_db(audio, _MEL_FRAME, _MEL_HOP)
    return mel_freqs, logmel.astype(np.float64), level


def logmel_distance_db(est: np.ndarray, ref: np.ndarray, sample_rate: float) -> float:
    """Mean |difference| (dB) of 64-band log-mel frames (2048/512) of aligned est and ref."""
    e2, r2 = as_audio_2d(est, "est", keep_float32=True), as_audio_2d(ref, "ref", keep_float32=True)
    rate = check_rate(sample_rate)
    n = min(e2.shape[1], r2.shape[1])
    _, le, _ = _logmel_frames(e2[:, :n], rate)
    _, lr, _ = _logmel_frames(r2[:, :n], rate)
    return float(np.mean(np.abs(le - lr)))


# ----------------------------------------------------------------------------------- level bins


def _check_n_bins(n_bins: int) -> int:
    """Validate a number of level bins."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ParameterError(f"n_bins must be a positive integer, got {n_bins!r}.")
    return int(n_bins)


def _bin_spectra(
    logmel: np.ndarray, levels: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean log-mel per loudness-quantile bin of the active frames: (spectra_db, edges_db)."""
    mask = active_frames(levels)
    if not np.any(mask):
        raise AudioContentError(
            "no frame above -70 dBFS: level-binned spectra need non-silent audio."
        )
    active_levels = levels[mask]
    edges = np.quantile(active_levels, np.linspace(0.0, 1.0, n_bins + 1))
    which = np.clip(np.searchsorted(edges[1:-1], active_levels, side="right"), 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins).astype(np.float64)
    sums = np.zeros((n_bins, logmel.shape[1]))
    np.add.at(sums, which, logmel[mask])
    with np.errstate(invalid="ignore", divide="ignore"):
        spectra = sums / counts[:, None]
    spectra[counts == 0] = np.nan
    return spectra, edges


def level_binned_spectra(
    x: np.ndarray,
    sample_rate: float,
    *,
    n_bins: int = 4,
    ref_levels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean log-mel spectrum (dB) per loudness bin; returns (mel_freqs_hz, spectra_db, edges_db).

    Frames 2048/512 (starting at 0), silent frames gated out (`active_frames`), the rest binned
    by quantiles of the signal's own frame RMS (dBFS) or of ``ref_levels`` (one level per frame,
    e.g. the ground truth's or the input's, for paired comparisons). Shapes: (n_mels,),
    (n_bins, n_mels) with NaN rows for empty bins, (n_bins + 1,).
    """
    audio = as_audio_2d(x, keep_float32=True)
    rate = check_rate(sample_rate)
    bins = _check_n_bins(n_bins)
    mel_freqs, logmel, own_levels = _logmel_frames(audio, rate)
    levels = own_levels
    if ref_levels is not None:
        levels = np.asarray(ref_levels, dtype=np.float64)
        if levels.shape != own_levels.shape:
            raise ParameterError(
                f"ref_levels must hold one level per frame ({own_levels.size} frames of "
                f"{_MEL_FRAME}/{_MEL_HOP}), got shape {levels.shape}."
            )
    spectra, edges = _bin_spectra(logmel, levels, bins)
    return mel_freqs, spectra, edges


def frame_levels_db(x: np.ndarray, sample_rate: float) -> np.ndarray:
    """Frame RMS (dBFS) on the level-binned grid (2048/512 from sample 0), shape (n_frames,)."""
    audio = as_audio_2d(x, keep_float32=True)
    check_rate(sample_rate)
    return frame_rms_db(audio, _MEL_FRAME, _MEL_HOP)


def _level_binned_error(
    est_frames: tuple[np.ndarray, np.ndarray],
    ref_frames: tuple[np.ndarray, np.ndarray],
    n_bins: int,
    group_levels: np.ndarray | None,
) -> float:
    """Mean |dB| between level-binned spectra from precomputed (logmel, levels) pairs."""
    if group_levels is None:  # unpaired: each signal binned by its own levels
        se, _ = _bin_spectra(est_frames[0], est_frames[1], n_bins)
        sr_, _ = _bin_spectra(ref_frames[0], ref_frames[1], n_bins)
    else:
        n = min(est_frames[0].shape[0], ref_frames[0].shape[0], group_levels.size)
        se, _ = _bin_spectra(est_frames[0][:n], group_levels[:n], n_bins)
        sr_, _ = _bin_spectra(ref_frames[0][:n], group_levels[:n], n_bins)
    diff = np.abs(se - sr_)
    return float(np.nanmean(diff)) if np.any(np.isfinite(diff)) else float("nan")


def level_binned_error_db(
    est: np.ndarray,
    ref: np.ndarray,
    sample_rate: float,
    *,
    paired: bool,
    n_bins: int = 4,
    inp: np.ndarray | None = None,
    fmax_hz: float | None = None,
) -> float:
    """Mean |difference| (dB) of level-binned log-mel spectra of est and ref.

    ``paired=True``: est and ref are aligned; their frames are grouped by the loudness quantiles
    of ``inp`` (the input both came from, aligned with ref) when given, else of ref. Signals are
    trimmed to the shortest. ``paired=False``: each signal is binned by its own quantiles.
    ``fmax_hz``: only the mel bands centred up to it (where a lossy ref's spectrum ends).
    """
    e2, r2 = as_audio_2d(est, "est", keep_float32=True), as_audio_2d(ref, "ref", keep_float32=True)
    rate = check_rate(sample_rate)
    bins = _check_n_bins(n_bins)
    if paired:
        n = min(e2.shape[1], r2.shape[1])
        group_src = r2
        if inp is not None:
            i2 = as_audio_2d(inp, "inp", keep_float32=True)
            n = min(n, i2.shape[1])
            group_src = i2
        e2, r2 = e2[:, :n], r2[:, :n]
        group = frame_levels_db(group_src[:, :n], rate)
    elif inp is not None:
        raise ParameterError("inp is only used with paired=True; drop it or set paired=True.")
    mel_freqs, le, lev_e = _logmel_frames(e2, rate)
    _, lr, lev_r = _logmel_frames(r2, rate)
    if fmax_hz is not None:
        keep = mel_freqs <= fmax_hz
        if not np.any(keep):
            raise ParameterError(f"fmax_hz {fmax_hz} Hz is below every mel band "
                                 f"(the lowest is centred at {mel_freqs[0]:.0f} Hz).")
        le, lr = le[:, keep], lr[:, keep]
    return _level_binned_error((le, lev_e), (lr, lev_r), bins, group if paired else None)


# ----------------------------------------------------------------------------------- pitch
