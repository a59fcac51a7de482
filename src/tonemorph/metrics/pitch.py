"""Pitch: f0 tracks and the cents error between two renderings of one performance."""

from __future__ import annotations

import math
from typing import TypedDict

import numpy as np
import scipy.fft
import scipy.sparse

from tonemorph.dsp.checks import as_audio_2d, check_rate
from tonemorph.dsp.loudness import (
    active_frames,
    frame_rms_db,
)
from tonemorph.errors import ParameterError
from tonemorph.metrics._common import _frames, _mono
from tonemorph.metrics.sample import align

_PITCH_FRAME = 2048
_PITCH_HOP = 512
_PITCH_MAX_RATE_HZ = 48000.0
_SELF_AGREEMENT_SNR_DB = 30.0


def track_f0(
    x: np.ndarray,
    sample_rate: float,
    *,
    fmin_hz: float = 60.0,
    fmax_hz: float = 1200.0,
    threshold: float = 0.15,
    voicing_threshold: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:
    """YIN f0 track (Hz, NaN where unvoiced) and aperiodicity per frame (2048/512 from sample 0).

    YIN (de Cheveigné & Kawahara, JASA 2002): cumulative-mean-normalised difference d', first
    dip under ``threshold`` (else the global minimum) in [sr/fmax, sr/fmin], descended to its
    local minimum, parabolic refinement. A frame is voiced when d' there < voicing_threshold and
    the frame is active (`active_frames` at -60 dBFS absolute / -40 dB relative). Audio above
    48 kHz is decimated by an integer factor first; frame and hop stay 2048/512 at that rate.
    """
    audio = as_audio_2d(x, keep_float32=True)
    rate = check_rate(sample_rate)
    if not (0 < fmin_hz < fmax_hz):
        raise ParameterError(f"need 0 < fmin_hz < fmax_hz, got {fmin_hz!r} and {fmax_hz!r} Hz.")
    mono = _mono(audio)
    factor = int(math.ceil(rate / _PITCH_MAX_RATE_HZ))
    if factor > 1:
        from scipy.signal import resample_poly  # here: importing it costs a learn 0.4-0.7 s

        mono = resample_poly(mono, 1, factor)
        rate = rate / factor
    tau_min = max(2, int(math.floor(rate / fmax_hz)))
    tau_max = int(math.ceil(rate / fmin_hz))
    width = _PITCH_FRAME - tau_max
    if width < tau_max or tau_max + 2 > _PITCH_FRAME:
        raise ParameterError(
            f"fmin_hz={fmin_hz} Hz is too low for {_PITCH_FRAME}-sample frames at {rate:g} Hz."
        )
    if fmax_hz >= 0.5 * rate:
        raise ParameterError(f"fmax_hz must be below Nyquist ({0.5 * rate:g} Hz), got {fmax_hz!r}.")
    mono64 = mono.astype(np.float64)
    if mono64.size < _PITCH_FRAME:
        mono64 = np.pad(mono64, (0, _PITCH_FRAME - mono64.size))
    frames = _frames(mono64.astype(np.float32)[None, :], _PITCH_FRAME, _PITCH_HOP)[0]
    n_frames = frames.shape[0]
    f0 = np.full(n_frames, np.nan)
    aperiodicity = np.ones(n_frames)
    level = frame_rms_db(mono64, _PITCH_FRAME, _PITCH_HOP)
    active = active_frames(level, absolute_db=-60.0, relative_db=-40.0)
    # Energy terms of the difference function from one float64 cumulative sum of x^2; the
    # correlation term by FFT in float32 (ample for the dip, whose neighbours are far above eps).
    energy = np.concatenate([[0.0], np.cumsum(np.square(mono64))])
    taus = np.arange(tau_max + 1)
    chunk = 256
    for start in range(0, n_frames, chunk):
        idx = np.flatnonzero(active[start : start + chunk]) + start
        if idx.size == 0:
            continue
        fr = frames[idx]
        spec_full = scipy.fft.rfft(fr, axis=1)
        spec_head = scipy.fft.rfft(fr[:, :width], _PITCH_FRAME, axis=1)
        spec_full *= np.conj(spec_head)
        corr = scipy.fft.irfft(spec_full, _PITCH_FRAME, axis=1)[:, : tau_max + 1]
        first_sample = idx * _PITCH_HOP
        head_energy = energy[first_sample + width] - energy[first_sample]
        pos = first_sample[:, None] + taus[None, :]
        diff = (energy[pos + width] - energy[pos]).astype(np.float32)
        diff += head_energy[:, None].astype(np.float32)
        diff -= 2.0 * corr
        np.maximum(diff, 0.0, out=diff)
        diff[:, 0] = 0.0
        running = np.cumsum(diff[:, 1:], axis=1)
        cmndf = np.ones_like(diff)
        with np.errstate(invalid="ignore", divide="ignore"):
            cmndf[:, 1:] = np.where(running > 0, diff[:, 1:] * taus[1:] / running, 1.0)
        search = cmndf[:, tau_min : tau_max + 1]
        below = search < threshold
        first = np.where(below.any(axis=1), np.argmax(below, axis=1), np.argmin(search, axis=1))
        first += tau_min
        # Descend from the first dip to its local minimum.
        rising = cmndf[:, tau_min:tau_max] <= cmndf[:, tau_min + 1 : tau_max + 1]
        rising &= taus[None, tau_min:tau_max] >= first[:, None]
        has = rising.any(axis=1)
        best = np.where(has, np.argmax(rising, axis=1) + tau_min, tau_max)
        best = np.clip(best, tau_min, tau_max)
        rows = np.arange(idx.size)
        b = cmndf[rows, best]
        inner = (best > 1) & (best < tau_max)
        a = cmndf[rows, np.maximum(best - 1, 0)]
        c = cmndf[rows, np.minimum(best + 1, tau_max)]
        denom = a - 2.0 * b + c
        shift = np.where(inner & (denom > 0), 0.5 * (a - c) / np.where(denom > 0, denom, 1.0), 0.0)
        period = best + np.clip(shift, -1.0, 1.0)
        aperiodicity[idx] = b
        voiced = b < voicing_threshold
        f0[idx[voiced]] = rate / period[voiced]
    return f0, aperiodicity


def _fold_cents(cents: np.ndarray) -> np.ndarray:
    """Fold octave errors: map cents to [-600, 600)."""
    return np.mod(cents + 600.0, 1200.0) - 600.0


def _compare_tracks(f0_a: np.ndarray, f0_b: np.ndarray) -> np.ndarray:
    """Octave-folded cents of b relative to a on frames voiced in both."""
    n = min(f0_a.size, f0_b.size)
    a, b = f0_a[:n], f0_b[:n]
    both = np.isfinite(a) & np.isfinite(b)
    return _fold_cents(1200.0 * np.log2(b[both] / a[both]))


class PitchReport(TypedDict):
    """Result of `pitch_cents_error`."""

    median_abs_cents: float
    pct_within_50: float
    tracker_self_agreement: float
    n_frames: int


def pitch_cents_error(
    out: np.ndarray, inp: np.ndarray, sample_rate: float, *, align_first: bool = True
) -> PitchReport:
    """Pitch preservation of out vs inp (octave-folded cents), from `track_f0` on both.

    ``median_abs_cents`` and ``pct_within_50`` (%) are over frames voiced in both tracks;
    ``tracker_self_agreement`` (%) is the share of frames within 50 cents between the track of
    inp and of inp plus white noise at 30 dB SNR (seed 0): how far the tracker itself can be
    trusted on this material (chords and slides lower it). NaN when no frame is voiced in both.
    """
    o2, i2 = as_audio_2d(out, "out", keep_float32=True), as_audio_2d(inp, "inp", keep_float32=True)
    rate = check_rate(sample_rate)
    if align_first:
        o2, i2, _ = align(o2, i2, rate)
    f0_in, _ = track_f0(i2, rate)
    f0_out, _ = track_f0(o2, rate)
    cents = _compare_tracks(f0_in, f0_out)
    mono = _mono(i2)
    rms = math.sqrt(float(np.mean(np.square(mono))))
    noise = np.random.default_rng(0).standard_normal(mono.size)
    noisy = mono + noise * rms * 10.0 ** (-_SELF_AGREEMENT_SNR_DB / 20.0)
    f0_noisy, _ = track_f0(noisy, rate)
    self_cents = _compare_tracks(f0_in, f0_noisy)
    nan = float("nan")
    return PitchReport(
        median_abs_cents=float(np.median(np.abs(cents))) if cents.size else nan,
        pct_within_50=float(100.0 * np.mean(np.abs(cents) <= 50.0)) if cents.size else nan,
        tracker_self_agreement=(
            float(100.0 * np.mean(np.abs(self_cents) <= 50.0)) if self_cents.size else nan
        ),
        n_frames=int(cents.size),
    )


# ----------------------------------------------------------------------------------- score
