"""Audio file reading, checking, resampling and atomic writing; arrays are (channels, samples)."""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import numpy as np
import soundfile as sf
import soxr

from tonemorph.dsp.units import gain_to_db
from tonemorph.errors import AudioContentError, AudioFileError, OutputPathError, ParameterError
from tonemorph.io.paths import (
    check_output_path,
    check_stop,
    commit_temp,
    make_temp,
    os_reason,
    unlink_quietly,
)

StrPath = str | os.PathLike[str]

#: File extensions tonemorph writes, mapped to soundfile format names.
EXTENSION_FORMATS: dict[str, str] = {
    ".wav": "WAV",
    ".wave": "WAV",
    ".flac": "FLAC",
    ".ogg": "OGG",
    ".oga": "OGG",
    ".mp3": "MP3",
    ".aif": "AIFF",
    ".aiff": "AIFF",
    ".aifc": "AIFF",
    ".w64": "W64",
    ".rf64": "RF64",
    ".caf": "CAF",
    ".au": "AU",
}

#: Subtypes stored as floating point or lossy codecs: samples beyond full scale are not clipped.
_UNCLIPPED_SUBTYPES = frozenset({"FLOAT", "DOUBLE", "VORBIS", "OPUS"})
#: Floating-point subtypes: they keep samples beyond full scale exactly.
FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})
#: Sample rates (Hz) tonemorph reads, writes and resamples to.
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 384000
#: Plain sample encodings that carry over between container formats (codecs such as
#: MPEG_LAYER_III or VORBIS stay with their own container even where libsndfile allows more).
_PLAIN_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"})
#: Source subtypes with more than 16 bits of resolution.
_HIRES_SUBTYPES = frozenset({"FLOAT", "DOUBLE", "PCM_24", "PCM_32"})
_SUPPORTED_HINT = "pass a WAV, FLAC, OGG, MP3 or AIFF recording"
_MAX_CHANNELS = 64
_FULL_DISK_BYTES = 1 << 20  # below this much free space a failed write is a full disk

# Frame gate of `check_content`.
_GATE_FRAME = 2048
_GATE_HOP = 512
_GATE_RANGE_DB = 50.0
_GATE_FLOOR_DBFS = -70.0
_SILENCE_PEAK_DBFS = -60.0
_LOUD_PERCENTILE = 95.0
_CLIP_LEVEL = 0.999
_CLIP_WARN_FRACTION = 0.001


@dataclass(frozen=True)
class AudioInfo:
    """Header facts of an audio file: rate in Hz, length in frames (samples per channel)."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    subtype: str
    format: str

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate if self.sample_rate > 0 else 0.0


@dataclass(frozen=True)
class ContentReport:
    """Result of `check_content`: active (non-silent) seconds, peak in dBFS, clipped fraction."""

    active_seconds: float
    peak_dbfs: float
    clipped_fraction: float
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def _looks_like_text(path: Path) -> bool:
    """Whether the first KiB of a file decodes as printable UTF-8 text."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024)
    except OSError:
        return False
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character may be cut at the 1 KiB boundary.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)


def _check_readable(path: Path, role: str) -> None:
    """Raise AudioFileError when `path` is missing, a directory or not readable."""
    if not path.exists():
        raise AudioFileError(f"{role} file {path} not found; check the path")
    if path.is_dir():
        raise AudioFileError(f"{role} path {path} is a directory; {_SUPPORTED_HINT}")
    if not os.access(path, os.R_OK):
        raise AudioFileError(f"{role} file {path} is not readable; check its permissions")


def _undecodable(path: Path, role: str, exc: Exception) -> AudioFileError:
    """Build the error for a file soundfile cannot decode."""
    if _looks_like_text(path):
        return AudioFileError(
            f"{role} file {path} is not audio (it is a text file); {_SUPPORTED_HINT}"
        )
    detail = str(getattr(exc, "error_string", "") or "").strip().rstrip(".")
    return AudioFileError(
        f"{role} file {path} cannot be decoded as audio ({detail or 'corrupt or unsupported'}); "
        f"re-export it or {_SUPPORTED_HINT}"
    )


