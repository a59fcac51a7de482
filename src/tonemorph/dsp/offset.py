"""DC offset of a recording: a constant that an audio interface or a bad export added. In front
of a drive it turns into asymmetric clipping the source never had; in a tone's example it is a
floor under every frame's level."""

from __future__ import annotations

import numpy as np

from tonemorph.dsp.units import gain_to_db

__all__ = ["OFFSET_RE_RMS_DB", "STEADY_OFFSET_RE_RMS_DB", "offset_re_rms_db", "steady_offset",
           "without_offset", "without_steady_offset"]

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


# A steady offset (`steady_offset`) this far under a recording's RMS is left alone: the
# learner's features drop frames 45 dB under the loud ones as silence, so an offset under that
# changes nothing it sees, and its frames stay as they were
STEADY_OFFSET_RE_RMS_DB = -50.0


def steady_offset(x: np.ndarray, block: int = 2048) -> float:
    """The offset (linear, full scale 1) a 1-D signal keeps where it is quietest: its mean
    over the tenth of its blocks with the least variance. An interface's offset is there in
    every block; an asymmetric drive's follows the notes and is gone between them."""
    a = np.asarray(x, dtype=np.float64)
    n = a.size // block
    if n == 0:
        return float(np.mean(a)) if a.size else 0.0
    blocks = a[: n * block].reshape(n, block)
    quiet = np.argsort(np.var(blocks, axis=1), kind="stable")[: max(1, n // 10)]
    return float(np.mean(blocks[quiet]))


def without_steady_offset(x: np.ndarray) -> tuple[np.ndarray, float | None]:
    """A 1-D signal less its `steady_offset` where that is above STEADY_OFFSET_RE_RMS_DB re its
    RMS, and the offset (linear); else x itself and None.

    The steady offset, not the whole take's mean: an asymmetric drive's offset follows the
    notes, and taking off the mean would put one into the pauses. Nor a high-pass: it also
    takes the slow part of that note-following offset, which a paired capture then cannot
    match (a crunch reamp high-passed at 5 Hz: ESR 0.26 -> 0.38).
    """
    a = np.asarray(x)
    rms = float(np.sqrt(np.mean(np.square(a, dtype=np.float64)))) if a.size else 0.0
    if rms == 0.0:
        return a, None
    offset = steady_offset(a)
    if gain_to_db(abs(offset) / rms) <= STEADY_OFFSET_RE_RMS_DB:
        return a, None
    return (a - offset).astype(a.dtype, copy=False), offset
