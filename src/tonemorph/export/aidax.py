"""AIDA-X model files: RTNeural's Keras-style JSON that the AIDA-X plugin loads.

Layout (what AIDA-X's loader reads): ``in_shape`` [null, null, 1]; ``in_skip`` 0 | 1 (the plugin
adds the input to the output); ``out_gain`` (dB, optional); ``layers``: one ``lstm`` or
``gru`` layer (``shape`` [null, null, hidden]; hidden one of 8, 12, 16, 20, 32, 40, 64, 80) and a
``dense`` layer to one output. Weights in Keras order: kernel (in, G*H), recurrent kernel
(H, G*H), bias; LSTM gates i, f, c, o (bias b_ih + b_hh); GRU gates z, r, h with a (2, 3H) bias
(input row, recurrent row; reset applied after the recurrent matmul, torch's convention).
Dense: kernel (H, 1), bias (1), ``activation`` "" (a linear output; others are refused).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tonemorph.errors import ModelFileError, ParameterError
from tonemorph.export._files import read_json, write_json_atomic
from tonemorph.io.validate import (
    DocumentCheck,
    check_file_size,
    describe,
    is_number,
    join,
    json_parse_errors,
)
from tonemorph.neural.recurrent import AIDAX_HIDDEN_SIZES, RnnDense

AIDAX_FORMAT_VERSION = 1  # of our writer; the plugin's JSON itself carries no version
AIDAX_FILE_FIX = "this is not a usable AIDA-X model; re-export it or fix the file"
#: Bounds on what an AIDA-X file may hold: the plugin runs hidden sizes up to 80; no trained
#: weight comes near 1e6; the gains are level trims in dB.
AIDAX_MAX_HIDDEN = 1024
AIDAX_MAX_ABS_WEIGHT = 1e6
AIDAX_GAIN_RANGE_DB = (-60.0, 60.0)


def _gru_torch_to_keras(w: np.ndarray) -> np.ndarray:
    """Reorder GRU gate blocks along axis 0 from torch (r, z, n) to Keras (z, r, h)."""
    r, z, n = np.split(w, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def _gru_keras_to_torch(w: np.ndarray) -> np.ndarray:
    z, r, n = np.split(w, 3, axis=0)
    return np.concatenate([r, z, n], axis=0)


def to_aidax_document(model: RnnDense, metadata: dict | None = None) -> dict:
    """The AIDA-X JSON object of an RnnDense model."""
    if not isinstance(model, RnnDense):
        raise ModelFileError(f"AIDA-X takes an RNN + dense model, got {type(model).__name__}")
    h = model.hidden_size
    if h not in AIDAX_HIDDEN_SIZES:
        raise ParameterError(f"AIDA-X runs hidden sizes {AIDAX_HIDDEN_SIZES}, not {h}")
    rnn = model.rnn
    with torch.no_grad():
        w_ih = rnn.weight_ih_l0.double().numpy()
        w_hh = rnn.weight_hh_l0.double().numpy()
        b_ih = rnn.bias_ih_l0.double().numpy()
        b_hh = rnn.bias_hh_l0.double().numpy()
        dw = model.dense.weight.double().numpy()
        db = model.dense.bias.double().numpy()
    if model.unit == "LSTM":
        weights = [w_ih.T.tolist(), w_hh.T.tolist(), (b_ih + b_hh).tolist()]
    else:
        weights = [_gru_torch_to_keras(w_ih).T.tolist(), _gru_torch_to_keras(w_hh).T.tolist(),
                   [_gru_torch_to_keras(b_ih).tolist(), _gru_torch_to_keras(b_hh).tolist()]]
    doc = {"in_shape": [None, None, 1], "in_skip": int(model.in_skip),
           "out_gain": float(model.out_gain_db),
           "layers": [{"type": model.unit.lower(), "activation": "", "shape": [None, None, h],
                       "weights": weights},
                      {"type": "dense", "activation": "", "shape": [None, None, 1],
                       "weights": [dw.T.tolist(), db.tolist()]}]}
    if metadata:
        doc["metadata"] = dict(metadata)
    return doc


def write_aidax(path: str | os.PathLike[str], model: RnnDense,
                metadata: dict | None = None) -> dict:
    """Write an AIDA-X `.json` model atomically; returns the document."""
    doc = to_aidax_document(model, metadata)
    write_json_atomic(path, doc)
    return doc


@dataclass(frozen=True)
class AidaxFile:
    """A checked AIDA-X document: recurrent unit, sizes, gains (dB), rate (Hz), Keras arrays."""

    unit: str  # "LSTM" or "GRU"
    hidden_size: int
    in_skip: bool
    out_gain_db: float
    in_gain_db: float | None  # shown by `info`; not applied (AIDA-X's input level knob)
    sample_rate: int | None  # when the file names one
    arrays: tuple[np.ndarray, ...]  # kernel, recurrent kernel, bias, dense kernel, dense bias
    metadata: dict = field(default_factory=dict)

    @property
    def num_weights(self) -> int:
        """Numbers in the file's weight arrays."""
        return sum(a.size for a in self.arrays)

    def build(self) -> RnnDense:
        """The torch module (eval mode) with the file's weights."""
        kernel, rec, bias, dense_w, dense_b = self.arrays
        m = RnnDense(self.unit, self.hidden_size, self.in_skip, self.out_gain_db)
        with torch.no_grad():
            if self.unit == "LSTM":
                m.rnn.weight_ih_l0.copy_(torch.from_numpy(kernel.T))
                m.rnn.weight_hh_l0.copy_(torch.from_numpy(rec.T))
                m.rnn.bias_ih_l0.copy_(torch.from_numpy(bias))
                m.rnn.bias_hh_l0.zero_()
            else:
                m.rnn.weight_ih_l0.copy_(torch.from_numpy(_gru_keras_to_torch(kernel.T)))
                m.rnn.weight_hh_l0.copy_(torch.from_numpy(_gru_keras_to_torch(rec.T)))
                m.rnn.bias_ih_l0.copy_(torch.from_numpy(_gru_keras_to_torch(bias[0])))
                m.rnn.bias_hh_l0.copy_(torch.from_numpy(_gru_keras_to_torch(bias[1])))
            m.dense.weight.copy_(torch.from_numpy(dense_w.T))
            m.dense.bias.copy_(torch.from_numpy(dense_b))
        return m.eval()


