"""AIDA-X model files: RTNeural's Keras-style JSON that the AIDA-X plugin loads.

Layout (what AIDA-X's loader reads): ``in_shape`` [null, null, 1]; ``in_skip`` 0 | 1 (the plugin
adds the input to the output); ``out_gain`` (dB, optional); ``layers``: one ``lstm`` or
``gru`` layer (``shape`` [null, null, hidden]; hidden one of 8, 12, 16, 20, 32, 40, 64, 80) and a
``dense`` layer to one output. Weights in Keras order: kernel (in, G*H), recurrent kernel
(H, G*H), bias; LSTM gates i, f, c, o (bias b_ih + b_hh); GRU gates z, r, h with a (2, 3H) bias
(input row, recurrent row; reset applied after the recurrent matmul, torch's convention).
Dense: kernel (H, 1), bias (1).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from tonemorph.errors import ModelFileError, ParameterError
from tonemorph.export._files import read_json, write_json_atomic
from tonemorph.neural.recurrent import AIDAX_HIDDEN_SIZES, RnnDense

AIDAX_FORMAT_VERSION = 1  # of our writer; the plugin's JSON itself carries no version


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


def _array(v, shape: tuple[int, ...], what: str) -> np.ndarray:
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"AIDA-X {what} is not a numeric array ({exc})") from exc
    if a.shape != shape:
        raise ModelFileError(f"AIDA-X {what} has shape {a.shape}, expected {shape}")
    if not np.all(np.isfinite(a)):
        raise ModelFileError(f"AIDA-X {what} holds NaN/Inf; the model is damaged")
    return a


def from_aidax_document(doc, source: str = "model") -> RnnDense:
    """Build the torch model of an AIDA-X JSON object; ModelFileError when it is not one."""
    if not isinstance(doc, dict) or "layers" not in doc or "in_shape" not in doc:
        raise ModelFileError(f"{source} is not an AIDA-X/RTNeural model (no in_shape/layers)")
    try:
        in_size = int(doc["in_shape"][-1])
        layers = doc["layers"]
        rnn_l, dense_l = layers
        unit = str(rnn_l["type"]).upper()
        h = int(rnn_l["shape"][-1])
        skip = int(doc.get("in_skip", 0) or 0)
        gain = doc.get("out_gain", 0.0)
        gain = float(gain) if isinstance(gain, (int, float)) else 0.0
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelFileError(f"{source}: AIDA-X layout not understood ({exc!r}); expected one "
                             "lstm/gru layer and one dense layer") from exc
    if in_size != 1:
        raise ModelFileError(f"{source} takes {in_size} inputs; only 1 (no conditioning) runs")
    if unit not in ("LSTM", "GRU") or dense_l.get("type") != "dense":
        raise ModelFileError(f"{source}: layers {unit.lower()} + {dense_l.get('type')} are not "
                             "supported; expected lstm|gru then dense")
    if skip not in (0, 1):
        raise ModelFileError(f"{source}: in_skip must be 0 or 1, got {skip}")
    m = RnnDense(unit, h, bool(skip), gain)
    g = 4 if unit == "LSTM" else 3
    w = rnn_l.get("weights")
    if not isinstance(w, list) or len(w) != 3:
        raise ModelFileError(f"{source}: the {unit.lower()} layer needs 3 weight arrays")
    kernel = _array(w[0], (1, g * h), "kernel").T
    rec = _array(w[1], (h, g * h), "recurrent kernel").T
    with torch.no_grad():
        if unit == "LSTM":
            bias = _array(w[2], (g * h,), "bias")
            m.rnn.weight_ih_l0.copy_(torch.from_numpy(kernel))
            m.rnn.weight_hh_l0.copy_(torch.from_numpy(rec))
            m.rnn.bias_ih_l0.copy_(torch.from_numpy(bias))
            m.rnn.bias_hh_l0.zero_()
        else:
            bias = _array(w[2], (2, g * h), "bias")
            m.rnn.weight_ih_l0.copy_(torch.from_numpy(_gru_keras_to_torch(kernel)))
            m.rnn.weight_hh_l0.copy_(torch.from_numpy(_gru_keras_to_torch(rec)))
            m.rnn.bias_ih_l0.copy_(torch.from_numpy(_gru_keras_to_torch(bias[0])))
            m.rnn.bias_hh_l0.copy_(torch.from_numpy(_gru_keras_to_torch(bias[1])))
        dw = dense_l.get("weights")
        if not isinstance(dw, list) or len(dw) != 2:
            raise ModelFileError(f"{source}: the dense layer needs 2 weight arrays")
        m.dense.weight.copy_(torch.from_numpy(_array(dw[0], (h, 1), "dense kernel").T))
        m.dense.bias.copy_(torch.from_numpy(_array(dw[1], (1,), "dense bias")))
    return m.eval()


def read_aidax(path: str | os.PathLike[str]) -> RnnDense:
    """Read an AIDA-X `.json` (or `.aidax`) model file into a torch module."""
    return from_aidax_document(read_json(path, "AIDA-X model"), source=str(path))


__all__ = [
    "AIDAX_FORMAT_VERSION",
    "from_aidax_document",
    "read_aidax",
    "to_aidax_document",
    "write_aidax",
]
