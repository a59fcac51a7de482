"""Where a recording's spectrum ends: the low-pass of a lossy codec (an MP3 or Ogg file ends at
7-20 kHz, by its bitrate) or of a resampler, which matching must not copy (a master cut to the
reference's codec, a tone dulled to its example's)."""

from __future__ import annotations

import math

import numpy as np

from tonemorph.dsp.fir import smooth_log_spectrum

__all__ = ["content_bandwidth_hz"]

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
