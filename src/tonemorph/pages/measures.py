"""Audio measurements for the two reports: excerpts, loudness matching, level/crest distributions,
unpaired distances between two recordings, and compact audio encoding.

Pure numpy/scipy/soundfile. Audio is mono float (samples,) here; the report mixes files down.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import scipy.stats
import soundfile as sf

from tonemorph.dsp import loudness
from tonemorph.dsp.loudness import (
    active_frames,
    crest_factor_db,
    frame_rms_db,
    integrated_lufs,
    peak_over_rms_db,
)
from tonemorph.dsp.units import gain_to_db
from tonemorph.errors import AudioContentError, ParameterError
from tonemorph.metrics import level_binned_error_db, level_binned_spectra

__all__ = [
    "AUDIO_FORMATS",
    "SHORT_TERM_S",
    "excerpt_window",
    "match_loudness",
    "short_term_levels_db",
    "window_crest_db",
    "signal_stats",
    "true_peak_dbtp",
    "unpaired_distances",
    "encode_audio",
    "data_uri",
]

SHORT_TERM_S = 0.4  # window of the short-term level and crest distributions (BS.1770 momentary)
SHORT_TERM_HOP_S = 0.1
EXCERPT_FRAME_S = 0.1
HEADROOM_DBFS = -1.0  # loudness matching leaves every excerpt's sample peak at or below this
MATCH_LUFS_MAX = -16.0

#: Player formats: soundfile (format, subtype) and MIME type. FLAC is lossless, Ogg Vorbis small.
AUDIO_FORMATS: dict[str, tuple[str, str, str]] = {
    "flac": ("FLAC", "PCM_16", "audio/flac"),
    "wav": ("WAV", "PCM_16", "audio/wav"),
    "ogg": ("OGG", "VORBIS", "audio/ogg"),
}


def _mono(x: np.ndarray) -> np.ndarray:
    """1-D float view of mono audio (float32 stays float32); rejects other shapes."""
    a = np.asarray(x)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 1 or a.size == 0:
        raise ParameterError(f"expected mono audio (samples,), got shape {np.shape(x)}")
    return a


def excerpt_window(x: np.ndarray, sample_rate: float, seconds: float) -> tuple[int, int]:
    """(start, stop) samples of the `seconds`-long window of x with the most active 100 ms frames.

    Ties go to the louder window; the whole signal when it is shorter than `seconds`.
    """
    a = _mono(x)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ParameterError(f"excerpt length must be a positive number of seconds, got {seconds}")
    n = int(round(seconds * sample_rate))
    if a.size <= n:
        return 0, a.size
    frame = max(1, int(round(EXCERPT_FRAME_S * sample_rate)))
    levels = frame_rms_db(a, frame, frame)
    active = active_frames(levels).astype(np.float64)
    power = np.where(active > 0, 10.0 ** (levels / 10.0), 0.0)
    k = max(1, n // frame)
    if levels.size <= k:
        return 0, n
    c_act = np.concatenate([[0.0], np.cumsum(active)])
    c_pow = np.concatenate([[0.0], np.cumsum(power)])
    count = c_act[k:] - c_act[:-k]
    # active-frame count first, mean power as the tie-breaker (scaled below one frame)
    mean_pow = (c_pow[k:] - c_pow[:-k]) / k
    score = count + 0.5 * mean_pow / max(float(mean_pow.max()), 1e-30)
    start = int(np.argmax(score)) * frame
    start = min(start, a.size - n)
    return start, start + n


def _scale_to_lufs(x: np.ndarray, sample_rate: float, lufs: float) -> np.ndarray:
    """x scaled to an integrated loudness (LUFS); iterated because gating is not gain-linear."""
    y = x
    for _ in range(4):
        err = lufs - integrated_lufs(y, sample_rate)
        if abs(err) < 0.005:
            break
        y = y * 10.0 ** (err / 20.0)
    return y


def match_loudness(excerpts: list[np.ndarray], sample_rate: float) -> tuple[list[np.ndarray],
                                                                           float]:
    """Scale excerpts to one integrated loudness (LUFS); returns (scaled, lufs).

    The common loudness is MATCH_LUFS_MAX or lower, so that no excerpt's sample peak exceeds
    HEADROOM_DBFS (no clipping when written as 16-bit).
    """
    if not excerpts:
        raise ParameterError("no excerpts to loudness-match")
    monos = [_mono(e) for e in excerpts]
    lufs = [integrated_lufs(m, sample_rate) for m in monos]
    for lv in lufs:
        if lv <= -70.0:
            raise AudioContentError("an excerpt is silent; loudness matching needs audible audio")
    peaks = [20.0 * math.log10(float(np.max(np.abs(m)))) for m in monos]
    crest = [p - lv for p, lv in zip(peaks, lufs, strict=True)]
    target = min([MATCH_LUFS_MAX] + [HEADROOM_DBFS - c for c in crest])
    for _ in range(3):
        scaled = [_scale_to_lufs(m, sample_rate, target) for m in monos]
        over = max(20.0 * math.log10(float(np.max(np.abs(s)))) for s in scaled) - HEADROOM_DBFS
        if over <= 0.0:
            break
        target -= over + 0.01
    return scaled, float(target)


def _windows(a: np.ndarray, sample_rate: float) -> tuple[int, int]:
    """Window and hop (samples) of the short-term measures."""
    return (max(1, int(round(SHORT_TERM_S * sample_rate))),
            max(1, int(round(SHORT_TERM_HOP_S * sample_rate))))


def short_term_levels_db(x: np.ndarray, sample_rate: float) -> np.ndarray:
    """RMS level (dBFS) of the active 400 ms windows (100 ms hop) of x."""
    a = _mono(x)
    win, hop = _windows(a, sample_rate)
    levels = frame_rms_db(a, win, hop)
    return levels[active_frames(levels)]


def window_crest_db(x: np.ndarray, sample_rate: float) -> np.ndarray:
    """Crest factor (dB, sample peak over RMS) of the active 400 ms windows (100 ms hop) of x."""
    a = _mono(x)
    win, hop = _windows(a, sample_rate)
    if a.size < win:
        a = np.pad(a, (0, win - a.size))
    frames = np.lib.stride_tricks.sliding_window_view(a, win)[::hop]
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    peak = np.max(np.abs(frames), axis=1)
    mask = active_frames(gain_to_db(rms)) & (rms > 0)
    return 20.0 * np.log10(peak[mask] / rms[mask])


def true_peak_dbtp(x: np.ndarray, sample_rate: float, *, chunk: int = 1 << 20) -> float:
    """True peak (dBTP) of mono audio: `tonemorph.dsp.loudness.true_peak_dbtp`, fed in chunks.

    ``chunk`` samples go to the meter at a time (bounded memory); the result is the same for
    any chunk.
    """
    return loudness.true_peak_dbtp(_mono(x), sample_rate, block=chunk)


def signal_stats(x: np.ndarray, sample_rate: float) -> dict[str, float]:
    """Loudness (LUFS), true peak (dBTP), crest (dB), loudness range (dB, p95 - p10 short-term)."""
    a = _mono(x)
    st = short_term_levels_db(a, sample_rate)
    return {
        "lufs": integrated_lufs(a, sample_rate),
        "true_peak_dbtp": true_peak_dbtp(a, sample_rate),
        "crest_db": crest_factor_db(a, sample_rate),
        "range_db": float(np.percentile(st, 95) - np.percentile(st, 10)) if st.size else 0.0,
    }


def _long_term_logmel_db(a: np.ndarray, sample_rate: float,
                         fmax_hz: float | None = None) -> np.ndarray:
    """Mean log-mel spectrum (dB) of the active frames (the one-bin level-binned spectrum), in
    the bands centred up to fmax_hz (all when None)."""
    mel_hz, spectra, _ = level_binned_spectra(a, sample_rate, n_bins=1)
    return spectra[0] if fmax_hz is None else spectra[0][mel_hz <= fmax_hz]


def unpaired_distances(est: np.ndarray, ref: np.ndarray, sample_rate: float, *,
                       fmax_hz: float | None = None) -> dict[str, float]:
    """Distances (no alignment: different notes) between two recordings at one rate.

    Keys: level_binned_db (mean |dB|, each binned by its own loudness quartiles), logmel_db
    (mean |dB| of the long-term log-mel spectra), lufs_diff (LU, est - ref), crest_diff_db
    (dB, est - ref), peaks_diff_db (dB, est - ref, `peak_over_rms_db`: how far the attacks
    stand over the level), short_term_w1_db / crest_w1_db (1-D Wasserstein distances, dB, of
    the short-term level and crest distributions). ``fmax_hz``: the spectra compared only up to
    it (where a lossy ref's spectrum ends: above, the codec's cut is no difference of tone).
    """
    e, r = _mono(est), _mono(ref)
    return {
        "level_binned_db": level_binned_error_db(e, r, sample_rate, paired=False,
                                                 fmax_hz=fmax_hz),
        "logmel_db": float(np.mean(np.abs(_long_term_logmel_db(e, sample_rate, fmax_hz)
                                          - _long_term_logmel_db(r, sample_rate, fmax_hz)))),
        "lufs_diff": integrated_lufs(e, sample_rate) - integrated_lufs(r, sample_rate),
        "crest_diff_db": crest_factor_db(e, sample_rate) - crest_factor_db(r, sample_rate),
        "peaks_diff_db": peak_over_rms_db(e, sample_rate) - peak_over_rms_db(r, sample_rate),
        "short_term_w1_db": float(scipy.stats.wasserstein_distance(
            short_term_levels_db(e, sample_rate), short_term_levels_db(r, sample_rate))),
        "crest_w1_db": float(scipy.stats.wasserstein_distance(
            window_crest_db(e, sample_rate), window_crest_db(r, sample_rate))),
    }


def encode_audio(x: np.ndarray, sample_rate: int, fmt: str = "flac") -> bytes:
    """Encode mono audio (full scale 1) as a file in memory: flac / wav (16-bit) or ogg."""
    if fmt not in AUDIO_FORMATS:
        raise ParameterError(f"audio format must be one of {list(AUDIO_FORMATS)}, got {fmt!r}")
    container, subtype, _ = AUDIO_FORMATS[fmt]
    buf = io.BytesIO()
    a = np.clip(_mono(x), -1.0, 1.0).astype(np.float32)
    sf.write(buf, a, int(sample_rate), format=container, subtype=subtype)
    return buf.getvalue()


def data_uri(payload: bytes, mime: str) -> str:
    """A base64 data: URI for payload bytes."""
    return f"data:{mime};base64," + base64.b64encode(payload).decode("ascii")
