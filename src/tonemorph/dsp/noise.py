"""A recording's steady noise floor (hiss, hum) and its removal from mean power spectra.

A tone example recorded through real gear carries hiss a clean input does not. Matched as it
stands, the bands where the hiss is as strong as the playing (the top octaves behind a
cabinet) read as a boost the chain never made: white noise at -50 dBFS on a clean EQ +
cabinet target of -27 dBFS RMS made the learned cabinet 8-12 dB too bright at 6-8 kHz in the
loudest quarter of a new take. The floor is measured where the playing is quietest and taken
off the playing's power.
"""

from __future__ import annotations

import numpy as np

from tonemorph.dsp.loudness import frame_rms_db

__all__ = ["NOISE_QUANTILE", "noise_floor_power", "without_noise"]

NOISE_QUANTILE = 0.05  # share of the non-silent frames, quietest first, that measure the floor
SILENCE_DB = -120.0  # frames below this (dBFS) are digital silence: no floor to measure there
# (frame_rms_db floors silence at DB_FLOOR, -200 dB, well under it)
# A floor is steady: its frames' levels lie within this (dB). The quietest 5 % of the bench's
# targets span 0.2 dB with white noise added, 23-78 dB without (note tails fading out, and the
# loud, dense frames of a high-gain target whose quietest moments are still playing: taken
# off as a floor, they cut its low end by up to 7 dB).
FLOOR_SPREAD_DB = 6.0
# what is left of a band that is all floor: its playing is somewhere under the floor, taken as
# 30 dB under what was measured (the floor itself would read as a boost). On that hissy clean
# target, the floor then taken from the quietest 10 % of the frames: 10 dB under, MR-STFT
# 0.783 on a new take; 30 dB under, 0.704 (no hiss: 0.329; the hiss as it stands: 1.760).
FLOOR_SHARE = 0.001


def noise_floor_power(x: np.ndarray, n_fft: int, hop: int, window: np.ndarray) -> np.ndarray:
    """Mean power spectrum (linear, n_fft // 2 + 1 bins, |rfft(frame * window)|^2) of the
    quietest NOISE_QUANTILE of mono x's frames above SILENCE_DB; zeros if there are none or
    their levels spread over more than FLOOR_SPREAD_DB (quiet playing, not a floor)."""
    if n_fft % hop:
        raise ValueError(f"n_fft ({n_fft}) must be a multiple of hop ({hop})")
    x = np.asarray(x, dtype=np.float32)
    bins = n_fft // 2 + 1
    n = (x.size - n_fft) // hop + 1
    if n <= 0:
        return np.zeros(bins)
    level_db = frame_rms_db(x, n_fft, hop)  # frames from sample 0, as the rfft frames below
    sounding = np.flatnonzero(level_db > SILENCE_DB)
    if sounding.size == 0:
        return np.zeros(bins)
    k = max(1, int(round(NOISE_QUANTILE * sounding.size)))
    quiet = sounding[np.argsort(level_db[sounding], kind="stable")[:k]]
    if np.ptp(level_db[quiet]) > FLOOR_SPREAD_DB:
        return np.zeros(bins)
    frames = x[quiet[:, None] * hop + np.arange(n_fft)[None, :]]
    spectra = np.abs(np.fft.rfft(frames * window.astype(np.float32), axis=1)) ** 2
    return spectra.mean(axis=0).astype(np.float64)


def without_noise(power: np.ndarray | float, floor: np.ndarray | float) -> np.ndarray:
    """Mean powers (linear, of bands or bins) with a noise floor's power in the same bands
    taken off, each kept at FLOOR_SHARE of its value at least."""
    power = np.asarray(power, dtype=np.float64)
    return np.maximum(power - floor, FLOOR_SHARE * power)
