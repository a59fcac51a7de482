"""`tonemorph demo`'s files: what it writes when a method's output passes full scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from tones import tone_with

import tonemorph.api as api
import tonemorph.demo as demo
from tonemorph.demo import DEMO_AUDIO, run_demo


@pytest.mark.parametrize("gain_db,subtype", [(12.0, "FLOAT"), (-20.0, "PCM_24")])
def test_demo_wavs_keep_peaks_above_full_scale(monkeypatch, tmp_path: Path, gain_db: float,
                                               subtype: str) -> None:
    # a known tone instead of learning one: a cabinet-only chain at a fixed output gain
    tone = tone_with({"out_gain_db": gain_db}, stages=("cab",))
    tone.training = {"chosen": "linear"}
    monkeypatch.setattr(api, "learn_tone", lambda *a, **k: tone)
    if subtype == "PCM_24":  # the match-EQs of the bundled pair pass full scale: quieter ones
        monkeypatch.setattr(demo, "fit_match_eq", lambda x, y, sr: lambda a: 0.1 * a)
        monkeypatch.setattr(demo, "apply_match_eq", lambda a, y, sr: 0.1 * a)
    result = run_demo(tmp_path / "demo")
    peaks = {}
    for name in DEMO_AUDIO:
        info = sf.info(tmp_path / "demo" / f"{name}.wav")
        assert info.subtype == subtype  # all seven alike, to compare alike
        peaks[name] = float(np.max(np.abs(sf.read(tmp_path / "demo" / f"{name}.wav")[0])))
    if subtype == "FLOAT":
        # +12 dB on a take peaking at -3 dBFS: written as it is, not clipped at 1.0
        assert peaks["output"] > 1.5
        assert len(result["notes"]) == 1 and "output.wav +" in result["notes"][0]
    else:
        assert max(peaks.values()) <= 1.0 and result["notes"] == []
