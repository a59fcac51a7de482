"""DC offset of a recording: a constant that an audio interface or a bad export added. In front
of a drive it turns into asymmetric clipping the source never had; in a tone's example it is a
floor under every frame's level; in a master it takes the limiter's headroom without adding
loudness (K-weighting ignores it)."""

from __future__ import annotations

import numpy as np

# the chain's compiled biquad: importing scipy.signal for sosfilt costs mastering 0.3 s
from tonemorph.chain.kernels import biquad_cascade
from tonemorph.dsp.biquad import highpass
from tonemorph.dsp.units import gain_to_db
from tonemorph.errors import ParameterError

__all__ = ["DC_BLOCK_HZ", "OFFSET_RE_RMS_DB", "STEADY_OFFSET_RE_RMS_DB", "DcBlocker",
           "offset_re_rms_db", "remove_dc", "steady_offset", "without_offset",
           "without_steady_offset"]

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


# a second-order Butterworth high-pass this low removes an offset, -0.02 dB at 20 Hz
DC_BLOCK_HZ = 5.0
# A steady offset (`steady_offset`) this far under a recording's RMS is left alone: the
# learner's features drop frames 45 dB under the loud ones as silence, so an offset under that
# changes nothing it sees, and its frames stay as they were
STEADY_OFFSET_RE_RMS_DB = -50.0


class DcBlocker:
    """Streaming DC removal of (channels, n) blocks: a DC_BLOCK_HZ second-order Butterworth
    high-pass, started as if the first sample's value had always been there (a file that starts
    on its offset gets no step response: a thump a limiter would duck)."""

    def __init__(self, sample_rate: float, channels: int):
        self._sos = highpass(DC_BLOCK_HZ, 1.0 / np.sqrt(2.0), sample_rate)[None, :]
        self.channels = int(channels)
        self._state: np.ndarray | None = None  # (channels, 1, 2), from the first block

    def process(self, x: np.ndarray) -> np.ndarray:
        """Filter a (channels, n) block; returns (channels, n) float64."""
        y = np.asarray(x, dtype=np.float64)
        if y.ndim != 2 or y.shape[0] != self.channels:
            raise ParameterError(f"block must be ({self.channels}, samples), got {y.shape}.")
        if y.shape[1] == 0:
            return y.copy()
        if self._state is None:
            # transposed direct form II at rest on a constant v: output 0, states as below
            b1, b2 = self._sos[0, 1], self._sos[0, 2]
            self._state = np.array([[[(b1 + b2) * v, b2 * v]] for v in y[:, 0]])
        return np.stack([biquad_cascade(np.ascontiguousarray(row), self._sos, state)
                         for row, state in zip(y, self._state)])


def remove_dc(x: np.ndarray, sample_rate: float) -> np.ndarray:
    """Offline `DcBlocker` over (channels, n) audio; float64."""
    audio = np.atleast_2d(np.asarray(x))
    return DcBlocker(sample_rate, audio.shape[0]).process(audio)


def steady_offset(x: np.ndarray, dc_free: np.ndarray, block: int = 2048) -> float:
    """The offset (linear, full scale 1) a 1-D signal keeps where it is quietest: its mean
    over the tenth of its blocks whose `dc_free` version (x high-passed) is quietest. An
    interface's offset is there in every block; an asymmetric drive's follows the notes and
    is gone between them."""
    n = min(x.size, dc_free.size) // block
    if n == 0:
        return float(np.mean(x)) if x.size else 0.0
    raw = np.asarray(x[: n * block], dtype=np.float64).reshape(n, block)
    power = np.mean(np.square(dc_free[: n * block], dtype=np.float64).reshape(n, block), axis=1)
    quiet = np.argsort(power, kind="stable")[: max(1, n // 10)]
    return float(np.mean(raw[quiet]))


def without_steady_offset(x: np.ndarray, sample_rate: float) -> tuple[np.ndarray, float | None]:
    """A 1-D signal high-passed at DC_BLOCK_HZ where its `steady_offset` is above
    STEADY_OFFSET_RE_RMS_DB re its RMS, and that offset (linear); else x itself and None.

    A high-pass, not the mean taken off: an asymmetric drive's offset follows the notes and is
    gone between them, where taking off the whole take's mean would put one.
    """
    a = np.asarray(x)
    rms = float(np.sqrt(np.mean(np.square(a, dtype=np.float64)))) if a.size else 0.0
    if rms == 0.0:
        return a, None
    dc_free = remove_dc(a, sample_rate)[0]
    offset = steady_offset(a, dc_free)
    if gain_to_db(abs(offset) / rms) <= STEADY_OFFSET_RE_RMS_DB:
        return a, None
    return dc_free.astype(a.dtype), offset
