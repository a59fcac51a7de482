"""Validation of `.nam` and AIDA-X files on load: golden files load and match the independent
numpy forward pass; configs are bounded before anything is allocated; every invalid value is a
ModelFileError naming its key path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from nam_numpy import aidax
from signals import guitar_line

from tonemorph.errors import ModelFileError
from tonemorph.export import load_neural_model
from tonemorph.export.aidax import parse_aidax, read_aidax, read_aidax_file
from tonemorph.export.nam import NAM_LIMITS, parse_nam, read_nam
from tonemorph.io.validate import MAX_MODEL_FILE_BYTES

DATA = Path(__file__).parent / "data"
NANO = json.loads((DATA / "golden_nano.nam").read_text())
LSTM = json.loads((DATA / "golden_lstm_1x4.nam").read_text())
AIDAX_LSTM = json.loads((DATA / "golden_lstm_8.json").read_text())
AIDAX_GRU = json.loads((DATA / "golden_gru_8.json").read_text())


def _refused(parse, doc: Any, *words: str) -> str:
    with pytest.raises(ModelFileError) as err:
        parse(doc, "m.x")
    msg = str(err.value)
    for w in words:
        assert w in msg, msg
    return msg


def _edit(doc: dict, path: tuple, value: Any) -> dict:
    doc = copy.deepcopy(doc)
    node = doc
    for k in path[:-1]:
        node = node[k]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


# ----------------------------------------------------------------------------------- AIDA-X


@pytest.mark.parametrize("name", ["golden_lstm_8.json", "golden_gru_8.json"])
def test_golden_aidax_files(name: str) -> None:
    """Files written by an earlier build still load and give the reference output."""
    path = DATA / name
    doc = json.loads(path.read_text())
    x = guitar_line(0.05, 48000, seed=10)[0]
    with torch.no_grad():
        y = read_aidax(path)(torch.from_numpy(x)[None])[0].numpy().astype(np.float64)
    ref = aidax(doc, x)
    assert np.sqrt(np.mean((y - ref) ** 2) / np.mean(ref**2)) < 1e-5
    assert load_neural_model(path)[1] == 48000
    af = read_aidax_file(path)
    assert af.hidden_size == 8 and af.sample_rate is None
    assert af.num_weights == sum(np.size(w) for layer in doc["layers"] for w in layer["weights"])


def test_aidax_sample_rate_is_used_when_stored(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({**AIDAX_LSTM, "samplerate": 44100}))
    assert load_neural_model(path)[1] == 44100
    path.write_text(json.dumps({**AIDAX_LSTM, "sample_rate": 0}))
    with pytest.raises(ModelFileError, match="sample_rate is 0 Hz.*8000 .. 384000 Hz"):
        load_neural_model(path)


@pytest.mark.parametrize(("path", "value", "words"), [
    (("out_gain",), 1e300, ("out_gain", "-60 .. 60 dB")),
    (("out_gain",), "loud", ("out_gain", "not a number")),
    (("out_gain",), True, ("out_gain", "not a number")),
    (("in_gain",), -100, ("in_gain", "-60 .. 60 dB")),
    (("in_skip",), 2, ("in_skip", "0 or 1")),
    (("in_skip",), "1", ("in_skip", "0 or 1")),
    (("in_shape",), 1, ("in_shape", "not a list")),
    (("in_shape",), [None, None, 3], ("3 inputs",)),
    (("layers", 0, "shape"), [None, None, 10**6], ("layers[0].shape[2]", "1 .. 1024 units")),
    (("layers", 0, "shape"), [None, None, 0], ("layers[0].shape[2]",)),
    (("layers", 0, "shape"), KeyError, ("layers[0].shape", "missing")),
    (("layers", 0, "type"), 7, ("layers[0].type", "not a string")),
    (("layers", 0, "activation"), [], ("layers[0].activation",)),
    # RTNeural applies a dense layer's activation; the inference here has none: refused, not
    # silently left out (the output was bit-identical for "", "tanh" and "bogus")
    (("layers", 1, "activation"), "tanh", ("layers[1].activation", "'tanh'", "dense")),
    (("layers", 1, "activation"), "relu", ("layers[1].activation", "'relu'")),
    (("layers", 1, "activation"), "bogus", ("layers[1].activation", "'bogus'")),
    (("layers", 1, "activation"), 3, ("layers[1].activation", "not a string")),
    (("layers", 0, "activation"), "relu", ("layers[0].activation", "'relu'", "lstm cell")),
    (("layers", 1, "shape"), [None, None, 2], ("layers[1].shape[2]",)),
    (("layers", 0, "weights"), None, ("layers[0].weights", "not a list")),
    (("layers", 0, "weights", 0, 0, 3), float("nan"), ("layers[0].weights[0][0][3]", "NaN")),
    (("layers", 0, "weights", 1, 2, 0), 1e7, ("layers[0].weights[1][2][0]", "1e+06")),
    (("layers", 0, "weights", 1, 2), [0.0], ("layers[0].weights[1][2]", "shape")),
    (("layers", 0, "weights", 2), [0.0] * 31, ("layers[0].weights[2]", "shape")),
    (("layers", 1, "weights", 1), [False], ("layers[1].weights[1][0]", "false")),
    (("metadata",), "me", ("metadata", "not an object")),
])
def test_invalid_aidax_values_are_refused(path: tuple, value: Any, words: tuple) -> None:
    _refused(parse_aidax, _edit(AIDAX_LSTM, path, value), *words)


@pytest.mark.parametrize(("rnn", "dense"), [("", ""), (None, None), ("tanh", ""),
                                           ("TANH", None)])
def test_aidax_activations_that_run_as_written_are_taken(rnn: str | None,
                                                         dense: str | None) -> None:
    """No activation after the dense layer, the standard cell ("tanh" is Keras's name)."""
    doc = _edit(_edit(AIDAX_LSTM, ("layers", 0, "activation"), rnn),
                ("layers", 1, "activation"), dense)
    assert parse_aidax(doc).hidden_size == 8


def test_aidax_gru_bias_shape() -> None:
    _refused(parse_aidax, _edit(AIDAX_GRU, ("layers", 0, "weights", 2), [[0.0] * 24]),
             "layers[0].weights[2]", "shape 2 x 24")


def test_aidax_huge_hidden_size_allocates_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hidden size is checked against the weights before any module exists."""
    import tonemorph.export.aidax as mod

    monkeypatch.setattr(mod, "RnnDense", None)  # building would fail with a TypeError
    _refused(parse_aidax, _edit(AIDAX_LSTM, ("layers", 0, "shape"), [None, None, 1000]),
             "layers[0].weights[0]", "1 x 4000")


# -------------------------------------------------------------------------------------- NAM


@pytest.mark.parametrize(("doc", "path", "value", "words"), [
    (NANO, ("sample_rate",), 0, ("sample_rate", "8000 .. 384000 Hz")),
    (NANO, ("sample_rate",), 44100.5, ("sample_rate", "whole number")),
    (NANO, ("sample_rate",), "48k", ("sample_rate",)),
    (NANO, ("config", "layers", 0, "channels"), 10**6, ("config.layers[0].channels",
                                                       "1 .. 128")),
    (NANO, ("config", "layers", 0, "channels"), True, ("config.layers[0].channels", "true")),
    (NANO, ("config", "layers", 0, "kernel_size"), 3.5, ("config.layers[0].kernel_size",)),
    (NANO, ("config", "layers", 0, "dilations"), [10**9], ("config.layers[0].dilations[0]",
                                                           "1 .. 32768 samples")),
    (NANO, ("config", "layers", 0, "dilations"), [32768, 32768, 32768],
     ("config.layers[0].dilations", "receptive field")),
    (NANO, ("config", "layers", 0, "dilations"), [], ("config.layers[0].dilations",)),
    (NANO, ("config", "layers", 0, "dilations"), 1, ("config.layers[0].dilations",
                                                     "not a list")),
    (NANO, ("config", "layers", 0, "gated"), "false", ("config.layers[0].gated",
                                                       "true or false")),
    (NANO, ("config", "layers", 0, "activation"), "Swish", ("config.layers[0].activation",)),
    (NANO, ("config", "layers"), [], ("config.layers", "at least 1")),
    (NANO, ("config", "layers"), "x", ("config.layers", "not a list")),
    (NANO, ("config", "layers", 0), 3, ("config.layers[0]", "not an object")),
    (NANO, ("config", "head_scale"), float("inf"), ("config.head_scale",)),
    (NANO, ("config", "head"), {"layers": 1}, ("config.head", "not supported")),
    (NANO, ("weights", 5), float("nan"), ("weights[5]", "NaN")),
    (NANO, ("weights", 5), "0.1", ("weights[5]",)),
    (NANO, ("weights", 5), 10**400, ("weights[5]", "digits")),
    (NANO, ("weights", 5), -1e9, ("weights[5]", "1e+06")),
    (NANO, ("weights",), [0.0] * 841, ("needs 842 weights",)),
    (NANO, ("metadata",), [1, 2], ("metadata", "not an object")),
    (NANO, ("metadata", "loudness"), "loud", ("metadata.loudness",)),
    (NANO, ("version",), 10**400, ("no valid NAM version", "digits")),
    (NANO, ("architecture",), ["WaveNet"], ("architecture a list",)),
    (LSTM, ("config", "hidden_size"), 10**5, ("config.hidden_size", "1 .. 512 units")),
    (LSTM, ("config", "num_layers"), 0, ("config.num_layers", "1 .. 8 layers")),
    (LSTM, ("config", "input_size"), 2, ("config.input_size",)),
    (LSTM, ("config", "dropout"), 0.1, ("dropout", "do not implement")),
    (LSTM, ("config", "hidden_size"), KeyError, ("config.hidden_size", "missing")),
])
def test_invalid_nam_values_are_refused(doc: dict, path: tuple, value: Any,
                                        words: tuple) -> None:
    msg = _refused(parse_nam, _edit(doc, path, value), *words)
    assert "Neural Amp Modeler" in msg or "NAM" in msg or ".nam" in msg, msg


def test_nam_without_sample_rate_runs_at_48k() -> None:
    assert parse_nam(_edit(NANO, ("sample_rate",), KeyError), "m").sample_rate == 48000
    assert parse_nam(_edit(NANO, ("sample_rate",), None), "m").sample_rate == 48000
    assert parse_nam(_edit(NANO, ("sample_rate",), 44100.0), "m").sample_rate == 44100


def test_nam_limits_are_checked_before_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    """A config within the limits but not matching its weights is refused by counting, before
    any layer exists; the largest allowed WaveNet layer is a few MB."""
    import tonemorph.export.nam as mod

    monkeypatch.setattr(mod, "build_model", None)
    big = _edit(NANO, ("config", "layers", 0, "channels"), NAM_LIMITS["channels"])
    _refused(parse_nam, big, "needs", "weights")
    assert NAM_LIMITS["channels"] ** 2 * NAM_LIMITS["kernel_size"] * 2 * 4 < 16 << 20


def test_nam_json_bombs(tmp_path: Path) -> None:
    path = tmp_path / "m.nam"
    path.write_text(json.dumps(NANO).replace('"sample_rate": 48000',
                                             '"sample_rate": ' + "9" * 5000))
    with pytest.raises(ModelFileError, match="number too long"):
        read_nam(path)
    path.write_text('{"architecture": "WaveNet", "weights": ' + "[" * 100_000 + "]" * 100_000
                    + "}")
    with pytest.raises(ModelFileError, match="too deeply"):
        read_nam(path)
    for literal in ("NaN", "Infinity", "-1e999"):
        path.write_text(json.dumps(_edit(NANO, ("weights", 7), "X")).replace('"X"', literal))
        with pytest.raises(ModelFileError, match=r"weights\[7\] is (NaN|-?Infinity)"):
            read_nam(path)
    with open(path, "wb") as fh:
        fh.truncate(MAX_MODEL_FILE_BYTES + 1)
    with pytest.raises(ModelFileError, match="too large"):
        read_nam(path)