def _gain_db(ck: DocumentCheck, doc: dict, key: str) -> float | None:
    """An optional gain (dB): a finite number in AIDAX_GAIN_RANGE_DB, or None when absent."""
    if doc.get(key) is None:
        return None
    return ck.number(doc[key], key, *AIDAX_GAIN_RANGE_DB, unit="dB")


def _layer_type(ck: DocumentCheck, layer: dict, where: str) -> str:
    return ck.text(ck.require(layer, "type", where), join(where, "type")).lower()


#: Activations run as written: none after the dense layer (RTNeural adds the named activation
#: after it, which our inference does not); a recurrent cell's is fixed, "tanh" is Keras's name
#: for the standard cell (RTNeural ignores the field there).
_DENSE_ACTIVATIONS = ("",)
_RNN_ACTIVATIONS = ("", "tanh")


def _check_activation(ck: DocumentCheck, layer: dict, where: str, recurrent: bool) -> None:
    """Refuse an activation the inference does not compute (absent or null is none)."""
    act = layer.get("activation")
    if act is None:
        return
    key = join(where, "activation")
    ck.text(act, key)
    if recurrent and act.lower() not in _RNN_ACTIVATIONS:
        raise ck.error(key, f"is {describe(act)}: only the standard {layer['type']} cell "
                       "(activation \"\" or \"tanh\") runs")
    if not recurrent and act not in _DENSE_ACTIVATIONS:
        raise ck.error(key, f"is {describe(act)}: an activation after the dense layer is not "
                       "supported (only \"\" or null: a linear output)")


