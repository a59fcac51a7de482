"""Regenerate the golden `.nam` files (run once; the tests check later builds against them)."""

from __future__ import annotations

from pathlib import Path

import torch

from tonemorph.export.nam import nam_metadata, write_nam
from tonemorph.neural import NamLSTM, WaveNet

DATA = Path(__file__).parent / "data"

if __name__ == "__main__":
    g = torch.Generator().manual_seed(20240601)
    wn = WaveNet.preset("nano")
    lstm = NamLSTM(4, 1)
    with torch.no_grad():
        for m, scale in ((wn, 0.3), (lstm, 1.0)):
            for p in m.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * scale)
    write_nam(DATA / "golden_nano.nam", wn, nam_metadata(name="golden nano"))
    write_nam(DATA / "golden_lstm_1x4.nam", lstm, nam_metadata(name="golden lstm 1x4"))
