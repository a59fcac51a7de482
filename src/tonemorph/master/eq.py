"""Spectral balance per mid and side: smooth match curves, FIR design, streaming FIR filtering."""

from __future__ import annotations

import math

import numpy as np

from tonemorph.dsp.designs import hann
from tonemorph.dsp.fir import (
    linear_phase_from_magnitude,
    minimum_phase_from_magnitude,
    smooth_log_spectrum,
)
from tonemorph.dsp.matcheq import mean_log_spectrum_db
from tonemorph.errors import ParameterError

__all__ = [
    "CURVE_BANDS_HZ",
    "MATCH_BANDS_HZ",
    "REPORT_BANDS_HZ",
    "FirStream",
    "SpectrumAccumulator",
    "band_shape_db",
    "band_values",
    "centre_curve",
    "consistent_curve_bands_db",
    "curve_from_spectra",
    "curve_on_grid",
    "design_fir",
    "match_curve_db",
    "mean_log_spectrum_db",
    "section_band_spectra_db",
]

#: Octave bands (Hz) the report gives the EQ curves at.
REPORT_BANDS_HZ = (31.5, 63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)
#: Third-octave centres (Hz, 20 Hz..20 kHz) the report draws the EQ curves at.
CURVE_BANDS_HZ = tuple(round(1000.0 * 2.0 ** (k / 3.0), 1) for k in range(-17, 11))

_N_FFT = 4096
_LOW_HOLD_HZ = 30.0  # below this (and above 0.9 Nyquist or 18 kHz) the curve is held flat:
_HIGH_HOLD_HZ = 18000.0  # long-term spectra there are mostly noise floor and rumble


def centre_curve(freqs: np.ndarray, curve_db: np.ndarray, power_db: np.ndarray) -> np.ndarray:
    """Shift a curve (dB) so a signal with long-term power spectrum power_db keeps its power."""
    weight = 10.0 ** ((power_db - np.max(power_db)) / 10.0)
    gain = float(np.sum(weight * 10.0 ** (curve_db / 10.0)) / np.sum(weight))
    return curve_db - 10.0 * math.log10(gain)


