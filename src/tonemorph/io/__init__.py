"""File input/output: audio files (arrays are (channels, samples)) and model documents.

read (files, streams), content (checks), rates (range, resampling), write (formats, atomic
writer), paths (the output guard, atomic writes), model_file + validate (.tmodel), process
(streaming a file through a processor)."""

from __future__ import annotations

from tonemorph.io.content import (
    ContentReport,
    check_content,
    check_mixdown,
    example_mono,
    mono_mixdown,
    playing_channels,
)
from tonemorph.io.model_file import (
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    TONE_SUFFIX,
    check_tone_path,
    load_model_document,
    save_model_document,
)
from tonemorph.io.paths import (
    HTML_SUFFIXES,
    check_output_path,
    check_outputs,
    check_suffix,
    clean_stale_temp_files,
    os_reason,
    write_atomic,
    write_text_atomic,
)
from tonemorph.io.process import process_file
from tonemorph.io.rates import check_sample_rate, resample
from tonemorph.io.read import (
    AudioInfo,
    AudioLike,
    AudioReader,
    audio_info,
    float_audio,
    load_audio_like,
    open_stream,
    read_audio,
)
from tonemorph.io.write import (
    EXTENSION_FORMATS,
    LOSSY_SUBTYPES,
    AtomicAudioWriter,
    check_format_rate,
    choose_subtype,
    format_for,
    write_audio,
)

__all__ = [
    "EXTENSION_FORMATS",
    "HTML_SUFFIXES",
    "LOSSY_SUBTYPES",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "TONE_SUFFIX",
    "AtomicAudioWriter",
    "AudioInfo",
    "AudioLike",
    "AudioReader",
    "ContentReport",
    "audio_info",
    "check_content",
    "check_format_rate",
    "check_mixdown",
    "check_output_path",
    "check_outputs",
    "check_suffix",
    "check_tone_path",
    "check_sample_rate",
    "choose_subtype",
    "example_mono",
    "mono_mixdown",
    "playing_channels",
    "float_audio",
    "format_for",
    "clean_stale_temp_files",
    "load_audio_like",
    "load_model_document",
    "open_stream",
    "os_reason",
    "process_file",
    "read_audio",
    "resample",
    "save_model_document",
    "write_atomic",
    "write_audio",
    "write_text_atomic",
]
