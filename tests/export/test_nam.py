"""`.nam` files: an independent numpy forward pass from the file equals our torch models,
round-trips, golden files, version handling, metadata."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from nam_numpy import nam_lstm, nam_wavenet
from signals import guitar_line

from tonemorph.errors import ModelFileError
from tonemorph.export.nam import (
    NAM_VERSION,
    NamVersionWarning,
    load_nam,
    nam_metadata,
    parse_nam,
    read_nam,
    write_nam,
)
from tonemorph.metrics import esr_grade
from tonemorph.neural import NamLSTM, WaveNet

DATA = Path(__file__).parent / "data"


def _rel_rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2) / np.mean(b ** 2)))


def _random_wavenet(preset: str, seed: int = 0) -> WaveNet:
    m = WaveNet.preset(preset)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.25)
    return m


def _random_lstm(hidden: int, layers: int, seed: int = 0) -> NamLSTM:
    torch.manual_seed(seed)
    m = NamLSTM(hidden, layers)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.0)
    return m


@pytest.mark.parametrize("preset", ["standard", "lite", "feather", "nano"])
def test_numpy_forward_from_file_equals_torch_wavenet(preset: str, tmp_path: Path) -> None:
    m = _random_wavenet(preset)
    path = tmp_path / f"{preset}.nam"
    write_nam(path, m, nam_metadata(name=preset))
    doc = json.loads(path.read_text())
    x = guitar_line(0.15, 48000, seed=7)[0]
    with torch.no_grad():
        y_torch = m(torch.from_numpy(x)[None].double().float())[0].numpy().astype(np.float64)
    y_np = nam_wavenet(doc, x)
    assert _rel_rms(y_torch, y_np) < 1e-5
    assert float(np.std(y_np)) > 1e-4  # a real signal, not a near-silent one


@pytest.mark.parametrize("hidden,layers", [(24, 1), (8, 2)])
def test_numpy_forward_from_file_equals_torch_lstm(hidden: int, layers: int,
                                                   tmp_path: Path) -> None:
    m = _random_lstm(hidden, layers)
    path = tmp_path / "lstm.nam"
    write_nam(path, m)  # settles the initial state
    doc = json.loads(path.read_text())
    x = guitar_line(0.05, 48000, seed=8)[0]
    with torch.no_grad():
        y_torch = m(torch.from_numpy(x)[None])[0].numpy().astype(np.float64)
    assert _rel_rms(y_torch, nam_lstm(doc, x)) < 1e-5


def test_written_file_layout(tmp_path: Path) -> None:
    path = tmp_path / "m.nam"
    meta = nam_metadata(name="crunch", gear_type="amp_cab", tone_type="crunch", loudness_db=-17.5,
                        gain=0.6, esr=0.02)
    write_nam(path, _random_wavenet("nano"), meta)
    doc = json.loads(path.read_text())
    assert doc["version"] == NAM_VERSION == "0.5.4"
    assert doc["architecture"] == "WaveNet" and doc["sample_rate"] == 48000
    assert len(doc["weights"]) == 842
    md = doc["metadata"]
    for key in ("name", "modeled_by", "gear_type", "tone_type", "loudness", "gain",
                "input_level_dbu", "output_level_dbu", "date", "training"):
        assert key in md
    assert md["training"]["validation_esr"] == 0.02 and md["training"]["nam_grade"] == "not bad"
    assert set(md["date"]) == {"year", "month", "day", "hour", "minute", "second"}
    assert not list(tmp_path.glob("*.part"))  # atomic write left no temp file


def test_round_trip_through_file(tmp_path: Path) -> None:
    for m in (_random_wavenet("feather", 2), _random_lstm(6, 1, 3)):
        path = tmp_path / "m.nam"
        write_nam(path, m)
        back = load_nam(path)
        x = torch.from_numpy(guitar_line(0.1, 48000, seed=9))
        with torch.no_grad():
            torch.testing.assert_close(back(x), m(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,reference", [("golden_nano.nam", nam_wavenet),
                                            ("golden_lstm_1x4.nam", nam_lstm)])
def test_golden_files(name: str, reference, tmp_path: Path) -> None:
    """Files written by an earlier build still load and give the reference output."""
    path = DATA / name
    assert path.stat().st_size < 100_000
    doc = json.loads(path.read_text())
    x = guitar_line(0.05, 48000, seed=10)[0]
    model = load_nam(path)
    with torch.no_grad():
        y = model(torch.from_numpy(x)[None])[0].numpy().astype(np.float64)
    ref = reference(doc, x)
    assert _rel_rms(y, ref) < 1e-5 and float(np.std(ref)) > 1e-4
    # re-writing the loaded model reproduces the architecture, config and weights
    out = tmp_path / name
    write_nam(out, model, doc["metadata"])
    again = json.loads(out.read_text())
    assert again["config"] == doc["config"] and again["architecture"] == doc["architecture"]
    np.testing.assert_allclose(again["weights"], doc["weights"], rtol=1e-6, atol=1e-7)


def _doc() -> dict:
    return json.loads((DATA / "golden_nano.nam").read_text())


def test_newer_version_with_known_config_loads_with_a_warning() -> None:
    doc = _doc()
    doc["version"] = "0.7.0"
    with pytest.warns(NamVersionWarning, match="0.7.0"):
        nf = parse_nam(doc)
    assert nf.architecture == "WaveNet"


def test_current_version_loads_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_nam(_doc())


@pytest.mark.parametrize("change,match", [
    ({"architecture": "ConvNet"}, "only WaveNet and LSTM"),
    ({"version": "0.4.0"}, "older than 0.5"),
    ({"version": "five"}, "no valid NAM version"),
    ({"weights": [0.0] * 10}, "needs 842 weights"),
    ({"weights": None}, "not numbers"),
])
def test_unsupported_files_are_refused(change: dict, match: str) -> None:
    doc = _doc()
    doc.update(change)
    with pytest.raises(ModelFileError, match=match):
        parse_nam(doc)


def test_unknown_wavenet_options_are_refused_even_in_newer_versions() -> None:
    doc = _doc()
    doc["version"] = "0.7.0"
    doc["config"]["layers"][0]["film"] = {"active": True}
    with pytest.raises(ModelFileError, match="do not implement"):
        parse_nam(doc)


def test_not_a_nam_file(tmp_path: Path) -> None:
    p = tmp_path / "x.nam"
    p.write_bytes(b"RIFF....WAVE")
    with pytest.raises(ModelFileError, match="not a .nam file"):
        read_nam(p)
    p.write_text('{"format": "tonemorph-model"}')
    with pytest.raises(ModelFileError, match="not a .nam file"):
        read_nam(p)


def test_grades() -> None:
    assert [esr_grade(e) for e in (0.005, 0.02, 0.05, 0.2)] == ["great", "not bad", "okay",
                                                               "poor"]


def test_minimal_file_shaped_like_nam_cores_own_test() -> None:
    """1-channel, kernel 1, ReLU, no 'head' key: y = relu(x + x) by hand (rechannel 1, conv 1,
    bias 0, mixer 1, 1x1 weight 1 bias 0, head 1, head_scale 1)."""
    doc = {"version": "0.5.3", "metadata": {}, "architecture": "WaveNet",
           "config": {"layers": [{"input_size": 1, "condition_size": 1, "head_size": 1,
                                  "channels": 1, "kernel_size": 1, "dilations": [1],
                                  "activation": "ReLU", "gated": False, "head_bias": False}],
                      "head_scale": 1.0},
           "weights": [1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]}
    nf = parse_nam(doc)
    assert nf.sample_rate == 48000
    from tonemorph.export.nam import build_model

    x = torch.tensor([[-1.0, 0.5, 0.25, -0.1]])
    with torch.no_grad():
        y = build_model(nf)(x)
    torch.testing.assert_close(y, torch.tensor([[0.0, 1.0, 0.5, 0.0]]))
    np.testing.assert_allclose(nam_wavenet(doc, x[0].numpy()), [0.0, 1.0, 0.5, 0.0])