def _info_from(path: Path, sfile: sf.SoundFile) -> AudioInfo:
    """AudioInfo of an open soundfile."""
    return AudioInfo(
        path=path,
        sample_rate=int(sfile.samplerate),
        channels=int(sfile.channels),
        frames=int(sfile.frames),
        subtype=str(sfile.subtype),
        format=str(sfile.format),
    )


def _open_for_read(path: StrPath, role: str) -> tuple[sf.SoundFile, AudioInfo]:
    """Open an audio file for reading with tonemorph's errors; rejects empty files."""
    p = Path(path)
    _check_readable(p, role)
    try:
        sfile = sf.SoundFile(p, mode="r")
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as exc:
        raise _undecodable(p, role, exc) from exc
    except OSError as exc:
        raise AudioFileError(f"{role} file {p} cannot be read ({exc.strerror or exc})") from exc
    info = _info_from(p, sfile)
    if info.frames <= 0 or info.channels <= 0 or info.sample_rate <= 0:
        sfile.close()
        raise AudioFileError(
            f"{role} file {p} contains no audio (0 frames); re-export the recording"
        )
    _warn_if_truncated(sfile, info, role)
    return sfile, info


# libsndfile's header log says `data : 1440000 (should be 480000)` (WAV, RF64, W64) or
# `SSND : ... (should be ...)` (AIFF) when a chunk claims more bytes than the file holds.
_TRUNCATED_RE = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
_warned_truncated: set[tuple[str, int, int]] = set()


def truncated_seconds(sfile: sf.SoundFile, info: AudioInfo) -> float | None:
    """Seconds the header of a cut-off file declares (None when the file is whole)."""
    m = _TRUNCATED_RE.search(str(getattr(sfile, "extra_info", "") or ""))
    if not m:
        return None
    declared, present = int(m.group(1)), int(m.group(2))
    if present <= 0 or declared <= present:
        return None
    return info.duration_s * declared / present


def _warn_if_truncated(sfile: sf.SoundFile, info: AudioInfo, role: str) -> None:
    """Warn (once per file version) that a file is cut off and how much of it was read."""
    declared = truncated_seconds(sfile, info)
    if declared is None:
        return
    try:
        st = info.path.stat()
        key = (str(info.path.resolve()), st.st_mtime_ns, st.st_size)
    except OSError:
        key = (str(info.path), 0, 0)
    if key in _warned_truncated:
        return
    _warned_truncated.add(key)
    warnings.warn(f"{role} file {info.path} is truncated: its header declares "
                  f"{declared:.1f} s, only {info.duration_s:.1f} s are present; using "
                  "what is there (re-export or copy the file again for the rest)", stacklevel=3)


def _check_finite(block: np.ndarray, path: Path, role: str) -> None:
    """Raise AudioContentError when `block` holds NaN or infinite samples."""
    if not np.isfinite(block).all():
        bad = int(np.size(block) - np.count_nonzero(np.isfinite(block)))
        raise AudioContentError(
            f"{role} file {path} contains {bad} NaN or infinite samples; "
            "re-export it from your DAW as PCM or clean float audio"
        )


def audio_info(path: StrPath, *, role: str = "input") -> AudioInfo:
    """Header of an audio file (rate in Hz, frames, channels, subtype) without reading samples."""
    sfile, info = _open_for_read(path, role)
    sfile.close()
    return info