def parse_aidax(doc: Any, source: str = "model") -> AidaxFile:
    """Validate an AIDA-X JSON object: one lstm|gru layer (hidden size <= AIDAX_MAX_HIDDEN)
    then a dense layer to one output with no activation, every array of its exact shape and
    finite (|w| <= AIDAX_MAX_ABS_WEIGHT), gains finite in AIDAX_GAIN_RANGE_DB; nothing is
    allocated before."""
    if not isinstance(doc, dict) or "layers" not in doc or "in_shape" not in doc:
        raise ModelFileError(f"{source} is not an AIDA-X/RTNeural model (no in_shape/layers)")
    ck = DocumentCheck(source, AIDAX_FILE_FIX)
    shape = ck.array(doc["in_shape"], "in_shape", min_size=1, max_size=3)
    in_size = ck.integer(shape[-1], f"in_shape[{len(shape) - 1}]", 1, 64, "inputs")
    if in_size != 1:
        raise ModelFileError(f"{source} takes {in_size} inputs; only 1 (no conditioning) runs")
    layers = doc["layers"]
    if not isinstance(layers, list) or len(layers) != 2:
        raise ModelFileError(f"{source}: AIDA-X layout not understood ({describe(layers)} as "
                             "layers); expected one lstm/gru layer and one dense layer")
    rnn_l = ck.mapping(layers[0], "layers[0]")
    dense_l = ck.mapping(layers[1], "layers[1]")
    unit, dense_type = _layer_type(ck, rnn_l, "layers[0]"), _layer_type(ck, dense_l, "layers[1]")
    if unit not in ("lstm", "gru") or dense_type != "dense":
        raise ModelFileError(f"{source}: layers {unit} + {dense_type} are not supported; "
                             "expected lstm|gru then dense")
    for i, layer in enumerate(layers):
        _check_activation(ck, layer, f"layers[{i}]", i == 0)
    rnn_shape = ck.array(ck.require(rnn_l, "shape", "layers[0]"), "layers[0].shape",
                         min_size=1, max_size=3)
    h = ck.integer(rnn_shape[-1], f"layers[0].shape[{len(rnn_shape) - 1}]", 1, AIDAX_MAX_HIDDEN,
                   "units")
    if dense_l.get("shape") is not None:
        out_shape = ck.array(dense_l["shape"], "layers[1].shape", min_size=1, max_size=3)
        ck.integer(out_shape[-1], f"layers[1].shape[{len(out_shape) - 1}]", 1, 1, "output")
    skip = 0 if doc.get("in_skip") is None else doc["in_skip"]
    if not (isinstance(skip, bool) or is_number(skip)) or skip not in (0, 1):
        raise ck.error("in_skip", f"is {describe(skip)}; allowed 0 or 1")
    g = 4 if unit == "lstm" else 3
    w = ck.array(ck.require(rnn_l, "weights", "layers[0]"), "layers[0].weights", size=3)
    dw = ck.array(ck.require(dense_l, "weights", "layers[1]"), "layers[1].weights", size=2)
    lim = AIDAX_MAX_ABS_WEIGHT
    arrays = (ck.numbers(w[0], "layers[0].weights[0]", (1, g * h), limit=lim),
              ck.numbers(w[1], "layers[0].weights[1]", (h, g * h), limit=lim),
              ck.numbers(w[2], "layers[0].weights[2]", (g * h,) if unit == "lstm"
                         else (2, g * h), limit=lim),
              ck.numbers(dw[0], "layers[1].weights[0]", (h, 1), limit=lim),
              ck.numbers(dw[1], "layers[1].weights[1]", (1,), limit=lim))
    out_gain = _gain_db(ck, doc, "out_gain")
    rate = next((doc[k] for k in ("sample_rate", "samplerate") if doc.get(k) is not None), None)
    md = doc.get("metadata")
    return AidaxFile(unit.upper(), h, bool(skip), 0.0 if out_gain is None else out_gain,
                     _gain_db(ck, doc, "in_gain"),
                     None if rate is None else ck.sample_rate(rate, "sample_rate"), arrays,
                     {} if md is None else dict(ck.mapping(md, "metadata")))


def from_aidax_document(doc: Any, source: str = "model") -> RnnDense:
    """Build the torch model of an AIDA-X JSON object; ModelFileError when it is not one."""
    return parse_aidax(doc, source).build()


def read_aidax_file(path: str | os.PathLike[str]) -> AidaxFile:
    """Read and validate an AIDA-X `.json` (or `.aidax`) model file (see `parse_aidax`)."""
    check_file_size(path, "AIDA-X model")
    with json_parse_errors(str(path), "AIDA-X model"):
        doc = read_json(path, "AIDA-X model")
    return parse_aidax(doc, source=str(path))


def read_aidax(path: str | os.PathLike[str]) -> RnnDense:
    """Read an AIDA-X `.json` (or `.aidax`) model file into a torch module."""
    return read_aidax_file(path).build()



def parse_aidax_arch(arch: str) -> tuple[str, int]:
    """'lstm-16' / 'gru-12' (or just 'lstm', 'gru': 16 units) -> (unit, hidden)."""
    m = re.fullmatch(r"(lstm|gru)(?:-(\d+))?", arch.lower())
    if not m:
        raise ParameterError(f"AIDA-X arch must be lstm-H or gru-H (H in {AIDAX_HIDDEN_SIZES}), "
                             f"got {arch!r}")
    h = int(m.group(2) or 16)
    if h not in AIDAX_HIDDEN_SIZES:
        raise ParameterError(f"AIDA-X runs hidden sizes {AIDAX_HIDDEN_SIZES}, not {h}")
    return m.group(1).upper(), h

__all__ = [
    "parse_aidax_arch",
    "AIDAX_FILE_FIX",
    "AIDAX_FORMAT_VERSION",
    "AIDAX_GAIN_RANGE_DB",
    "AIDAX_MAX_ABS_WEIGHT",
    "AIDAX_MAX_HIDDEN",
    "AidaxFile",
    "from_aidax_document",
    "parse_aidax",
    "read_aidax",
    "read_aidax_file",
    "to_aidax_document",
    "write_aidax",
]
