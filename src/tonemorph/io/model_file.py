"""Versioned JSON model document: the on-disk form of a learned tone.

The document is a JSON object with ``"format": "tonemorph-model"`` and an integer
``"format_version"``; the version is independent of the package version and changes only when
the layout of the document does.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from tonemorph.errors import ModelFileError, OutputPathError
from tonemorph.io.paths import write_text_atomic
from tonemorph.io.validate import check_file_size
from tonemorph.io.write import EXTENSION_FORMATS

StrPath = str | os.PathLike[str]

MODEL_FORMAT = "tonemorph-model"
MODEL_FORMAT_VERSION = 1

_AUDIO_MAGIC = (b"RIFF", b"RF64", b"fLaC", b"OggS", b"ID3", b"FORM", b"\xff\xfb", b"\xff\xf3")
_WHAT_TO_DO = "pass a model file written by tonemorph"


class _NonFiniteLiteral(ValueError):
    """A NaN / Infinity / -Infinity literal in a model file (Python's json accepts them)."""


def _reject_constant(name: str) -> float:
    """json parse_constant hook: refuse NaN and Infinity."""
    raise _NonFiniteLiteral(name)


def _check_finite(value: Any, where: str = "$") -> None:
    """Raise ModelFileError naming the first NaN/Inf float inside `value` (a JSON-like tree)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ModelFileError(
                f"model value at {where} is {value}; not saved (the training diverged? "
                "try again with a lower learning rate)"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_finite(item, f"{where}[{i}]")


TONE_SUFFIX = ".tmodel"


def check_tone_path(path: StrPath) -> None:
    """Refuse a tone file name that does not end in .tmodel (OutputPathError): `apply`, `info`
    and `export` read .nam and .json files as neural models and audio names as audio."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == TONE_SUFFIX:
        return
    what = "an audio file name" if suffix in EXTENSION_FORMATS else f"not a {TONE_SUFFIX} name"
    raise OutputPathError(f"{p} is {what}; save the tone as {p.stem or 'tone'}{TONE_SUFFIX} "
                          "(apply, info and export know a tone by that extension)")


def save_model_document(path: StrPath, doc: dict[str, Any], *, overwrite: bool = True) -> None:
    """Write `doc` as pretty JSON with "format" and "format_version" keys, atomically.

    Raises:
        ModelFileError: `doc` holds NaN/Inf or a value JSON cannot store.
        OutputPathError: the directory is missing or not writable, or the path names an
            audio file (.wav, .flac, ...).
    """
    if not isinstance(doc, dict):
        raise ModelFileError(f"model document must be a dict, got {type(doc).__name__}")
    if Path(path).suffix.lower() in EXTENSION_FORMATS:
        # a model written over a take (overwrite is the API's default) would lose the audio
        raise OutputPathError(f"{path} is an audio file name; save the tone as .tmodel")
    full: dict[str, Any] = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION}
    full.update({k: v for k, v in doc.items() if k not in full})
    _check_finite(full)
    try:
        text = json.dumps(full, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"model document cannot be stored as JSON ({exc})") from exc

    write_text_atomic(path, text, overwrite=overwrite)


def _not_json(path: Path, head: bytes) -> ModelFileError:
    """Error for a file that is not JSON; says when it looks like audio."""
    hint = "; it looks like an audio file" if head.startswith(_AUDIO_MAGIC) else ""
    return ModelFileError(f"{path} is not a tonemorph model (not JSON{hint}); {_WHAT_TO_DO}")


def load_model_document(path: StrPath) -> dict[str, Any]:
    """Read and validate a model document; returns the whole JSON object, format keys included.

    Raises:
        ModelFileError: missing file, not JSON, another format (e.g. a Neural Amp Modeler .nam),
            no "format" key, or a format version that is invalid or newer than supported.
    """
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"model file {p} not found; check the path")
    if p.is_dir():
        raise ModelFileError(f"model path {p} is a directory; {_WHAT_TO_DO}")
    check_file_size(p, "tonemorph model")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"model file {p} cannot be read ({exc.strerror or exc})") from exc
    try:
        doc = json.loads(raw.decode("utf-8-sig"), parse_constant=_reject_constant)
    except _NonFiniteLiteral as exc:
        raise ModelFileError(f"{p} is not a usable tonemorph model (not JSON that tonemorph "
                             f"writes: it holds the literal {exc}, and every model value must "
                             "be a finite number); re-learn the tone or fix the file") from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _not_json(p, raw[:4]) from exc

    if not isinstance(doc, dict):
        raise ModelFileError(
            f"{p} is not a tonemorph model (JSON {type(doc).__name__}, not an object); "
            f"{_WHAT_TO_DO}"
        )
    fmt = doc.get("format")
    if fmt != MODEL_FORMAT:
        if "architecture" in doc and "weights" in doc:
            raise ModelFileError(
                f"{p} is a Neural Amp Modeler model: apply and info play it, but this needs "
                "a tonemorph tone; pass the .tmodel it was learned or exported from"
            )
        if fmt is None:
            raise ModelFileError(f"{p} is not a tonemorph model (no 'format' key); {_WHAT_TO_DO}")
        raise ModelFileError(
            f"{p} is not a tonemorph model (format {fmt!r}, expected {MODEL_FORMAT!r}); "
            f"{_WHAT_TO_DO}"
        )

    version = doc.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(
            f"{p} has an invalid model format version {version!r} (expected an integer >= 1); "
            "the file is damaged, re-create it with tonemorph"
        )
    if version > MODEL_FORMAT_VERSION:
        raise ModelFileError(
            f"{p} has model format version {version}, newer than this tonemorph supports "
            f"({MODEL_FORMAT_VERSION}); upgrade tonemorph"
        )
    return doc


__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "TONE_SUFFIX",
    "check_tone_path",
    "load_model_document",
    "save_model_document",
]
