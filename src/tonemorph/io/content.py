"""Content checks of audio for learning and processing: silence, length, clipping, NaN."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tonemorph.dsp.units import gain_to_db
from tonemorph.errors import AudioContentError, ParameterError

_MAX_CHANNELS = 64  # more than this along the first axis: samples-first audio, not channels

# Frame gate of `check_content`.
_GATE_FRAME = 2048
_GATE_HOP = 512
_GATE_RANGE_DB = 50.0
_GATE_FLOOR_DBFS = -70.0
_SILENCE_PEAK_DBFS = -60.0
_LOUD_PERCENTILE = 95.0
_CLIP_RUN = 3  # equal samples in a row at a channel's highest or lowest value: a flat top
_CLIP_RAIL = 0.25  # of the peak: a value held this low is no clipper's rail (an offset floor)
_CLIP_WARN_FRACTION = 0.001
CANCEL_DB = 20.0  # a mixdown this far under its channels' level: they cancel in mono




def flat_top_fraction(x: np.ndarray) -> float:
    """Fraction of the samples of (channels, n) x held flat by a clipper: in runs of _CLIP_RUN
    or more equal samples at a channel's highest or lowest value.

    Flat tops, not samples at full scale: a float recording may peak above 0 dBFS unclipped,
    and one clipped and then turned down holds its flat tops below it.
    """
    peak = float(np.max(np.abs(x)))
    held = 0
    for ch in x:
        top, bottom = ch.max(), ch.min()
        # a constant channel's two rails are one: counted twice it read as 200 % clipped
        for rail in (top,) if top == bottom else (top, bottom):
            if abs(float(rail)) < _CLIP_RAIL * peak or peak == 0.0:
                continue
            at = np.concatenate([[0], (ch == rail).astype(np.int8), [0]])
            edges = np.flatnonzero(np.diff(at))
            runs = edges[1::2] - edges[::2]
            held += int(runs[runs >= _CLIP_RUN].sum())
    return held / x.size


@dataclass(frozen=True)
class ContentReport:
    """Result of `check_content`: active (non-silent) seconds, peak in dBFS, clipped fraction."""

    active_seconds: float
    peak_dbfs: float
    clipped_fraction: float
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def _fmt_s(seconds: float) -> str:
    """Seconds for messages: 5 -> '5', 2.5 -> '2.5'."""
    return f"{seconds:g}"


def fmt_measured_s(seconds: float) -> str:
    """Measured seconds for messages, rounded down to 0.1 s: 9.97 s under a 10 s bound reads
    '9.9', not '10.0'; under 0.1 s to 0.01 s ('0.05', not '0.0'), under 0.01 s to 0.001 s
    (a 100-sample file read '0.00 s long')."""
    if seconds < 0.01:
        return f"{math.floor(seconds * 1000 + 1e-9) / 1000:.3f}"
    if seconds < 0.1:
        return f"{math.floor(seconds * 100 + 1e-9) / 100:.2f}"
    return f"{math.floor(seconds * 10 + 1e-9) / 10:.1f}"


def _as_2d(audio: np.ndarray, name: str = "audio") -> np.ndarray:
    """View 1-D audio as (1, samples); check that 2-D audio is (channels, samples)."""
    arr = np.asarray(audio)
    if arr.ndim == 1:
        return arr[np.newaxis, :]
    if arr.ndim != 2:
        raise ParameterError(f"{name} must be (channels, samples), got shape {arr.shape}")
    if arr.shape[0] > _MAX_CHANNELS:
        raise ParameterError(
            f"{name} has shape {arr.shape}, read as {arr.shape[0]} channels; "
            "expected (channels, samples): transpose it"
        )
    return arr


def _frame_rms_db(audio: np.ndarray) -> np.ndarray:
    """RMS in dBFS of 2048-sample frames every 512 samples, over all channels, centred frames."""
    n = audio.shape[1]
    cums = np.zeros(n + 1, dtype=np.float64)
    for channel in audio:
        cums[1:] += np.square(channel, dtype=np.float64)
    cums /= audio.shape[0]
    np.cumsum(cums, out=cums)
    n_frames = -(-n // _GATE_HOP)
    pad_left = (_GATE_FRAME - _GATE_HOP) // 2
    starts = np.arange(n_frames) * _GATE_HOP - pad_left
    ends = starts + _GATE_FRAME
    sums = cums[np.clip(ends, 0, n)] - cums[np.clip(starts, 0, n)]
    rms = np.sqrt(np.maximum(sums, 0.0) / _GATE_FRAME)
    with np.errstate(divide="ignore"):
        db: np.ndarray = 20.0 * np.log10(rms)
    return db


def check_content(
    audio: np.ndarray,
    sample_rate: int,
    *,
    role: str,
    min_seconds: float,
    recommended_seconds: float | None = None,
) -> ContentReport:
    """Check that audio has enough sound: active seconds, peak dBFS, clipped fraction, warnings.

    Active time counts 2048/512-sample frames whose RMS is within 50 dB of the loud level (95th
    percentile frame RMS) and above -70 dBFS.

    Raises:
        AudioContentError: NaN/Inf samples, silence (peak below -60 dBFS or no frame above the
            gate), or fewer than `min_seconds` active seconds.
    """
    if sample_rate <= 0:
        raise ParameterError(f"sample_rate must be > 0 Hz, got {sample_rate}")
    if min_seconds < 0:
        raise ParameterError(f"min_seconds must be >= 0 s, got {min_seconds}")
    x = _as_2d(audio)
    if x.size == 0:
        raise AudioContentError(f"{role} is empty (0 samples); use a recording with sound in it")
    if not np.isfinite(x).all():
        raise AudioContentError(f"{role} contains NaN or infinite samples; re-export it")

    mags = np.abs(x)
    peak = float(mags.max())
    peak_dbfs = gain_to_db(peak, floor_db=-math.inf)
    if peak == 0.0:
        raise AudioContentError(f"{role} is silent (all samples are zero); check the file")
    if peak_dbfs < _SILENCE_PEAK_DBFS:
        raise AudioContentError(
            f"{role} is (nearly) silent: its loudest sample peaks at {peak_dbfs:.1f} dBFS, under "
            f"the {_SILENCE_PEAK_DBFS:.0f} dBFS it needs; check the file or record it louder"
        )

    frame_db = _frame_rms_db(x)
    loud_db = float(np.percentile(frame_db[np.isfinite(frame_db)], _LOUD_PERCENTILE))
    gate_db = max(loud_db - _GATE_RANGE_DB, _GATE_FLOOR_DBFS)
    active = frame_db > gate_db
    if not active.any():
        raise AudioContentError(
            f"{role} is silent (no sustained sound above {_GATE_FLOOR_DBFS:.0f} dBFS RMS, "
            f"peak {peak_dbfs:.0f} dBFS); check the file or record it louder"
        )
    n_samples = x.shape[1]
    active_seconds = min(int(active.sum()) * _GATE_HOP, n_samples) / sample_rate

    clipped_fraction = flat_top_fraction(x)

    if active_seconds < min_seconds:
        wanted = f"need at least {_fmt_s(min_seconds)} s"
        if recommended_seconds is not None and recommended_seconds > min_seconds:
            wanted += f" ({_fmt_s(recommended_seconds)} s or more recommended)"
        raise AudioContentError(
            f"{role} has {fmt_measured_s(active_seconds)} s of sound; {wanted}; use a longer "
            "recording"
        )

    warnings: list[str] = []
    if clipped_fraction > _CLIP_WARN_FRACTION:
        warnings.append(
            f"{role} looks clipped ({100 * clipped_fraction:.1f} % of samples in flat tops); "
            "results may be harsher than intended; use an unclipped recording if you have one"
        )
    if recommended_seconds is not None and active_seconds < recommended_seconds:
        warnings.append(
            f"{role} has {fmt_measured_s(active_seconds)} s of sound; "
            f"{_fmt_s(recommended_seconds)} s or more is recommended for a reliable match"
        )
    return ContentReport(
        active_seconds=active_seconds,
        peak_dbfs=peak_dbfs,
        clipped_fraction=clipped_fraction,
        warnings=warnings,
    )


def mixdown_loss_db(audio: np.ndarray) -> float:
    """How far (dB) the mono mixdown (channel mean) of (channels, samples) audio is under the
    channels' mean power: 0 for identical channels, 3 for unrelated ones, +inf when they
    cancel exactly (one channel is the other, inverted)."""
    x = _as_2d(audio).astype(np.float64)
    channels = float(np.mean(x * x))
    mono = float(np.mean(x.mean(axis=0) ** 2))
    if channels == 0.0:
        return 0.0
    if mono == 0.0:
        return math.inf
    return 10 * math.log10(channels / mono)


# Channels less alike than this (zero-lag correlation of their waveforms) hold different
# performances: double-tracked parts panned apart (about 0 between two takes), a channel
# delayed for width. Two microphones on one cabinet, a panned mono part or a stereo cabinet
# are far above it.
TAKES_CORRELATION = 0.5


_CORRELATION_CHUNK = 1 << 20  # samples per channel summed at once (a 10-minute file whole in
# float64 was a 0.5 GB transient)


def channel_correlation(audio: np.ndarray) -> float:
    """Mean zero-lag correlation (-1..1) of every pair of channels of (channels, samples)
    audio; 1 for one channel or for channels that are scaled copies of each other."""
    x = _as_2d(audio)
    ch, n = x.shape
    if ch < 2 or n == 0:
        return 1.0
    sums, products = np.zeros(ch), np.zeros((ch, ch))
    for start in range(0, n, _CORRELATION_CHUNK):
        part = x[:, start : start + _CORRELATION_CHUNK].astype(np.float64)
        sums += part.sum(axis=1)
        products += part @ part.T
    cov = products - np.outer(sums, sums) / n
    energy = np.diag(cov)
    pairs = [(i, j) for i in range(ch) for j in range(i + 1, ch)
             if energy[i] > 0.0 and energy[j] > 0.0]
    if not pairs:
        return 1.0
    return float(np.mean([cov[i, j] / math.sqrt(energy[i] * energy[j]) for i, j in pairs]))


QUIET_CHANNEL_DB = 30.0  # a channel this far under the loudest holds no playing of its own


def playing_channels(audio: np.ndarray) -> np.ndarray:
    """Which channels of (channels, samples) audio are within QUIET_CHANNEL_DB (power) of the
    loudest: the ones a mono mixdown averages (all, where every channel is silent).

    A guitar on input 1 of a two-input interface leaves input 2 silent or hiss: averaged in,
    it halved the guitar (-6 dB), and a tone learned from that drove 6 dB harder than the
    example and its take were played.
    """
    x = _as_2d(audio)
    power = np.array([float(np.mean(np.square(ch, dtype=np.float64))) if ch.size else 0.0
                      for ch in x])
    top = float(power.max()) if power.size else 0.0
    if top <= 0.0:
        return np.ones(x.shape[0], dtype=bool)
    return power >= top * 10.0 ** (-QUIET_CHANNEL_DB / 10.0)


def mono_mixdown(audio: np.ndarray) -> np.ndarray:
    """The mean of the playing channels (`playing_channels`) of (channels, samples) audio."""
    x = _as_2d(audio)
    keep = playing_channels(x)
    return x[keep].mean(axis=0) if not keep.all() else x.mean(axis=0)


def example_mono(audio: np.ndarray) -> tuple[np.ndarray, bool]:
    """The mono recording a tone is learned from: the channels' mean, or, where they hold
    different performances (`TAKES_CORRELATION`), the channels one after another. Returns
    (mono, in the audio's dtype; joined).

    A mean of two takes is one thicker, evener take: its levels swing less and its attacks
    blur, which reads as compression (a double-tracked clean EQ + cab example learned a
    3:1 compressor and sag: 0.68 MR-STFT against 0.24 from its channels in turn).
    """
    x = _as_2d(audio)
    if (x.shape[0] > 1 and playing_channels(x).all()
            and channel_correlation(x) < TAKES_CORRELATION):
        return np.ascontiguousarray(x).reshape(-1), True
    return mono_mixdown(x), False


def check_mixdown(audio: np.ndarray, *, role: str) -> None:
    """Refuse multichannel audio whose channels cancel when mixed to mono (more than
    CANCEL_DB under the channels): what is learned from would be (near) silence."""
    loss_db = mixdown_loss_db(audio)
    if loss_db > CANCEL_DB:
        size = "is silent" if math.isinf(loss_db) else f"is {loss_db:.0f} dB quieter than them"
        raise AudioContentError(
            f"{role}: its channels cancel when mixed to mono (the mix {size}): "
            "one channel is another with its polarity inverted; flip the polarity of one "
            "channel, or export a single channel"
        )


# --------------------------------------------------------------------------- resampling


__all__ = [
    "TAKES_CORRELATION",
    "ContentReport",
    "channel_correlation",
    "check_content",
    "check_mixdown",
    "example_mono",
    "mixdown_loss_db",
    "mono_mixdown",
    "playing_channels",
]