def read_audio(path: StrPath, *, role: str = "input") -> tuple[np.ndarray, int, AudioInfo]:
    """Read a whole audio file as float32 (channels, samples) in [-1, 1] and its rate in Hz.

    Args:
        path: wav, flac, ogg, mp3, aiff or another format libsndfile reads.
        role: word naming the file in error messages ("input", "target", "take").

    Returns:
        ``(audio, sample_rate, info)``.

    Raises:
        AudioFileError: missing, directory, unreadable, not audio, corrupt or empty.
        AudioContentError: NaN or infinite samples.
    """
    sfile, info = _open_for_read(path, role)
    try:
        with sfile:
            data = sfile.read(dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:
        raise _undecodable(info.path, role, exc) from exc
    except OSError as exc:
        raise AudioFileError(f"{role} file {info.path} cannot be read ({exc})") from exc
    if data.shape[0] == 0:
        raise AudioFileError(
            f"{role} file {info.path} contains no audio (0 frames); re-export the recording"
        )
    audio = np.ascontiguousarray(data.T)
    _check_finite(audio, info.path, role)
    return audio, info.sample_rate, info


class AudioReader:
    """Streaming reader of an audio file in (channels, n) float32 blocks, for bounded memory."""

    def __init__(self, path: StrPath, *, role: str = "input") -> None:
        self._sfile, self.info = _open_for_read(path, role)
        self.role = role

    @property
    def sample_rate(self) -> int:
        """Sample rate in Hz."""
        return self.info.sample_rate

    @property
    def channels(self) -> int:
        """Number of channels."""
        return self.info.channels

    @property
    def frames(self) -> int:
        """Length in frames (samples per channel) from the header."""
        return self.info.frames

    def tell(self) -> int:
        """Current read position in frames."""
        return int(self._sfile.tell())

    def seek(self, frame: int) -> None:
        """Move the read position to `frame` (frames from the start)."""
        self._sfile.seek(frame)

    def read(self, n_frames: int = -1) -> np.ndarray:
        """Read up to `n_frames` frames (-1: the rest) as float32 (channels, n); n=0 at the end."""
        try:
            data = self._sfile.read(n_frames, dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError, ValueError) as exc:
            raise _undecodable(self.info.path, self.role, exc) from exc
        block = np.ascontiguousarray(data.T)
        _check_finite(block, self.info.path, self.role)
        return block

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        """Yield (channels, n) float32 blocks of `block_frames` frames (the last may be shorter)."""
        if isinstance(block_frames, bool) or not isinstance(block_frames, int) or block_frames < 1:
            raise ParameterError(
                f"block_frames must be an integer >= 1 frame, got {block_frames!r}"
            )
        while True:
            block = self.read(block_frames)
            if block.shape[1] == 0:
                return
            yield block

    def close(self) -> None:
        """Close the file."""
        self._sfile.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_stream(path: StrPath, block_frames: int, *, role: str = "input") -> Iterator[np.ndarray]:
    """Yield an audio file as (channels, n) float32 blocks of `block_frames` frames.

    The file is opened, and its errors raised, at the call; it is closed when the iteration
    ends or the returned generator is closed.
    """
    if isinstance(block_frames, bool) or not isinstance(block_frames, int) or block_frames < 1:
        raise ParameterError(f"block_frames must be an integer >= 1 frame, got {block_frames!r}")
    reader = AudioReader(path, role=role)
    return _stream_blocks(reader, block_frames)


def _stream_blocks(reader: AudioReader, block_frames: int) -> Iterator[np.ndarray]:
    """Generator behind `open_stream`: yields blocks, closes `reader` at the end."""
    try:
        yield from reader.blocks(block_frames)
    finally:
        reader.close()


AudioLike = str | os.PathLike[str] | tuple[np.ndarray, int]
"""A file path, or an ``(audio, sample_rate)`` tuple: (channels, samples) or (samples,), Hz."""


def load_audio_like(
    source: AudioLike, role: str, *, max_seconds: float | None = None
) -> tuple[np.ndarray, int, str]:
    """Audio (channels, samples) float32, its rate in Hz and a name, from a path or an array.

    A path is read whole (`read_audio`), or with ``max_seconds`` only its first max_seconds
    (bounded memory); its name is the file name. An ``(audio, sample_rate)`` tuple is checked
    (shape, finite samples) and cut to max_seconds; its name is ``<role array>``.

    Raises:
        ParameterError: neither a path nor an (audio, sample_rate) tuple, or a bad shape.
        AudioFileError: as `read_audio`.
        AudioContentError: NaN or infinite samples.
    """
    if isinstance(source, (str, os.PathLike)):
        if max_seconds is None:
            audio, rate, _ = read_audio(source, role=role)
        else:
            with AudioReader(source, role=role) as reader:
                rate = reader.sample_rate
                audio = reader.read(int(max_seconds * rate))
        return audio, int(rate), Path(source).name
    if not (isinstance(source, tuple) and len(source) == 2):
        raise ParameterError(f"{role} must be a file path or an (audio, sample_rate) tuple")
    audio = np.asarray(source[0], dtype=np.float32)
    rate = int(source[1])
    audio = audio[None] if audio.ndim == 1 else audio
    if audio.ndim != 2 or audio.shape[0] > _MAX_CHANNELS:
        raise ParameterError(f"{role} audio must be (channels, samples), got shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise AudioContentError(f"{role} audio contains NaN or Inf samples; clean it first")
    if max_seconds is not None:
        audio = audio[:, : int(max_seconds * rate)]
    return audio, rate, f"<{role} array>"


# --------------------------------------------------------------------------- checking


def _fmt_s(seconds: float) -> str:
    """Seconds for messages: 5 -> '5', 2.5 -> '2.5'."""
    return f"{seconds:g}"


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
            f"{role} is silent (peak {peak_dbfs:.0f} dBFS); check the file or record it louder"
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

    clipped_fraction = float(np.count_nonzero(mags >= _CLIP_LEVEL)) / mags.size

    if active_seconds < min_seconds:
        wanted = f"need at least {_fmt_s(min_seconds)} s"
        if recommended_seconds is not None and recommended_seconds > min_seconds:
            wanted += f" ({_fmt_s(recommended_seconds)} s or more recommended)"
        raise AudioContentError(
            f"{role} has {active_seconds:.1f} s of sound; {wanted}; use a longer recording"
        )

    warnings: list[str] = []
    if clipped_fraction > _CLIP_WARN_FRACTION:
        warnings.append(
            f"{role} looks clipped ({100 * clipped_fraction:.1f} % of samples at full scale); "
            "results may be harsher than intended; use an unclipped recording if you have one"
        )
    if recommended_seconds is not None and active_seconds < recommended_seconds:
        warnings.append(
            f"{role} has {active_seconds:.1f} s of sound; {_fmt_s(recommended_seconds)} s or more "
            "is recommended for a reliable match"
        )
    return ContentReport(
        active_seconds=active_seconds,
        peak_dbfs=peak_dbfs,
        clipped_fraction=clipped_fraction,
        warnings=warnings,
    )


# --------------------------------------------------------------------------- resampling


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample (channels, samples) audio from `sr_in` Hz to `sr_out` Hz with soxr 'HQ'.

    Returns `audio` itself when the rates are equal. float32/float64 are kept; other dtypes
    come back as float32. 1-D input gives 1-D output.
    """
    for name, rate in (("sr_in", sr_in), ("sr_out", sr_out)):
        if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise ParameterError(f"{name} must be a positive integer in Hz, got {rate!r}")
    if sr_in == sr_out:
        return audio
    arr = np.asarray(audio)
    squeeze = arr.ndim == 1
    x = _as_2d(arr)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    if x.shape[1] == 0:
        out = np.zeros((x.shape[0], 0), dtype=x.dtype)
    else:
        out = soxr.resample(np.ascontiguousarray(x.T), int(sr_in), int(sr_out), quality="HQ")
        out = np.ascontiguousarray(np.asarray(out, dtype=x.dtype).reshape(-1, x.shape[0]).T)
    return out[0] if squeeze else out


# --------------------------------------------------------------------------- writing


def check_sample_rate(rate: object, what: str = "sample rate") -> int:
    """The rate as an int (Hz) when it is an integer in 8 kHz..384 kHz; ParameterError if not."""
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
        raise ParameterError(f"{what} must be a whole number of Hz, got {rate!r}")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ParameterError(f"{what} must be {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz, got {rate}")
    return int(rate)


def _format_for(path: Path) -> str:
    """soundfile format name for the extension of `path`."""
    fmt = EXTENSION_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted({e for e in EXTENSION_FORMATS if len(e) <= 5}))
        raise OutputPathError(
            f"cannot tell the audio format of {path} from its extension "
            f"{path.suffix or '(none)'!r}; use one of {known}"
        )
    return fmt


def choose_subtype(fmt: str, *, subtype: str | None = None, like: AudioInfo | None = None) -> str:
    """soundfile subtype for writing format `fmt`: `subtype`, else `like`'s, else a default.

    `like`'s subtype is kept when `fmt` is its format or it is plain PCM/float that `fmt` takes.
    Otherwise (an mp3 input written as .wav, a float wav as .flac) the fallback is PCM_24 for
    sources above 16 bits where `fmt` supports it, else the format's default subtype.
    """
    if subtype is not None:
        sub = subtype.upper()
        if not sf.check_format(fmt, sub):
            allowed = ", ".join(sf.available_subtypes(fmt))
            raise ParameterError(
                f"subtype {subtype!r} cannot be written as {fmt}; use one of {allowed}"
            )
        return sub
    if like is not None:
        portable = like.format == fmt or like.subtype in _PLAIN_SUBTYPES
        if portable and sf.check_format(fmt, like.subtype):
            return like.subtype
        if like.subtype in _HIRES_SUBTYPES and sf.check_format(fmt, "PCM_24"):
            return "PCM_24"
    return str(sf.default_subtype(fmt))


class AtomicAudioWriter:
    """Context manager writing (channels, n) blocks to a temp file, renamed onto `path` on success.

    On an exception (KeyboardInterrupt included) inside the ``with`` block the temp file is
    removed and `path` is left untouched. The format comes from the extension of `path`; the
    subtype from `subtype`, else `like`, else the format's default (see `choose_subtype`).
    Integer subtypes are clipped to [-1, 1]; float subtypes are written as given.
    """

    def __init__(
        self,
        path: StrPath,
        sample_rate: int,
        channels: int,
        *,
        subtype: str | None = None,
        like: AudioInfo | None = None,
        overwrite: bool = True,
    ) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
            raise ParameterError(f"sample_rate must be an integer in Hz, got {sample_rate!r}")
        if sample_rate <= 0:
            raise ParameterError(f"sample_rate must be > 0 Hz, got {sample_rate}")
        if not 1 <= channels <= _MAX_CHANNELS:
            raise ParameterError(f"channels must be in 1..{_MAX_CHANNELS}, got {channels}")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.format = _format_for(self.path)
        self.subtype = choose_subtype(self.format, subtype=subtype, like=like)
        self._clip = self.subtype not in _UNCLIPPED_SUBTYPES
        self._tmp: Path | None = None
        self._sfile: sf.SoundFile | None = None
        self.frames_written = 0
        #: largest |sample| given (before any clipping), and how many samples were clipped
        self.peak = 0.0
        self.clipped_samples = 0

    def _describe(self) -> str:
        """Format, subtype and rate for messages."""
        return f"{self.format} {self.subtype}, {self.sample_rate} Hz, {self.channels} ch"

    def __enter__(self) -> AtomicAudioWriter:
        if self.path.is_dir():
            raise OutputPathError(f"output path {self.path} is a directory; give a file name")
        self._tmp = make_temp(self.path)
        try:
            self._sfile = sf.SoundFile(
                self._tmp,
                mode="w",
                samplerate=self.sample_rate,
                channels=self.channels,
                subtype=self.subtype,
                format=self.format,
            )
        except BaseException as exc:
            unlink_quietly(self._tmp)
            self._tmp = None
            if isinstance(exc, (sf.SoundFileError, RuntimeError, ValueError)):
                raise AudioFileError(
                    f"cannot write {self.path} as {self._describe()} ({exc}); "
                    "choose another format, subtype or sample rate"
                ) from exc
            raise
        return self

    def write(self, block: np.ndarray) -> None:
        """Append a (channels, n) block of samples (full scale = 1)."""
        check_stop()
        if self._sfile is None:
            raise RuntimeError("AtomicAudioWriter.write called outside its `with` block")
        x = _as_2d(block, "block")
        if x.shape[0] != self.channels:
            raise ParameterError(
                f"block has {x.shape[0]} channels, the file was opened with {self.channels}"
            )
        if not np.issubdtype(x.dtype, np.floating):
            raise ParameterError(f"block must hold float samples, got dtype {x.dtype}")
        if not np.isfinite(x).all():
            raise AudioContentError(
                f"refusing to write NaN or infinite samples to {self.path}; the processing failed"
            )
        if x.size:
            self.peak = max(self.peak, float(np.max(np.abs(x))))
        if self._clip and self.peak > 1.0:
            over = np.abs(x) > 1.0
            n_over = int(np.count_nonzero(over))
            if n_over:
                self.clipped_samples += n_over
                x = np.clip(x, -1.0, 1.0)
        try:
            self._sfile.write(np.ascontiguousarray(x.T))
        except (sf.SoundFileError, RuntimeError, ValueError, OSError) as exc:
            raise AudioFileError(f"cannot write {self.path} ({_write_reason(self.path, exc)}); "
                                 "free some space or choose another output path") from exc
        self.frames_written += x.shape[1]

    @property
    def clips(self) -> bool:
        """True when samples beyond full scale were clipped (integer subtypes only)."""
        return self.clipped_samples > 0

    def info(self) -> AudioInfo:
        """AudioInfo of the file as written so far."""
        return AudioInfo(
            path=self.path,
            sample_rate=self.sample_rate,
            channels=self.channels,
            frames=self.frames_written,
            subtype=self.subtype,
            format=self.format,
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tmp, sfile = self._tmp, self._sfile
        self._tmp, self._sfile = None, None
        if tmp is None:
            return
        committed = False
        try:
            if sfile is not None and exc_type is not None:
                with contextlib.suppress(Exception):
                    sfile.close()
            elif sfile is not None:
                try:
                    sfile.close()
                except (sf.SoundFileError, RuntimeError, OSError) as err:
                    raise AudioFileError(f"cannot finish writing {self.path} "
                                         f"({_write_reason(self.path, err)})") from err
            if exc_type is None:
                commit_temp(tmp, self.path, overwrite=self.overwrite)
                committed = True
        finally:
            if not committed:
                unlink_quietly(tmp)


def _write_reason(path: Path, exc: BaseException) -> str:
    """Why a write failed, in words: libsndfile says "System error" for a full disk."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return os_reason(exc)
    with contextlib.suppress(OSError):
        if shutil.disk_usage(path.parent).free < _FULL_DISK_BYTES:
            return "no space left on device"
    return str(exc)


def write_audio(
    path: StrPath,
    audio: np.ndarray,
    sample_rate: int,
    *,
    subtype: str | None = None,
    like: AudioInfo | None = None,
    overwrite: bool = True,
) -> AudioInfo:
    """Write (channels, samples) audio atomically; format from the extension, rate in Hz.

    The subtype is `subtype`, else `like`'s where the format takes it, else a fallback (see
    `choose_subtype`). Integer subtypes are clipped to [-1, 1]; float ones are not.

    Raises:
        OutputPathError: the directory is missing or not writable, or the extension is unknown.
        AudioFileError: the format cannot take these samples (e.g. mp3 at 96 kHz).
        AudioContentError: NaN or infinite samples.
    """
    x = _as_2d(audio)
    if not np.issubdtype(x.dtype, np.floating):
        raise ParameterError(f"audio must hold float samples, got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise AudioContentError(
            f"refusing to write NaN or infinite samples to {path}; the processing failed"
        )
    with AtomicAudioWriter(path, sample_rate, x.shape[0], subtype=subtype, like=like,
                           overwrite=overwrite) as writer:
        writer.write(x)
    return writer.info()


__all__ = [
    "EXTENSION_FORMATS",
    "FLOAT_SUBTYPES",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "AtomicAudioWriter",
    "AudioInfo",
    "AudioLike",
    "AudioReader",
    "ContentReport",
    "audio_info",
    "check_content",
    "check_output_path",
    "check_sample_rate",
    "choose_subtype",
    "load_audio_like",
    "open_stream",
    "read_audio",
    "resample",
    "write_audio",
]
