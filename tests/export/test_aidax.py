"""AIDA-X / RTNeural JSON: an independent numpy forward pass from the file equals the torch
model (LSTM and GRU, with and without input skip and output gain); round-trips; refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from nam_numpy import aidax
from signals import guitar_line

from tonemorph.errors import ModelFileError, ParameterError
from tonemorph.export import load_neural_model, neural_model_kind
from tonemorph.export.aidax import from_aidax_document, read_aidax, write_aidax
from tonemorph.neural import RnnDense


def _model(unit: str, hidden: int, skip: bool, gain_db: float, seed: int = 0) -> RnnDense:
    torch.manual_seed(seed)
    m = RnnDense(unit, hidden, skip, gain_db)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.0)
    return m


@pytest.mark.parametrize("unit,hidden,skip,gain", [("LSTM", 16, False, 0.0),
                                                   ("LSTM", 8, True, -6.0),
                                                   ("GRU", 12, False, 3.0),
                                                   ("GRU", 20, True, 0.0)])
def test_numpy_forward_from_file_equals_torch(unit: str, hidden: int, skip: bool, gain: float,
                                              tmp_path: Path) -> None:
    m = _model(unit, hidden, skip, gain)
    path = tmp_path / "m.json"
    write_aidax(path, m, {"name": "t"})
    doc = json.loads(path.read_text())
    assert doc["in_shape"] == [None, None, 1] and doc["in_skip"] == int(skip)
    assert doc["layers"][0]["type"] == unit.lower() and doc["layers"][1]["type"] == "dense"
    x = guitar_line(0.05, 48000, seed=3)[0]
    with torch.no_grad():
        y = m(torch.from_numpy(x)[None])[0].numpy().astype(np.float64)
    ref = aidax(doc, x)
    assert np.sqrt(np.mean((y - ref) ** 2) / np.mean(ref ** 2)) < 1e-5
    back = read_aidax(path)
    with torch.no_grad():
        torch.testing.assert_close(back(torch.from_numpy(x)[None]), torch.from_numpy(y)[None].float(),
                                   rtol=1e-5, atol=1e-6)


def test_kind_detection_and_loader(tmp_path: Path) -> None:
    path = tmp_path / "amp.json"
    write_aidax(path, _model("LSTM", 12, False, 0.0))
    assert neural_model_kind(path) == "aidax"
    model, rate = load_neural_model(path)
    assert isinstance(model, RnnDense) and rate == 48000
    other = tmp_path / "x.json"
    other.write_text('{"hello": 1}')
    assert neural_model_kind(other) is None and load_neural_model(other) is None


def test_unsupported_layouts_are_refused() -> None:
    doc = json.loads(json.dumps({"in_shape": [None, None, 1], "layers": []}))
    with pytest.raises(ModelFileError, match="not understood"):
        from_aidax_document(doc)
    with pytest.raises(ModelFileError, match="not an AIDA-X"):
        from_aidax_document({"architecture": "WaveNet"})
    m = _model("LSTM", 8, False, 0.0)
    from tonemorph.export.aidax import to_aidax_document

    good = to_aidax_document(m)
    bad = json.loads(json.dumps(good))
    bad["layers"][0]["type"] = "conv1d"
    with pytest.raises(ModelFileError, match="not supported"):
        from_aidax_document(bad)
    bad = json.loads(json.dumps(good))
    bad["in_shape"] = [None, None, 3]
    with pytest.raises(ModelFileError, match="inputs"):
        from_aidax_document(bad)
    bad = json.loads(json.dumps(good))
    bad["layers"][0]["weights"][1] = [[0.0]]
    with pytest.raises(ModelFileError, match="shape"):
        from_aidax_document(bad)
    with pytest.raises(ParameterError, match="hidden sizes"):
        to_aidax_document(RnnDense("LSTM", 10))
