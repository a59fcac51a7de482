"""Static match-EQ: the long-term-spectrum baseline every result is shown beside (DESIGN.md §5).

x (the user's take) is filtered so its long-term average spectrum matches y's (the example), then
its active-part RMS is matched to y's. Also the learner's initial EQ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from tonemorph.dsp.checks import as_audio_2d, check_rate
from tonemorph.dsp.designs import hann
from tonemorph.dsp.fir import (
    linear_phase_from_magnitude,
    minimum_phase_from_magnitude,
    smooth_log_spectrum,
)
from tonemorph.dsp.loudness import DB_FLOOR, active_frames, frame_rms_db
from tonemorph.errors import AudioContentError, ParameterError

__all__ = [
    "long_term_spectrum_db",
    "mean_log_spectrum_db",
    "match_eq_curve_db",
    "match_eq_fir",
    "apply_match_eq",
    "active_rms_db",
]

_RELATIVE_FLOOR_DB = -120.0  # spectra are floored this far below their maximum before the ratio
_GATE_FRAME_S = 0.05


def _check_pos_int(value: int, name: str, minimum: int = 1) -> int:
    """Validate an integer parameter >= minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def long_term_spectrum_db(
    x: np.ndarray, sample_rate: float, *, n_fft: int = 4096, name: str = "x"
) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectrum (dB, arbitrary reference) averaged over x's non-silent frames.

    Hann frames of n_fft with 50 % overlap; per-frame power is averaged over channels; frames
    are kept by `active_frames` on their own RMS. Returns (freqs_hz (n_fft//2+1,), power_db).
    """
    audio = as_audio_2d(x, name)
    rate = check_rate(sample_rate)
    n = _check_pos_int(n_fft, "n_fft", 16)
    hop = n // 2
    if audio.shape[1] < n:
        audio = np.pad(audio, ((0, 0), (0, n - audio.shape[1])))
    frames = np.lib.stride_tricks.sliding_window_view(audio, n, axis=-1)[:, ::hop]
    level = 10.0 * np.log10(np.maximum(np.mean(np.square(frames), axis=(0, 2)), 1e-30))
    mask = active_frames(level)
    if not np.any(mask):
        raise AudioContentError(
            f"{name} is silent (no frame above -70 dBFS); a spectrum cannot be matched to it."
        )
    window = hann(n)
    power = np.zeros(n // 2 + 1)
    chunk = 256
    active_idx = np.flatnonzero(mask)
    for start in range(0, active_idx.size, chunk):
        sel = frames[:, active_idx[start : start + chunk]] * window
        spec = np.fft.rfft(sel, axis=-1)
        power += np.sum(spec.real**2 + spec.imag**2, axis=(0, 1))
    power /= active_idx.size * audio.shape[0]
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    return freqs, 10.0 * np.log10(np.maximum(power, 1e-300))


def mean_log_spectrum_db(x: np.ndarray, sample_rate: float, *, n_fft: int = 4096,
                         hop: int | None = None, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Mean over active frames of the frame power spectrum in dB (a geometric-mean spectrum).

    Hann frames of n_fft, hop n_fft/2 (or `hop`), channels' power summed, silent frames gated out
    (`active_frames`). Averaging dB rather than power keeps a few loud events (a cymbal
    crash, a kick) from setting the balance of the whole track, as listeners weigh it.
    Returns (freqs_hz, spectrum_db).
    """
    audio = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if audio.shape[1] < n_fft:
        audio = np.pad(audio, ((0, 0), (0, n_fft - audio.shape[1])))
    hop = n_fft // 2 if hop is None else int(hop)
    n_frames = 1 + (audio.shape[1] - n_fft) // hop
    window = hann(n_fft)
    level = frame_rms_db(audio, n_fft, hop)[:n_frames]
    active = np.flatnonzero(active_frames(level))
    if active.size == 0:
        raise ParameterError("the audio is silent: no spectrum to match")
    total = np.zeros(n_fft // 2 + 1)
    for start in range(0, active.size, chunk):
        idx = active[start : start + chunk]
        frames = np.stack([audio[:, i * hop : i * hop + n_fft] for i in idx], axis=1) * window
        spec = np.fft.rfft(frames, axis=-1)
        power = np.sum(spec.real**2 + spec.imag**2, axis=0)
        total += np.sum(10.0 * np.log10(power + 1e-20), axis=0)
    return np.fft.rfftfreq(n_fft, 1.0 / sample_rate), total / active.size


def match_eq_curve_db(
    x: np.ndarray,
    y: np.ndarray,
    sample_rate: float,
    *,
    n_fft: int = 4096,
    smoothing_octaves: float = 1.0 / 6.0,
    max_gain_db: float = 24.0,
) -> tuple[np.ndarray, np.ndarray]:
    """EQ curve (dB) taking x's long-term spectrum to y's; returns (freqs_hz, curve_db).

    Ratio of the gated Welch spectra (`long_term_spectrum_db`), fractional-octave smoothed
    (``smoothing_octaves``, power domain), clamped to ±max_gain_db around the broadband level
    difference (so a large level offset does not flatten the shape). Each spectrum is floored
    120 dB below its maximum first. The curve includes the level difference y - x.
    """
    if not (np.isfinite(max_gain_db) and max_gain_db > 0):
        raise ParameterError(f"max_gain_db must be a positive number of dB, got {max_gain_db!r}.")
    freqs, px_db = long_term_spectrum_db(x, sample_rate, n_fft=n_fft, name="x")
    _, py_db = long_term_spectrum_db(y, sample_rate, n_fft=n_fft, name="y")
    smoothed = []
    totals = []
    for p_db in (px_db, py_db):
        peak = float(p_db.max())
        p_db = np.maximum(p_db, peak + _RELATIVE_FLOOR_DB)
        totals.append(peak + 10.0 * np.log10(np.sum(10.0 ** ((p_db - peak) / 10.0))))
        smoothed.append(smooth_log_spectrum(p_db, freqs, smoothing_octaves, domain="power"))
    level_db = totals[1] - totals[0]
    curve = np.clip(smoothed[1] - smoothed[0], level_db - max_gain_db, level_db + max_gain_db)
    return freqs, curve


def match_eq_fir(
    x: np.ndarray,
    y: np.ndarray,
    sample_rate: float,
    *,
    n_taps: int = 4096,
    phase: Literal["linear", "minimum"] = "linear",
    n_fft: int = 4096,
    smoothing_octaves: float = 1.0 / 6.0,
    max_gain_db: float = 24.0,
) -> np.ndarray:
    """FIR (n_taps,) realising `match_eq_curve_db`; linear phase delays by n_taps // 2 samples."""
    taps = _check_pos_int(n_taps, "n_taps")
    if phase not in ("linear", "minimum"):
        raise ParameterError(f"phase must be 'linear' or 'minimum', got {phase!r}.")
    _, curve = match_eq_curve_db(
        x,
        y,
        sample_rate,
        n_fft=n_fft,
        smoothing_octaves=smoothing_octaves,
        max_gain_db=max_gain_db,
    )
    if phase == "linear":
        return linear_phase_from_magnitude(curve, taps)
    return minimum_phase_from_magnitude(curve, taps)


def active_rms_db(x: np.ndarray, sample_rate: float) -> float:
    """RMS (dBFS) of x's active part: 50 ms frames passing `active_frames`; DB_FLOOR if silent."""
    audio = as_audio_2d(x)
    rate = check_rate(sample_rate)
    frame = max(1, int(round(_GATE_FRAME_S * rate)))
    levels = frame_rms_db(audio, frame, frame)
    mask = active_frames(levels)
    if not np.any(mask):
        return DB_FLOOR
    return float(10.0 * np.log10(np.mean(10.0 ** (levels[mask] / 10.0))))


def apply_match_eq(
    x: np.ndarray,
    y: np.ndarray,
    sample_rate: float,
    *,
    n_taps: int = 4096,
    phase: Literal["linear", "minimum"] = "linear",
    n_fft: int = 4096,
    smoothing_octaves: float = 1.0 / 6.0,
    max_gain_db: float = 24.0,
    match_level: bool = True,
) -> np.ndarray:
    """Static match-EQ of x towards y: FIR-filter x, then match its active RMS to y's.

    Output has x's shape and dtype (float32 stays float32); the linear-phase delay is removed so
    the output lines up with x. ``match_level=False`` skips the RMS match.
    """
    audio = as_audio_2d(x, "x")
    ir = match_eq_fir(
        audio,
        y,
        sample_rate,
        n_taps=n_taps,
        phase=phase,
        n_fft=n_fft,
        smoothing_octaves=smoothing_octaves,
        max_gain_db=max_gain_db,
    )
    delay = ir.size // 2 if phase == "linear" else 0
    n = audio.shape[1]
    import scipy.signal  # here: importing it costs 0.4 s

    filtered = scipy.signal.oaconvolve(audio, ir[None, :], mode="full", axes=-1)
    out = filtered[:, delay : delay + n]
    if match_level:  # the curve's broadband gain is replaced by an active-RMS match
        out_db = active_rms_db(out, sample_rate)
        if out_db > DB_FLOOR:
            out = out * 10.0 ** ((active_rms_db(y, sample_rate) - out_db) / 20.0)
    result = out.reshape(np.shape(x))
    in_dtype = np.asarray(x).dtype
    if np.issubdtype(in_dtype, np.floating):
        return result.astype(in_dtype, copy=False)
    return result


def fit_match_eq(
    x_fit: np.ndarray, y: np.ndarray, sample_rate: float, *, n_taps: int = 4096
) -> Callable[[np.ndarray], np.ndarray]:
    """Static match-EQ learned from (x_fit, y) like a model: returns a function applying it.

    The linear-phase FIR and the RMS gain are fixed from x_fit, so a new take gets the same
    curve and gain (unlike `apply_match_eq`, which re-fits on the signal it processes).
    """
    ir = match_eq_fir(x_fit, y, sample_rate, n_taps=n_taps)
    delay = len(ir) // 2

    def filt(x: np.ndarray) -> np.ndarray:
        a = as_audio_2d(x, "x")
        import scipy.signal

        return scipy.signal.oaconvolve(a, ir[None], axes=-1)[:, delay: delay + a.shape[1]]

    gain = 10 ** ((active_rms_db(y, sample_rate) - active_rms_db(filt(x_fit), sample_rate)) / 20)
    return lambda x: (filt(x) * gain).astype(np.float32)
