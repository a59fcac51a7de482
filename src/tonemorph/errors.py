"""Exception types: one per kind of user mistake, each message says what to do."""

from __future__ import annotations


class TonemorphError(Exception):
    """Root of every error tonemorph raises on purpose.

    `option` names the library parameter that would allow what was refused (e.g. "force",
    "allow_low_rate"); the message itself speaks of the library, and the CLI names its flag.
    """

    def __init__(self, *args: object, option: str | None = None) -> None:
        super().__init__(*args)
        self.option = option


class AudioFileError(TonemorphError, OSError):
    """An audio file is missing, unreadable, not audio, or cannot be written."""


class AudioContentError(TonemorphError, ValueError):
    """Audio was read but is unusable: silent, too short, NaN/Inf samples."""


class LowSampleRateError(AudioContentError):
    """A recording's sample rate is too low for its band to carry the tone being learned."""


class ModelFileError(TonemorphError, ValueError):
    """A model file is missing, of another format, or of an unsupported version."""


class OutputPathError(TonemorphError, OSError):
    """An output path would overwrite an input or cannot be written."""


class ParameterError(TonemorphError, ValueError):
    """An argument is out of range or inconsistent."""


__all__ = [
    "TonemorphError",
    "AudioFileError",
    "AudioContentError",
    "LowSampleRateError",
    "ModelFileError",
    "OutputPathError",
    "ParameterError",
]