def match_curve_db(
    x: np.ndarray,
    y: np.ndarray,
    sample_rate: float,
    *,
    smoothing_octaves: float = 1.0 / 3.0,
    max_gain_db: float = 12.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth EQ curve (dB, rfft grid of 4096) giving x y's spectral balance at x's power.

    The difference of the fractional-octave smoothed mean log spectra (`mean_log_spectrum_db`),
    with its broadband level removed (loudness is matched elsewhere), held flat below 30 Hz
    and above 18 kHz, and clamped to ±max_gain_db. Returns (freqs_hz, curve_db).
    """
    if not (math.isfinite(max_gain_db) and max_gain_db > 0):
        raise ParameterError(f"max_gain_db must be a positive number of dB, got {max_gain_db!r}.")
    freqs, sx = mean_log_spectrum_db(x, sample_rate)
    _, sy = mean_log_spectrum_db(y, sample_rate)
    return freqs, curve_from_spectra(freqs, sx, sy, sample_rate,
                                     smoothing_octaves=smoothing_octaves,
                                     max_gain_db=max_gain_db)


def design_fir(curve_db: np.ndarray, n_taps: int, phase: str) -> tuple[np.ndarray, int]:
    """FIR for an rfft-grid curve (dB): (ir, latency in samples); linear phase delays taps//2."""
    if phase == "linear":
        return linear_phase_from_magnitude(curve_db, n_taps), n_taps // 2
    if phase == "minimum":
        return minimum_phase_from_magnitude(curve_db, n_taps), 0
    raise ParameterError(f"phase must be 'minimum' or 'linear', got {phase!r}.")


def band_values(freqs: np.ndarray, curve_db: np.ndarray, bands_hz=REPORT_BANDS_HZ) -> list[float]:
    """The curve (dB) at each band centre (Hz), interpolated in log frequency."""
    f = np.maximum(np.asarray(freqs, dtype=np.float64), 1e-3)
    return [float(np.interp(math.log(b), np.log(f), curve_db)) for b in bands_hz]


class FirStream:
    """Streaming FIR, one IR per channel, by overlap-save with the IRs' spectra computed once.

    ``irs`` is (channels, taps); `process` takes (channels, n) blocks of any size.
    """

    def __init__(self, irs: np.ndarray):
        h = np.asarray(irs, dtype=np.float64)
        if h.ndim != 2 or h.shape[1] < 1:
            raise ParameterError(f"irs must be (channels, taps), got {h.shape}.")
        self.channels, self.taps = h.shape
        self.n_fft = 1 << int(math.ceil(math.log2(4 * self.taps)))
        self.step = self.n_fft - self.taps + 1
        self._spec = np.fft.rfft(h, self.n_fft, axis=-1)
        self._hist = np.zeros((self.channels, self.taps - 1))

    def process(self, x: np.ndarray) -> np.ndarray:
        """Filter a (channels, n) block; returns (channels, n) float64."""
        block = np.asarray(x, dtype=np.float64)
        n = block.shape[1]
        ext = np.concatenate([self._hist, block], axis=1)
        m = self.taps - 1
        self._hist = ext[:, ext.shape[1] - m :] if m else ext[:, :0]
        out = np.empty((self.channels, n))
        for start in range(0, n, self.step):
            stop = min(start + self.step, n)
            seg = ext[:, start : stop + m]
            y = np.fft.irfft(np.fft.rfft(seg, self.n_fft, axis=-1) * self._spec,
                             self.n_fft, axis=-1)
            out[:, start:stop] = y[:, m : m + stop - start]
        return out


class SpectrumAccumulator:
    """Streaming `mean_log_spectrum_db` of a whole file, of its mid and (stereo) side.

    Frames of n_fft, hop n_fft (no overlap: half the FFTs of the offline function's default,
    for the same mean), from sample 0 (a partial last frame is dropped). Each frame's
    log power spectrum is summed into a 1 dB bin of the frame's level, so the silence gate of
    `active_frames` (absolute -70 dB, relative -40 dB) can be applied at the end without keeping
    the frames. Memory: two (n_levels, n_fft/2+1) sums, whatever the length.
    """

    _LEVELS = 131  # frame levels -130..0 dBFS (and above, clamped)

    def __init__(self, sample_rate: float, channels: int, n_fft: int = _N_FFT):
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        self.n_fft = int(n_fft)
        self._window = hann(self.n_fft)
        bins = self.n_fft // 2 + 1
        self._parts = 2 if channels == 2 else 1
        self._log = np.zeros((self._parts, self._LEVELS, bins))
        self._count = np.zeros(self._LEVELS)
        self._power = np.zeros(self._LEVELS)
        self._buf = np.zeros((channels, 0))

    def add(self, x: np.ndarray) -> None:
        """Feed a (channels, n) block."""
        x = np.asarray(x, dtype=np.float64)
        buf = np.concatenate([self._buf, x], axis=1) if self._buf.shape[1] else x
        n_frames = buf.shape[1] // self.n_fft  # hop n_fft: the frames tile the buffer
        used = n_frames * self.n_fft
        if n_frames:
            frames = buf[:, :used].reshape(self.channels, n_frames, self.n_fft)
            # few temporaries: glibc hands each one this size back to the system when freed,
            # and the next block faults its pages in again (about half of this pass's time in a
            # whole master, bench/results/master_speed.md)
            power = np.einsum("cfn,cfn->f", frames, frames) / (self.channels * self.n_fft)
            with np.errstate(divide="ignore"):
                level = 10.0 * np.log10(power)
            idx = np.clip(np.round(level + 130.0), 0, self._LEVELS - 1).astype(np.int64)
            idx[~np.isfinite(level)] = 0
            # unbuffered adds in frame order: the sums a per-frame loop gives, bit for bit
            np.add.at(self._count, idx, 1.0)
            np.add.at(self._power, idx, power)
            if self.channels == 2:  # mid and side (x 0.5 in the window), each made in turn
                parts = (op(frames[0], frames[1]) for op in (np.add, np.subtract))
                window = 0.5 * self._window
            else:
                parts = iter([frames.mean(axis=0)])
                window = self._window
            for k, part in enumerate(parts):
                part *= window
                spec = np.fft.rfft(part, axis=-1)
                logp = np.square(spec.real)
                logp += np.square(spec.imag)
                logp += 1e-20
                np.log10(logp, out=logp)
                logp *= 10.0
                for row, frame_log in zip(idx, logp):  # np.add.at on rows is 10x slower
                    self._log[k, row] += frame_log
        self._buf = buf[:, used:].copy()  # not a view of the caller's block

    def merge(self, other: SpectrumAccumulator) -> SpectrumAccumulator:
        """The two accumulations pooled (same rate, channels and n_fft)."""
        if (other.sample_rate, other.channels, other.n_fft) != (
            self.sample_rate, self.channels, self.n_fft
        ):
            raise ParameterError("spectra of different rates or channel counts cannot be pooled")
        out = SpectrumAccumulator(self.sample_rate, self.channels, self.n_fft)
        out._log = self._log + other._log
        out._count = self._count + other._count
        out._power = self._power + other._power
        return out

    def mean_log_db(self, part: str = "mid") -> tuple[np.ndarray, np.ndarray]:
        """(freqs_hz, mean log spectrum dB) of the active frames' "mid" or "side"."""
        k = 0 if part == "mid" else 1
        if k >= self._parts:
            raise ParameterError("a mono file has no side spectrum")
        levels = np.arange(self._LEVELS) - 130.0
        above = (levels > -70.0) & (self._count > 0)
        if not np.any(above):
            raise ParameterError("the audio is silent: no spectrum to match")
        mean_db = 10.0 * np.log10(self._power[above].sum() / self._count[above].sum())
        active = above & (levels > mean_db - 40.0)
        spectrum = self._log[k][active].sum(axis=0) / self._count[active].sum()
        return np.fft.rfftfreq(self.n_fft, 1.0 / self.sample_rate), spectrum


def curve_from_spectra(
    freqs: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    sample_rate: float,
    *,
    smoothing_octaves: float = 1.0 / 6.0,
    max_gain_db: float = 12.0,
) -> np.ndarray:
    """EQ curve (dB) from mean log spectra sx (mix) and sy (reference), as `match_curve_db`."""
    curve = (smooth_log_spectrum(sy, freqs, smoothing_octaves, domain="db")
             - smooth_log_spectrum(sx, freqs, smoothing_octaves, domain="db"))
    hi_hold = min(_HIGH_HOLD_HZ, 0.9 * sample_rate / 2)
    lo_i = int(np.searchsorted(freqs, _LOW_HOLD_HZ))
    hi_i = int(np.searchsorted(freqs, hi_hold))
    curve[:lo_i] = curve[lo_i]
    curve[hi_i:] = curve[hi_i - 1]
    curve = centre_curve(freqs, curve, sx)
    return np.clip(curve, -max_gain_db, max_gain_db)


# ----------------------------------------------------------------- processing, not content

#: Third-octave centres (Hz) the consistent match is estimated on (31.5 Hz..16 kHz).
MATCH_BANDS_HZ = tuple(1000.0 * 2.0 ** (k / 3.0) for k in range(-15, 13))
_BUMP_CENTRES_HZ = tuple(62.5 * 2.0 ** k for k in range(9))  # 62.5 Hz .. 16 kHz, octaves
_BUMP_WIDTH_OCT = 2.0  # raised cosines two octaves wide at one-octave spacing: a partition of 1


def section_band_spectra_db(x: np.ndarray, sample_rate: float, *, section_s: float = 2.5
                            ) -> np.ndarray:
    """Third-octave shape (dB) of each section_s-second section of a 1-D signal.

    Rows are sections with sound (`mean_log_spectrum_db` per section, smoothed to 1/3 octave,
    read at MATCH_BANDS_HZ), each with its own mean over the bands removed: only the balance
    counts, not the level. Shape (n_sections, len(MATCH_BANDS_HZ)); at least one row.
    """
    audio = np.asarray(x, dtype=np.float64)
    n = max(_N_FFT * 2, int(round(section_s * sample_rate)))
    rows = []
    for start in range(0, max(1, audio.shape[-1] - n // 2), n):
        part = audio[..., start : start + n]
        if part.shape[-1] < _N_FFT:
            continue
        try:
            rows.append(band_shape_db(*mean_log_spectrum_db(part, sample_rate)))
        except ParameterError:
            continue  # a silent section says nothing about the balance
    if not rows:
        rows.append(band_shape_db(*mean_log_spectrum_db(audio, sample_rate)))
    return np.stack(rows)


def band_shape_db(freqs: np.ndarray, spectrum_db: np.ndarray) -> np.ndarray:
    """A mean log spectrum (dB) at MATCH_BANDS_HZ, 1/3-octave smoothed, its band mean removed."""
    smooth = smooth_log_spectrum(spectrum_db, freqs, 1.0 / 3.0, domain="db")
    f = np.maximum(freqs, 1e-3)
    bands = np.interp(np.log(MATCH_BANDS_HZ), np.log(f), smooth)
    return bands - bands.mean()


def _bumps(band_hz: np.ndarray) -> np.ndarray:
    """Raised-cosine basis (n_bands, n_bumps) in log frequency, flat beyond the end bumps."""
    octs = np.log2(np.clip(band_hz, _BUMP_CENTRES_HZ[0], _BUMP_CENTRES_HZ[-1]))
    centres = np.log2(_BUMP_CENTRES_HZ)
    u = (octs[:, None] - centres[None, :]) / (_BUMP_WIDTH_OCT / 2.0)
    return np.where(np.abs(u) < 1.0, 0.5 + 0.5 * np.cos(np.pi * u), 0.0)


def consistent_curve_bands_db(
    diff_db: np.ndarray,
    spread_db: np.ndarray,
    *,
    prior_db: float = 3.0,
    content_factor: float = 1.0,
    floor_db: float = 1.0,
) -> np.ndarray:
    """Broad EQ (dB at MATCH_BANDS_HZ) explaining a reference-minus-mix balance diff_db.

    A Bayesian (ridge) fit of one-octave raised-cosine bands: each band's gain has a
    prior_db spread (what mastering EQ does); the difference in each third octave is trusted
    as far as it is consistent: its noise is content_factor * spread_db (how much the two
    tracks' balance varies across their own sections) plus floor_db, both in dB rms. Where the
    arrangement varies, the curve shrinks towards flat; an offset is free (loudness is matched
    elsewhere) and removed from the result.
    """
    d = np.asarray(diff_db, dtype=np.float64)
    noise = (content_factor * np.asarray(spread_db, dtype=np.float64)) ** 2 + floor_db**2
    basis = _bumps(np.asarray(MATCH_BANDS_HZ))
    design = np.concatenate([np.ones((d.size, 1)), basis], axis=1)
    w = 1.0 / noise
    precision = np.zeros(design.shape[1])
    precision[1:] = 1.0 / prior_db**2  # the offset is not shrunk
    lhs = design.T @ (design * w[:, None]) + np.diag(precision)
    theta = np.linalg.solve(lhs, design.T @ (w * d))
    curve = basis @ theta[1:]
    return curve - curve.mean()


def curve_on_grid(freqs: np.ndarray, bands_db: np.ndarray) -> np.ndarray:
    """A curve at MATCH_BANDS_HZ (dB) on an rfft grid (Hz), held flat beyond the end bands."""
    f = np.maximum(np.asarray(freqs, dtype=np.float64), 1e-3)
    return np.interp(np.log(f), np.log(MATCH_BANDS_HZ), bands_db)
