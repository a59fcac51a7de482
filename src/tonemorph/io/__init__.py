"""File input/output: audio files (arrays are (channels, samples)) and model documents."""

from __future__ import annotations

from tonemorph.io.audio import (
    EXTENSION_FORMATS,
    AtomicAudioWriter,
    AudioInfo,
    AudioLike,
    AudioReader,
    ContentReport,
    audio_info,
    check_content,
    check_output_path,
    check_sample_rate,
    choose_subtype,
    load_audio_like,
    open_stream,
    read_audio,
    resample,
    write_audio,
)
from tonemorph.io.model_file import (
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    load_model_document,
    save_model_document,
)
from tonemorph.io.paths import (
    check_outputs,
    clean_stale_temp_files,
    os_reason,
    write_atomic,
    write_text_atomic,
)
from tonemorph.io.process import process_file

__all__ = [
    "EXTENSION_FORMATS",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "AtomicAudioWriter",
    "AudioInfo",
    "AudioLike",
    "AudioReader",
    "ContentReport",
    "audio_info",
    "check_content",
    "check_output_path",
    "check_outputs",
    "check_sample_rate",
    "choose_subtype",
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
