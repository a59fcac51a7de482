"""Neural Amp Modeler `.nam` files: write version 0.5.4 with full metadata; read any 0.5.x
WaveNet or LSTM file (ours or anyone's).

A `.nam` file is one JSON object: ``version``, ``architecture`` ("WaveNet" | "LSTM"),
``config``, ``weights`` (flat float list in the architecture's export order), ``sample_rate``
and ``metadata``. The current NAM plugin (Core 0.2) loads version "0.5.x" only, so that is what
we write. See `tonemorph.neural` for the weight order of each architecture.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tonemorph.errors import ModelFileError
from tonemorph.export._files import read_json, write_json_atomic
from tonemorph.io.validate import DocumentCheck, check_file_size, describe, join, json_parse_errors
from tonemorph.metrics import esr_grade
from tonemorph.neural import recurrent, wavenet
from tonemorph.neural.wavenet import ACTIVATIONS

if TYPE_CHECKING:
    from tonemorph.model import Tone

NAM_VERSION = "0.5.4"
NAM_READ_MAJOR_MINOR = (0, 5)
NAM_SAMPLE_RATE = 48000
#: NAM's quality grades by ESR (upper bounds, exclusive)
GEAR_TYPES = ("amp", "pedal", "pedal_amp", "amp_cab", "amp_pedal_cab", "preamp", "studio")
TONE_TYPES = ("clean", "overdrive", "crunch", "hi_gain", "fuzz")

_WAVENET_KEYS = {"input_size", "condition_size", "head_size", "channels", "kernel_size",
                 "dilations", "activation", "gated", "head_bias"}
NAM_FILE_FIX = ("this is not a usable Neural Amp Modeler model; re-export it from the trainer or "
                "fix the file")
#: Bounds on what a `.nam` file may ask for (NAM's presets use 16 channels, kernel 3, 10-13
#: dilations up to 512, a receptive field of 4,093 samples, LSTMs of 1-2 x 8-32): far beyond
#: real models, small enough that no file makes us allocate more than a few hundred MB.
NAM_LIMITS = {
    "layer_arrays": 8, "channels": 128, "kernel_size": 64, "dilations": 64,
    "dilation": 32768, "receptive_field": 1 << 16, "lstm_hidden": 512, "lstm_layers": 8,
    "abs_weight": 1e6,
}


class NamVersionWarning(UserWarning):
    """A `.nam` file is newer than 0.5.x but its architecture and config are ones we run."""


# NAM tone_type by the tone's drive (dB): below each bound, that word; above all, fuzz
_DRIVE_TONE_TYPES = ((0.0, "clean"), (12.0, "overdrive"), (24.0, "crunch"), (40.0, "hi_gain"))


def tone_type_of(tone: Tone) -> str:
    """NAM tone_type guessed from the drive stage: clean, overdrive, crunch, hi_gain or fuzz."""
    if "drive" not in tone.config.stages:
        return "clean"
    d = float(tone.parameters.get("drive.drive_db", -24.0))
    for bound, word in _DRIVE_TONE_TYPES:
        if d < bound:
            return word
    return "fuzz"


def gear_type_of(tone: Tone) -> str:
    """NAM gear_type: amp_cab with a cabinet stage, amp with drive alone, else studio."""
    st = tone.config.stages
    if "cab" in st:
        return "amp_cab"
    return "amp" if "drive" in st else "studio"


def gain_of(tone: Tone) -> float:
    """NAM's 0..1 'gain' from the drive (dB) within its range; 0 without a drive stage."""
    if "drive" not in tone.config.stages:
        return 0.0
    from tonemorph.chain.params import RANGES

    r = RANGES["drive_db"]
    return float(np.clip((float(tone.parameters["drive.drive_db"]) - r.lo) / (r.hi - r.lo),
                         0, 1))


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
        tr["nam_grade"] = esr_grade(esr)
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
    m = re.fullmatch(r"(\d{1,6})\.(\d{1,6})\.(\d{1,6})", v) if isinstance(v, str) else None
    if not m:
        raise ModelFileError(f"{source} has no valid NAM version (got {describe(v)}); it is not "
                             "a .nam file, or a damaged one")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def _wavenet_weight_count(ck: DocumentCheck, config: dict, version: str) -> int:
    """Check a WaveNet config against NAM_LIMITS; the number of weights it needs."""
    layers = ck.array(ck.require(config, "layers", "config"), "config.layers", min_size=1,
                      max_size=NAM_LIMITS["layer_arrays"])
    extra = sorted({k for lc in layers if isinstance(lc, dict) for k in lc} - _WAVENET_KEYS)
    extra += sorted(set(config) - {"layers", "head", "head_scale"})
    if extra:
        raise ModelFileError(f"{ck.source} (NAM {version}) uses WaveNet options we do "
                             f"not implement: {extra}")
    if config.get("head") is not None:
        raise ck.error("config.head", "is set: a separate head network is not supported "
                       "(only 'head': null, as every NAM preset writes)")
    if "head_scale" in config:
        ck.number(config["head_scale"], "config.head_scale", -NAM_LIMITS["abs_weight"],
                  NAM_LIMITS["abs_weight"])
    big, total, receptive = NAM_LIMITS["channels"], 1, 1  # 1: head_scale at the end
    for i, lc in enumerate(layers):
        at = join("config.layers", i)
        lc = ck.mapping(lc, at)
        size = {k: ck.integer(ck.require(lc, k, at), join(at, k), 1, big)
                for k in ("input_size", "condition_size", "head_size", "channels")}
        kernel = ck.integer(ck.require(lc, "kernel_size", at), join(at, "kernel_size"), 1,
                            NAM_LIMITS["kernel_size"], "taps")
        dil = ck.array(ck.require(lc, "dilations", at), join(at, "dilations"), min_size=1,
                       max_size=NAM_LIMITS["dilations"])
        dilations = [ck.integer(d, join(join(at, "dilations"), j), 1, NAM_LIMITS["dilation"],
                                "samples") for j, d in enumerate(dil)]
        if "activation" in lc:
            ck.text(lc["activation"], join(at, "activation"), tuple(ACTIVATIONS))
        gated = ck.flag(lc["gated"], join(at, "gated")) if "gated" in lc else False
        head_bias = ck.flag(lc["head_bias"], join(at, "head_bias")) if "head_bias" in lc else False
        receptive += (kernel - 1) * sum(dilations)
        if receptive > NAM_LIMITS["receptive_field"]:
            raise ck.error(join(at, "dilations"), f"make the receptive field over "
                           f"{NAM_LIMITS['receptive_field']} samples (NAM presets: 4093)")
        ch, mid = size["channels"], size["channels"] * (2 if gated else 1)
        per_layer = ch * mid * kernel + mid + size["condition_size"] * mid + ch * ch + ch
        total += (size["input_size"] * ch + len(dilations) * per_layer
                  + ch * size["head_size"] + (size["head_size"] if head_bias else 0))
    return total


