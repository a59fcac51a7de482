"""Reading audio files: whole, or streamed in blocks; arrays are (channels, samples)."""

from __future__ import annotations

import os
import re
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import soundfile as sf

from tonemorph.errors import AudioContentError, AudioFileError, ParameterError
from tonemorph.io.content import _MAX_CHANNELS
from tonemorph.io.paths import (
    StrPath,
)
from tonemorph.io.rates import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, check_sample_rate

_SUPPORTED_HINT = "pass a WAV, FLAC, OGG, MP3 or AIFF recording"


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
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # gone between the checks: the reader says so
    if not stat.S_ISREG(mode):
        # a pipe (`<(cat a.wav)`) opened, then failed on the first seek with a traceback; a
        # device such as /dev/zero reads without end
        raise AudioFileError(f"{role} file {path} is a pipe or device, not a regular file; "
                             "save the audio to a file and give its path")


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
        size = p.stat().st_size
        if info.frames <= 0 and size > _HEADER_BYTES:
            # a recorder stopped before it wrote the sizes: the samples are there
            raise AudioFileError(
                f"{role} file {p} declares 0 frames in its header but holds {size} bytes: a "
                "recording that was never finished (the recorder did not close it); repair "
                "the header, e.g. `sox --ignore-length in.wav out.wav`, or re-export it")
        raise AudioFileError(
            f"{role} file {p} contains no audio (0 frames); re-export the recording"
        )
    if not MIN_SAMPLE_RATE <= info.sample_rate <= MAX_SAMPLE_RATE:
        # a header's rate of 100 Hz was played as one (its guard then added +12 dB)
        sfile.close()
        raise AudioFileError(
            f"{role} file {p} says it is sampled at {info.sample_rate} Hz; tonemorph reads "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz audio: resample it (or fix its header)"
        )
    _warn_if_truncated(sfile, info, role)
    return sfile, info


# libsndfile's header log says `data : 1440000 (should be 480000)` (WAV, RF64, W64) or
# `SSND : ... (should be ...)` (AIFF) when a chunk claims more bytes than the file holds.
_TRUNCATED_RE = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
_warned_truncated: set[tuple[str, int, int]] = set()
_HEADER_BYTES = 4096  # more than an audio file's header holds: the rest is samples
# a recorder that streams a WAV writes this data size while it does not know it yet (all ones
# in 32 bits, or just under): the file runs to its end, nothing is missing
_UNKNOWN_SIZE = 0xFFFFFF00


def truncated_seconds(sfile: sf.SoundFile, info: AudioInfo) -> float | None:
    """Seconds the header of a cut-off file declares (None when the file is whole)."""
    m = _TRUNCATED_RE.search(str(getattr(sfile, "extra_info", "") or ""))
    if not m:
        return None
    declared, present = int(m.group(1)), int(m.group(2))
    if present <= 0 or declared <= present or declared >= _UNKNOWN_SIZE:
        return None
    return info.duration_s * declared / present


def _warn_if_truncated(sfile: sf.SoundFile, info: AudioInfo, role: str) -> None:
    """Warn (once per file version) that a file is cut off and how much of it was read."""
    declared = truncated_seconds(sfile, info)
    if declared is None:
        return
    _warn_once(info, f"{role} file {info.path} is truncated: its header declares "
                     f"{declared:.1f} s, only {info.duration_s:.1f} s are present; using "
                     "what is there (re-export or copy the file again for the rest)")


def _warn_if_ended_early(info: AudioInfo, frames_read: int, role: str) -> None:
    """Warn (once per file version) that decoding ended well before the length the header
    gave: a cut-off MP3 or Ogg has no chunk size for `truncated_seconds` to read, only an
    estimate of its length (by 0.5 s or 1 % at most for a whole file, so no warning then)."""
    missing = info.frames - frames_read
    if missing <= max(0.5 * info.sample_rate, 0.01 * info.frames):
        return
    _warn_once(info, f"{role} file {info.path} ended after {frames_read / info.sample_rate:.1f}"
                     f" s of the {info.duration_s:.1f} s its header gives: it is truncated or "
                     "damaged; using what is there (re-export or copy the file again)")


def _warn_once(info: AudioInfo, message: str) -> None:
    """warnings.warn(message), once per file version (path, modification time, size)."""
    try:
        st = info.path.stat()
        key = (str(info.path.resolve()), st.st_mtime_ns, st.st_size)
    except OSError:
        key = (str(info.path), 0, 0)
    if key in _warned_truncated:
        return
    _warned_truncated.add(key)
    warnings.warn(message, stacklevel=4)


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
                _warn_if_ended_early(self.info, self.tell(), self.role)
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


#: Integer sample types taken as PCM, by bits: int16 as soundfile reads with dtype="int16"
_PCM_KINDS = {np.dtype(np.int8): 8, np.dtype(np.int16): 16, np.dtype(np.int32): 32,
              np.dtype(np.uint8): 8}


def float_audio(audio: object, role: str) -> np.ndarray:
    """Samples as float32 at full scale 1: floats as they are, integer PCM (int8/16/32, and
    uint8 centred on 128) scaled by its range; ParameterError for anything else."""
    a = np.asarray(audio)
    if a.dtype.kind == "f":
        return a.astype(np.float32, copy=False)
    bits = _PCM_KINDS.get(a.dtype)
    if bits is not None:
        half = float(2 ** (bits - 1))
        centre = half if a.dtype.kind == "u" else 0.0
        return ((a.astype(np.float64) - centre) / half).astype(np.float32)
    raise ParameterError(
        f"{role} audio has {a.dtype} samples; give floats at full scale 1 or integer PCM "
        "(int16, int32, as soundfile reads with dtype='int16')")


def load_audio_like(
    source: AudioLike, role: str, *, max_seconds: float | None = None
) -> tuple[np.ndarray, int, str]:
    """Audio (channels, samples) float32, its rate in Hz and a name, from a path or an array.

    A path is read whole (`read_audio`), or with ``max_seconds`` only its first max_seconds
    (bounded memory); its name is the file name. An ``(audio, sample_rate)`` tuple is checked
    (shape, finite samples; integer PCM scaled, `float_audio`) and cut to max_seconds; its name is ``<role array>``.

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
    # the rate first: (sample_rate, audio) swapped is then named by its array
    rate = check_sample_rate(source[1], f"{role} sample rate")
    audio = float_audio(source[0], role)
    audio = audio[None] if audio.ndim == 1 else audio
    if audio.ndim != 2 or audio.shape[0] > _MAX_CHANNELS:
        hint = ("; it looks like (samples, channels), as soundfile reads: pass audio.T"
                if audio.ndim == 2 and audio.shape[1] <= _MAX_CHANNELS else "")
        raise ParameterError(f"{role} audio must be (channels, samples), got shape "
                             f"{audio.shape}{hint}")
    if not np.all(np.isfinite(audio)):
        raise AudioContentError(f"{role} audio contains NaN or Inf samples; clean it first")
    if max_seconds is not None:
        audio = audio[:, : int(max_seconds * rate)]
    return audio, rate, f"<{role} array>"


# --------------------------------------------------------------------------- checking


__all__ = [
    "AudioInfo",
    "AudioLike",
    "AudioReader",
    "audio_info",
    "float_audio",
    "load_audio_like",
    "open_stream",
    "read_audio",
    "truncated_seconds",
]
