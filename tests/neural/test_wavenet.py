"""NAM WaveNet in torch: preset sizes, receptive field, causality, weight round-trip, streaming."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from signals import guitar_line

from tonemorph.errors import ModelFileError, ParameterError
from tonemorph.neural import WAVENET_PRESETS, LayerArrayConfig, WaveNet, make_model
from tonemorph.neural.runner import BlockProcessor
from tonemorph.neural.wavenet import from_nam_config

NAM_WEIGHTS = {"standard": 13802, "lite": 6554, "feather": 3026, "nano": 842}


def _randomise(model: torch.nn.Module, scale: float = 0.3, seed: int = 0) -> None:
    """Weights large enough that every layer matters (default init is tiny through head_scale)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)


@pytest.mark.parametrize("preset", list(NAM_WEIGHTS))
def test_preset_weight_counts_and_receptive_field(preset: str) -> None:
    m = WaveNet.preset(preset)
    assert m.num_weights() == NAM_WEIGHTS[preset]
    assert len(m.export_weights()) == NAM_WEIGHTS[preset]
    assert m.receptive_field == 4093
    assert m.warmup_samples == 4092


def test_standard_config_is_nams() -> None:
    cfg = WaveNet.preset("standard").export_config()
    a, b = cfg["layers"]
    assert (a["channels"], a["head_size"], a["input_size"], a["head_bias"]) == (16, 8, 1, False)
    assert (b["channels"], b["head_size"], b["input_size"], b["head_bias"]) == (8, 1, 16, True)
    assert a["dilations"] == b["dilations"] == [2 ** i for i in range(10)]
    assert a["activation"] == "Tanh" and a["gated"] is False and a["kernel_size"] == 3
    assert cfg["head"] is None and cfg["head_scale"] == pytest.approx(0.02)


def test_forward_is_causal_and_aligned() -> None:
    m = WaveNet.preset("nano")
    _randomise(m)
    x = torch.from_numpy(guitar_line(0.3, 48000, seed=1))
    with torch.no_grad():
        y = m(x)
        x2 = x.clone()
        x2[:, 5000:] += 0.5
        y2 = m(x2)
    assert y.shape == x.shape
    assert torch.equal(y[:, :5000], y2[:, :5000])
    assert not torch.allclose(y[:, 5000:5010], y2[:, 5000:5010])
    # an impulse at t reaches far (past 3,500 samples) but never beyond receptive_field - 1
    m = m.double()
    imp = torch.zeros(1, 9000, dtype=torch.float64)
    imp[0, 1000] = 1.0
    with torch.no_grad():
        base = m(torch.zeros(1, 9000, dtype=torch.float64))
        d = (m(imp) - base).abs()[0]
    assert d[1000] > 0 and float(d[:1000].max()) == 0.0
    assert float(d[1000 + 4093:].max()) == 0.0 and float(d[1000 + 3500: 1000 + 4093].max()) > 0


def test_weights_round_trip_exactly() -> None:
    a = WaveNet.preset("feather")
    _randomise(a, seed=3)
    b = WaveNet.preset("feather")
    b.import_weights(a.export_weights())
    np.testing.assert_array_equal(a.export_weights(), b.export_weights())
    x = torch.from_numpy(guitar_line(0.2, 48000))
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


def test_import_wrong_count_is_a_model_file_error() -> None:
    with pytest.raises(ModelFileError, match="needs 842 weights"):
        WaveNet.preset("nano").import_weights(np.zeros(841))


def test_gated_and_other_activations_run() -> None:
    cfg = (LayerArrayConfig(1, 1, 2, 4, 3, (1, 2, 4), "Tanh", True, False),
           LayerArrayConfig(4, 1, 1, 2, 3, (1, 2), "ReLU", False, True))
    m = WaveNet(cfg)
    assert m.receptive_field == 1 + 2 * 7 + 2 * 3
    back = from_nam_config(m.export_config())
    back.import_weights(m.export_weights())
    x = torch.randn(2, 500)
    with torch.no_grad():
        torch.testing.assert_close(m(x), back(x))


def test_mismatched_arrays_are_refused() -> None:
    cfg = (LayerArrayConfig(1, 1, 3, 4, 3, (1,)), LayerArrayConfig(4, 1, 1, 2, 3, (1,)))
    with pytest.raises(ModelFileError, match="do not chain"):
        WaveNet(cfg)
    with pytest.raises(ParameterError):
        make_model("huge")


@pytest.mark.parametrize("block", [1, 64, 65, 4093, 8193])
def test_streaming_blocks_equal_one_pass(block: int) -> None:
    m = WaveNet.preset("nano")
    _randomise(m, seed=5)
    x = np.concatenate([guitar_line(0.25, 48000, seed=2), guitar_line(0.25, 48000, seed=3)])
    with torch.no_grad():
        ref = m(torch.from_numpy(x)).numpy()
    proc = BlockProcessor(m, 2)
    n = x.shape[1] if block > 1 else 300
    y = np.concatenate([proc.process(x[:, i: i + block]) for i in range(0, n, block)], axis=1)
    np.testing.assert_allclose(y, ref[:, :n], rtol=0, atol=1e-5 * float(np.abs(ref).max()))


def test_presets_table_is_what_make_model_builds() -> None:
    for name in WAVENET_PRESETS:
        assert make_model(name).num_weights() == NAM_WEIGHTS[name]
