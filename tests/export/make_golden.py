"""Regenerate the golden model files (run once; the tests check later builds against them).

`python make_golden.py` writes the `.nam` files; `python make_golden.py aidax` the AIDA-X ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from tonemorph.export.aidax import write_aidax
from tonemorph.export.nam import nam_metadata, write_nam
from tonemorph.neural import NamLSTM, RnnDense, WaveNet

DATA = Path(__file__).parent / "data"


def write_golden_nam() -> None:
    """golden_nano.nam (WaveNet nano) and golden_lstm_1x4.nam, random weights."""
    g = torch.Generator().manual_seed(20240601)
    wn = WaveNet.preset("nano")
    lstm = NamLSTM(4, 1)
    with torch.no_grad():
        for m, scale in ((wn, 0.3), (lstm, 1.0)):
            for p in m.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * scale)
    write_nam(DATA / "golden_nano.nam", wn, nam_metadata(name="golden nano"))
    write_nam(DATA / "golden_lstm_1x4.nam", lstm, nam_metadata(name="golden lstm 1x4"))


def write_golden_aidax() -> None:
    """golden_lstm_8.json (no skip, -3 dB out) and golden_gru_8.json (input skip), AIDA-X."""
    g = torch.Generator().manual_seed(20261204)
    for name, model in (("golden_lstm_8.json", RnnDense("LSTM", 8, False, -3.0)),
                        ("golden_gru_8.json", RnnDense("GRU", 8, True, 0.0))):
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        write_aidax(DATA / name, model, {"name": name.removesuffix(".json")})


if __name__ == "__main__":
    if sys.argv[1:] == ["aidax"]:
        write_golden_aidax()
    else:
        write_golden_nam()
