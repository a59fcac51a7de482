"""File input/output: audio files (arrays are (channels, samples)) and model documents."""

from __future__ import annotations

from tonemorph.io.audio import (
    EXTENSION_FORMATS,
    AtomicAudioWriter,
    AudioInfo,
    AudioReader,
    ContentReport,
    audio_info,
    check_content,
    check_output_path,
    choose_subtype,
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
from tonemorph.io.process import process_file

__all__ = [
    "EXTENSION_FORMATS",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "AtomicAudioWriter",
    "AudioInfo",
    "AudioReader",
    "ContentReport",
    "audio_info",
    "check_content",
    "check_output_path",
    "choose_subtype",
    "load_model_document",
    "open_stream",
    "process_file",
    "read_audio",
    "resample",
    "save_model_document",
    "write_audio",
]
