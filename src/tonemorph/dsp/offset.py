"""DC offset of a recording: a constant that an audio interface or a bad export added. In front
of a drive it turns into asymmetric clipping the source never had, and it inflates the level a
recording is normalised by."""

from __future__ import annotations

import numpy as np

from tonemorph.dsp.units import gain_to_db

__all__ = ["OFFSET_RE_RMS_DB", "offset_re_rms_db", "without_offset"]

# An offset this far below the RMS is left alone: a take's own mean is far lower (the bench's
# inputs sit under -45 dB), and removing it would change every learn slightly for nothing
OFFSET_RE_RMS_DB = -25.0


def offset_re_rms_db(x: np.ndarray) -> float:
    """The mean of a 1-D signal relative to its RMS (dB); the DB floor for silence."""
    a = np.asarray(x, dtype=np.float64)
    rms = float(np.sqrt(np.mean(a * a))) if a.size else 0.0
    return gain_to_db(abs(float(np.mean(a))) / rms) if rms > 0 else gain_to_db(0.0)


def without_offset(x: np.ndarray, max_re_rms_db: float = OFFSET_RE_RMS_DB
                   ) -> tuple[np.ndarray, float | None]:
    """A 1-D signal without its mean where that is above max_re_rms_db re its RMS, and the
    mean removed (linear, full scale 1); else the signal itself and None."""
    a = np.asarray(x)
    if a.size == 0 or offset_re_rms_db(a) <= max_re_rms_db:
        return a, None
    mean = float(np.mean(a, dtype=np.float64))
    return (a - mean).astype(a.dtype, copy=False), mean
