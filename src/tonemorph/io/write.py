"""Writing audio: format and subtype policy, streaming atomic writer (temp + rename)."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from types import TracebackType

import numpy as np
import soundfile as sf

from tonemorph.errors import AudioContentError, AudioFileError, OutputPathError, ParameterError
from tonemorph.io.content import _MAX_CHANNELS, _as_2d
from tonemorph.io.paths import (
    StrPath,
    check_stop,
    commit_temp,
    make_temp,
    os_reason,
    unlink_quietly,
)
from tonemorph.io.read import AudioInfo

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
#: Lossy codecs: the decoded samples are not the ones written (their peaks move).
LOSSY_SUBTYPES = frozenset({"MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III", "VORBIS", "OPUS"})
#: The container each codec is written in (libsndfile lists some in others it cannot write).
_CODEC_CONTAINERS = {"MPEG_LAYER_III": "MP3", "VORBIS": "OGG", "OPUS": "OGG"}
_READ_ONLY_CODECS = frozenset({"MPEG_LAYER_I", "MPEG_LAYER_II"})
#: Floating-point subtypes: they keep samples beyond full scale exactly.
FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})
#: Plain sample encodings that carry over between container formats (codecs such as
#: MPEG_LAYER_III or VORBIS stay with their own container even where libsndfile allows more).
_PLAIN_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"})
#: Source subtypes with more than 16 bits of resolution.
_HIRES_SUBTYPES = frozenset({"FLOAT", "DOUBLE", "PCM_24", "PCM_32"})
#: 8-bit subtypes, the signed first (FLAC and AIFF take it, WAV the unsigned).
_EIGHT_BIT_SUBTYPES = ("PCM_S8", "PCM_U8")
#: Integer arrays libsndfile stores as they are, per subtype (`AtomicAudioWriter.write`'s pcm).
_PCM_DTYPES = {"PCM_16": np.dtype(np.int16), "PCM_24": np.dtype(np.int32)}
_FULL_DISK_BYTES = 1 << 20  # below this much free space a failed write is a full disk


def format_for(path: StrPath) -> str:
    """soundfile format name for the extension of `path` (OutputPathError when unknown)."""
    path = Path(path)
    fmt = EXTENSION_FORMATS.get(path.suffix.lower())
    if fmt is None and path.suffix.lower() == ".opus":
        raise OutputPathError(f"{path}: Opus is written in an Ogg file here: name it .ogg and "
                              "ask for the OPUS subtype (at 48 kHz or 24, 16, 12, 8 kHz)")
    if fmt is None:
        known = ", ".join(sorted({e for e in EXTENSION_FORMATS if len(e) <= 5}))
        raise OutputPathError(
            f"cannot tell the audio format of {path} from its extension "
            f"{path.suffix or '(none)'!r}; use one of {known}"
        )
    return fmt


#: Sample rates (Hz) a codec can hold, where libsndfile takes fewer than it reads: per format
#: (MPEG audio, 8-48 kHz) and per subtype (Opus in Ogg); the others take any rate.
CODEC_RATES_HZ: dict[str, tuple[int, ...]] = {
    "MP3": (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
    "OPUS": (8000, 12000, 16000, 24000, 48000),
}
#: The highest rate (Hz) a codec takes where it takes a range: libvorbis crashes the process
#: (SIGSEGV inside libsndfile) on an Ogg Vorbis file above 200 kHz.
CODEC_MAX_RATE_HZ: dict[str, int] = {"VORBIS": 200_000}


def check_format_rate(path: StrPath, sample_rate: int, subtype: str | None = None) -> None:
    """OutputPathError when the format of `path` (or `subtype`, e.g. OPUS) cannot hold audio
    at `sample_rate` (Hz)."""
    fmt = format_for(path)
    for codec in (fmt, (subtype or sf.default_subtype(fmt) or "").upper()):
        top = CODEC_MAX_RATE_HZ.get(codec)
        if top is not None and int(sample_rate) > top:
            raise OutputPathError(
                f"{Path(path).name}: {codec} in an {fmt} file cannot hold {int(sample_rate)} Hz "
                f"audio (it takes up to {top} Hz); write a .wav or .flac, which keep the rate, "
                "or resample it"
            )
        rates = CODEC_RATES_HZ.get(codec)
        if rates is not None and int(sample_rate) not in rates:
            what = f"an {fmt} file" if codec == fmt else f"{codec} in an {fmt} file"
            raise OutputPathError(
                f"{Path(path).name}: {what} cannot hold {int(sample_rate)} Hz audio (it takes "
                f"{', '.join(str(r) for r in rates)} Hz); write a .wav or .flac, which keep "
                "the rate"
            )


def choose_subtype(fmt: str, *, subtype: str | None = None, like: AudioInfo | None = None) -> str:
    """soundfile subtype for writing format `fmt`: `subtype`, else `like`'s, else a default.

    `like`'s subtype is kept when `fmt` is its format or it is plain PCM/float that `fmt` takes.
    Otherwise (an mp3 input written as .wav, a float wav as .flac) the fallback is PCM_24 for
    sources above 16 bits where `fmt` supports it, else the format's default subtype.
    """
    if subtype is not None:
        sub = subtype.upper()
        if sub in _READ_ONLY_CODECS:
            raise ParameterError(f"subtype {subtype!r} is read but not written (libsndfile "
                                 "encodes no MPEG layer I or II); write MPEG_LAYER_III (.mp3)")
        home = _CODEC_CONTAINERS.get(sub)
        if home is not None and home != fmt:
            # libsndfile lists MPEG audio in a WAV as possible, then cannot open one
            ext = {"MP3": ".mp3", "OGG": ".ogg"}[home]
            raise ParameterError(f"subtype {subtype!r} is written in an {home} file; name the "
                                 f"output {ext}, or choose a subtype of {fmt}")
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
        # 8 bits stay 8 bits: a WAV's unsigned bytes are signed in FLAC and AIFF
        if like.subtype in _EIGHT_BIT_SUBTYPES:
            for eight in _EIGHT_BIT_SUBTYPES:
                if sf.check_format(fmt, eight):
                    return eight
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
        self.format = format_for(self.path)
        self.subtype = choose_subtype(self.format, subtype=subtype, like=like)
        check_format_rate(self.path, self.sample_rate, self.subtype)
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
                # a lossy file at the codec's best quality (libsndfile's default MP3 is
                # about 150 kb/s, Ogg Vorbis 95 kb/s): a master's peaks moved +1.5 and
                # +1.5 dB there, +0.9 and +0.2 dB at best quality (280 and 380 kb/s)
                compression_level=0.0 if self.subtype in LOSSY_SUBTYPES else None,
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

    def write(self, block: np.ndarray, *, pcm: np.ndarray | None = None) -> None:
        """Append a (channels, n) block of samples (full scale = 1).

        ``pcm`` may give the same samples as the integers the file stores: (channels, n) int16
        for PCM_16, int32 (left-justified) for PCM_24 (`Ditherer.process_pcm`); they are
        written as they are (libsndfile's conversion of float blocks is most of a write).
        """
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
        if pcm is not None and (pcm.shape != x.shape or pcm.dtype != _PCM_DTYPES.get(self.subtype)):
            raise ParameterError(f"pcm must be {x.shape} {_PCM_DTYPES.get(self.subtype)} for "
                                 f"{self.subtype}, got {pcm.shape} {pcm.dtype}")
        try:
            self._sfile.write(np.ascontiguousarray((x if pcm is None else pcm).T))
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
    "CODEC_RATES_HZ",
    "EXTENSION_FORMATS",
    "FLOAT_SUBTYPES",
    "LOSSY_SUBTYPES",
    "AtomicAudioWriter",
    "check_format_rate",
    "choose_subtype",
    "format_for",
    "write_audio",
]
