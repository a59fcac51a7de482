"""Neural Amp Modeler `.nam` files: write version 0.5.4 with full metadata; read any 0.5.x
WaveNet or LSTM file (ours or anyone's).

A `.nam` file is one JSON object: ``version``, ``architecture`` ("WaveNet" | "LSTM"),
``config``, ``weights`` (flat float list in the architecture's export order), ``sample_rate``
and ``metadata``. The current NAM plugin (Core 0.2) loads version "0.5.x" only, so that is what
we write. See `tonemorph.neural` for the weight order of each architecture.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tonemorph.errors import ModelFileError
from tonemorph.export._files import read_json, write_json_atomic
from tonemorph.neural import recurrent, wavenet

NAM_VERSION = "0.5.4"
NAM_READ_MAJOR_MINOR = (0, 5)
NAM_SAMPLE_RATE = 48000
#: NAM's quality grades by ESR (upper bounds, exclusive)
NAM_GRADES = ((0.01, "great"), (0.035, "not bad"), (0.1, "okay"))
GEAR_TYPES = ("amp", "pedal", "pedal_amp", "amp_cab", "amp_pedal_cab", "preamp", "studio")
TONE_TYPES = ("clean", "overdrive", "crunch", "hi_gain", "fuzz")

_WAVENET_KEYS = {"input_size", "condition_size", "head_size", "channels", "kernel_size",
                 "dilations", "activation", "gated", "head_bias"}


class NamVersionWarning(UserWarning):
    """A `.nam` file is newer than 0.5.x but its architecture and config are ones we run."""


def nam_grade(esr: float) -> str:
    """NAM's word for an ESR: great (< 0.01), not bad (< 0.035), okay (< 0.1), else poor."""
    for bound, word in NAM_GRADES:
        if esr < bound:
            return word
    return "poor"


@dataclass
class NamFile:
    """The parsed content of a `.nam` file (weights as float64)."""

    architecture: str
    config: dict
    weights: np.ndarray
    sample_rate: int = NAM_SAMPLE_RATE
    metadata: dict = field(default_factory=dict)
    version: str = NAM_VERSION

    def to_document(self) -> dict:
        """The JSON object written to disk."""
        return {"version": self.version, "metadata": self.metadata,
                "architecture": self.architecture, "config": self.config,
                "weights": [float(w) for w in self.weights],
                "sample_rate": int(self.sample_rate)}


def nam_date(when: _dt.datetime | None = None) -> dict:
    """NAM's metadata date object (year, month, day, hour, minute, second), UTC."""
    t = when or _dt.datetime.now(_dt.timezone.utc)
    return {"year": t.year, "month": t.month, "day": t.day, "hour": t.hour,
            "minute": t.minute, "second": t.second}


def nam_metadata(*, name: str, modeled_by: str = "tonemorph", gear_type: str | None = None,
                 tone_type: str | None = None, loudness_db: float | None = None,
                 gain: float | None = None, input_level_dbu: float | None = None,
                 output_level_dbu: float | None = None, esr: float | None = None,
                 training: dict | None = None) -> dict:
    """A NAM metadata object; `esr` (training/validation ESR) also stores the NAM grade."""
    if gear_type is not None and gear_type not in GEAR_TYPES:
        raise ModelFileError(f"gear_type must be one of {GEAR_TYPES}, got {gear_type!r}")
    if tone_type is not None and tone_type not in TONE_TYPES:
        raise ModelFileError(f"tone_type must be one of {TONE_TYPES}, got {tone_type!r}")
    tr = dict(training or {})
    if esr is not None:
        tr["validation_esr"] = float(esr)
        tr["nam_grade"] = nam_grade(esr)
    return {"date": nam_date(), "name": name, "modeled_by": modeled_by, "gear_type": gear_type,
            "gear_make": None, "gear_model": None, "tone_type": tone_type,
            "loudness": loudness_db, "gain": gain, "input_level_dbu": input_level_dbu,
            "output_level_dbu": output_level_dbu, "training": tr}


def to_nam_file(model: torch.nn.Module, metadata: dict | None = None,
                sample_rate: int = NAM_SAMPLE_RATE) -> NamFile:
    """Package a WaveNet or NamLSTM as a NamFile (an LSTM is settled on silence first)."""
    if isinstance(model, recurrent.NamLSTM):
        model.settle()
    elif not isinstance(model, wavenet.WaveNet):
        raise ModelFileError(f"only WaveNet and LSTM models go into a .nam file, got "
                             f"{type(model).__name__}")
    w = model.export_weights()
    if not np.all(np.isfinite(w)):
        raise ModelFileError("model weights hold NaN/Inf (the training diverged); not written")
    return NamFile(model.architecture, model.export_config(), w, int(sample_rate),
                   dict(metadata or {}), NAM_VERSION)