def _lstm_weight_count(ck: DocumentCheck, config: dict) -> int:
    """Check an LSTM config against NAM_LIMITS; the number of weights it needs."""
    ck.only_keys(config, "config", frozenset({"input_size", "hidden_size", "num_layers"}),
                 " (an LSTM option we do not implement)")
    if "input_size" in config:
        ck.integer(config["input_size"], "config.input_size", 1, 1)
    h = ck.integer(ck.require(config, "hidden_size", "config"), "config.hidden_size", 1,
                   NAM_LIMITS["lstm_hidden"], "units")
    n = (ck.integer(config["num_layers"], "config.num_layers", 1, NAM_LIMITS["lstm_layers"],
                    "layers") if "num_layers" in config else 1)
    return sum(4 * h * ((1 if i == 0 else h) + h) + 6 * h for i in range(n)) + h + 1


def _check_metadata(ck: DocumentCheck, md: Any) -> dict:
    """NAM metadata: an object (or null); the numbers `tonemorph info` shows finite."""
    if md is None:
        return {}
    md = ck.mapping(md, "metadata")
    for key in ("loudness", "gain", "input_level_dbu", "output_level_dbu"):
        if md.get(key) is not None:
            ck.finite(md[key], join("metadata", key))
    tr = md.get("training")
    if tr is not None:
        tr = ck.mapping(tr, "metadata.training")
        if tr.get("validation_esr") is not None:
            ck.finite(tr["validation_esr"], "metadata.training.validation_esr")
    return dict(md)


def parse_nam(doc: Any, source: str = "model") -> NamFile:
    """Validate a parsed `.nam` JSON object; warns on a newer version we can still run.

    The config's sizes are bounded by NAM_LIMITS and the number of weights it needs is counted
    before any layer is built, so a file cannot make us allocate more than it holds; weights
    must be finite numbers within +-NAM_LIMITS["abs_weight"], the sample rate 8..384 kHz.
    """
    if not isinstance(doc, dict) or "architecture" not in doc or "weights" not in doc:
        raise ModelFileError(f"{source} is not a .nam file (no 'architecture'/'weights'); "
                             "pass a Neural Amp Modeler model")
    ck = DocumentCheck(source, NAM_FILE_FIX)
    version = _parse_version(doc.get("version"), source)
    arch = doc["architecture"]
    if arch not in ("WaveNet", "LSTM"):
        raise ModelFileError(f"{source} uses NAM architecture {describe(arch)}; only WaveNet "
                             "and LSTM are supported")
    config = doc.get("config")
    if not isinstance(config, dict):
        raise ModelFileError(f"{source} has no 'config' object; {NAM_FILE_FIX}")
    if version[:2] < NAM_READ_MAJOR_MINOR:
        raise ModelFileError(f"{source} is NAM version {doc['version']}, older than 0.5; "
                             "re-export it with a current NAM trainer")
    need = (_wavenet_weight_count(ck, config, doc["version"]) if arch == "WaveNet"
            else _lstm_weight_count(ck, config))
    if not isinstance(doc["weights"], list):
        raise ck.error("weights", f"are not numbers (got {describe(doc['weights'])}, not a list)")
    if len(doc["weights"]) != need:
        raise ck.error("weights", f"has {len(doc['weights'])} numbers; the config needs "
                       f"{need} weights")
    weights = ck.numbers(doc["weights"], "weights", (need,), limit=NAM_LIMITS["abs_weight"])
    sr = doc.get("sample_rate")
    sr = NAM_SAMPLE_RATE if sr is None else ck.sample_rate(sr, "sample_rate")
    nf = NamFile(arch, config, weights, sr, _check_metadata(ck, doc.get("metadata")),
                 str(doc["version"]))
    build_model(nf, source)  # the layers must also chain (sizes, mono in and out)
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
    check_file_size(path, ".nam")
    with json_parse_errors(str(path), ".nam"):
        doc = read_json(path, ".nam")
    return parse_nam(doc, source=str(path))


def load_nam(path: str | os.PathLike[str]) -> torch.nn.Module:
    """The torch module stored in a `.nam` file."""
    return build_model(read_nam(path), str(path))


__all__ = [
    "gain_of",
    "gear_type_of",
    "tone_type_of",
    "NAM_FILE_FIX",
    "NAM_LIMITS",
    "NAM_SAMPLE_RATE",
    "NAM_VERSION",
    "NamFile",
    "NamVersionWarning",
    "build_model",
    "load_nam",
    "nam_metadata",
    "parse_nam",
    "read_nam",
    "to_nam_file",
    "write_nam",
]
