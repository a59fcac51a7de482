"""Where a recording's spectrum ends: the low-pass of a lossy codec (an MP3 or Ogg file ends at
7-20 kHz, by its bitrate) or of a resampler, which matching must not copy (a master cut to the
reference's codec, a tone dulled to its example's)."""

from __future__ import annotations

import math

import numpy as np

from tonemorph.dsp.fir import smooth_log_spectrum
from tonemorph.dsp.matcheq import mean_log_spectrum_db

__all__ = ["content_bandwidth_hz", "is_cut", "recording_bandwidth_hz"]

# A spectrum that falls this far within a sixth of an octave and stays down has been
# low-passed: a lossy codec (an MP3 or Ogg file ends at 8-20 kHz, by its bitrate) or a
# resampler. Music's own roll-off is far gentler (10 dB over the top third of an octave on the
# bench's tracks, a codec's 50-60 dB).
_CLIFF_DB = 24.0
_CLIFF_OCT = 1.0 / 6.0
_CLIFF_FROM_HZ = 2000.0
_TOP_SHARE = 0.84  # of Nyquist: the top third octave a spectrum fills (bands centred below it)


def content_bandwidth_hz(freqs: np.ndarray, spectrum_db: np.ndarray) -> float:
    """Where a long-term spectrum (dB per rfft bin, bins up to Nyquist) ends (Hz): the foot of
    the lowest cliff above 2 kHz (a fall of _CLIFF_DB within _CLIFF_OCT octave, never
    climbing back within half that; its last 1/48 octave within 3 dB of its top), else 0.84
    of its Nyquist."""
    f = np.asarray(freqs, dtype=np.float64)
    top = _TOP_SHARE * float(f[-1])
    if top <= _CLIFF_FROM_HZ * 2.0**_CLIFF_OCT:
        return top
    smooth = smooth_log_spectrum(np.asarray(spectrum_db, dtype=np.float64), f, 1.0 / 24.0,
                                 domain="db")
    grid = _CLIFF_FROM_HZ * 2.0 ** (np.arange(int(48 * math.log2(f[-1] / _CLIFF_FROM_HZ))) / 48)
    level = np.interp(np.log(grid), np.log(np.maximum(f, 1e-3)), smooth)
    step = int(round(48 * _CLIFF_OCT))
    for i in range(grid.size - step):
        below = level[i]
        if below - level[i + step] >= _CLIFF_DB and below - level[i + step:].max() >= _CLIFF_DB / 2:
            # the foot: the last point of the sixth octave still within 3 dB of its start
            held = np.flatnonzero(level[i : i + step + 1] >= below - 3.0)
            return min(top, float(grid[i + held[-1]]))
    return top


HEAD_S = 60.0  # a recording's end is read on its first minute: a cut runs through a whole file


def recording_bandwidth_hz(x: np.ndarray, sample_rate: float) -> float:
    """Where a mono recording's spectrum ends (Hz): `content_bandwidth_hz` of its mean log
    spectrum over its first HEAD_S seconds (10 minutes in float64 would be 230 MB).

    Not of its mean power spectrum: there the loud frames' steep cabinet fall near 5 kHz
    (guitarix's Engl and Krank IRs) read as a cut on 6 of the bench's 66 guitar examples (a
    clean EQ + cab then kept a drive, 0.221 -> 0.833 held-out MR-STFT); the mean log spectrum
    reads all 66 as full band and still finds an MP3's cut.
    """
    head = np.asarray(x)[: int(HEAD_S * sample_rate)]
    return content_bandwidth_hz(*mean_log_spectrum_db(head, sample_rate))


def is_cut(end_hz: float, sample_rate: float) -> bool:
    """Whether a spectrum's end (Hz, from `content_bandwidth_hz`) is a low-pass below the
    band its rate can hold."""
    return end_hz < _TOP_SHARE * sample_rate / 2.0 * (1.0 - 1e-9)