def write_nam(path: str | os.PathLike[str], model: torch.nn.Module,
              metadata: dict | None = None, sample_rate: int = NAM_SAMPLE_RATE) -> NamFile:
    """Write `model` as a version 0.5.4 `.nam` file, atomically; returns what was written."""
    nf = to_nam_file(model, metadata, sample_rate)
    write_json_atomic(path, nf.to_document())
    return nf


def _parse_version(v: Any, source: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", str(v)) if isinstance(v, str) else None
    if not m:
        raise ModelFileError(f"{source} has no valid NAM version (got {v!r}); it is not a "
                             ".nam file, or a damaged one")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def parse_nam(doc: Any, source: str = "model") -> NamFile:
    """Validate a parsed `.nam` JSON object; warns on a newer version we can still run."""
    if not isinstance(doc, dict) or "architecture" not in doc or "weights" not in doc:
        raise ModelFileError(f"{source} is not a .nam file (no 'architecture'/'weights'); "
                             "pass a Neural Amp Modeler model")
    version = _parse_version(doc.get("version"), source)
    arch = doc["architecture"]
    if arch not in ("WaveNet", "LSTM"):
        raise ModelFileError(f"{source} uses NAM architecture {arch!r}; only WaveNet and LSTM "
                             "are supported")
    config = doc.get("config")
    if not isinstance(config, dict):
        raise ModelFileError(f"{source} has no 'config' object")
    if version[:2] < NAM_READ_MAJOR_MINOR:
        raise ModelFileError(f"{source} is NAM version {doc['version']}, older than 0.5; "
                             "re-export it with a current NAM trainer")
    if arch == "WaveNet":
        extra = sorted({k for lc in config.get("layers", []) if isinstance(lc, dict)
                        for k in lc} - _WAVENET_KEYS)
        extra += sorted(set(config) - {"layers", "head", "head_scale"})
        if extra:
            raise ModelFileError(f"{source} (NAM {doc['version']}) uses WaveNet options we do "
                                 f"not implement: {extra}")
    try:
        if not isinstance(doc["weights"], list):
            raise TypeError(f"got {type(doc['weights']).__name__}")
        weights = np.asarray(doc["weights"], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{source} has a weights list that is not numbers ({exc})") from exc
    if not np.all(np.isfinite(weights)):
        raise ModelFileError(f"{source} holds NaN/Inf weights; the model is damaged")
    sr = doc.get("sample_rate") or NAM_SAMPLE_RATE
    if not isinstance(sr, (int, float)) or not math.isfinite(sr) or sr <= 0:
        raise ModelFileError(f"{source} has an invalid sample_rate {sr!r}")
    nf = NamFile(arch, config, weights, int(round(sr)), dict(doc.get("metadata") or {}),
                 str(doc["version"]))
    build_model(nf, source)  # config and weight count must match before we accept the file
    if version[:2] > NAM_READ_MAJOR_MINOR:
        warnings.warn(f"{source} is NAM version {doc['version']}, newer than the 0.5.x we "
                      f"write; its {arch} config is one we implement, so it is loaded",
                      NamVersionWarning, stacklevel=2)
    return nf


def build_model(nf: NamFile, source: str = "model") -> torch.nn.Module:
    """The torch module of a NamFile, weights loaded, in eval mode."""
    try:
        model = (wavenet.from_nam_config(nf.config) if nf.architecture == "WaveNet"
                 else recurrent.from_nam_config(nf.config))
        model.import_weights(nf.weights)
    except ModelFileError as exc:
        raise ModelFileError(f"{source} is not a usable Neural Amp Modeler model: {exc}") from exc
    return model.eval()


def read_nam(path: str | os.PathLike[str]) -> NamFile:
    """Read and validate a `.nam` file (see `parse_nam`)."""
    return parse_nam(read_json(path, ".nam"), source=str(path))


def load_nam(path: str | os.PathLike[str]) -> torch.nn.Module:
    """The torch module stored in a `.nam` file."""
    return build_model(read_nam(path), str(path))


__all__ = [
    "NAM_GRADES",
    "NAM_SAMPLE_RATE",
    "NAM_VERSION",
    "NamFile",
    "NamVersionWarning",
    "build_model",
    "load_nam",
    "nam_grade",
    "nam_metadata",
    "parse_nam",
    "read_nam",
    "to_nam_file",
    "write_nam",
]
