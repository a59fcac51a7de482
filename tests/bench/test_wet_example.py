"""bench/bench_wet_example.py: the wet example keeps the dry one's length and peak, leaves the
other files as they were, and its tails are really there; the table from known rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import bench_wet_example as bwe
import numpy as np
import pytest
import soundfile as sf
from audio_util import SR


def _record(mr: float, chosen: str = "linear") -> dict:
    return {"chosen": chosen, "drive_db": None, "simplified": [], "mrstft": mr,
            "crest_err_db": -0.5}


def _runs(effect: str) -> bool:
    """Whether this machine has what the effect runs on (sox; lv2apply and the Calf plugins)."""
    if effect != "chorus":
        return shutil.which("sox") is not None
    return shutil.which("lv2apply") is not None and Path("/usr/lib/lv2/calf.lv2").exists()


@pytest.mark.parametrize("effect", sorted(bwe.EFFECTS))
def test_wet_copy_adds_tails_at_the_dry_length_and_peak(tmp_path: Path, effect: str) -> None:
    if not _runs(effect):
        pytest.skip(f"what {effect} runs on is not installed")
    case = tmp_path / "case"
    case.mkdir()
    dry = np.zeros(SR, np.float32)
    dry[1000:1480] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(480) / SR)  # a 10 ms burst
    sf.write(case / "A_target.wav", dry, SR, subtype="FLOAT")
    sf.write(case / "B_input.wav", dry[::-1].copy(), SR, subtype="FLOAT")
    bwe.wet_copy(case, tmp_path / "wet", bwe.EFFECTS[effect])
    wet, sr = sf.read(tmp_path / "wet" / "A_target.wav", dtype="float32")
    assert sr == SR and wet.shape == dry.shape
    assert np.max(np.abs(wet)) == pytest.approx(0.5, rel=1e-4)
    # energy after the burst has ended: a reverb's tail, the delay's repeat, the chorus voices
    assert np.sum(wet[1480 + SR // 200:] ** 2) > 1e-3 * np.sum(wet ** 2)
    np.testing.assert_array_equal(sf.read(tmp_path / "wet" / "B_input.wav", dtype="float32")[0],
                                  dry[::-1])
    assert sorted(p.name for p in (tmp_path / "wet").iterdir()) == ["A_target.wav",
                                                                    "B_input.wav"]


def test_table_has_a_row_per_case_and_the_means() -> None:
    rows = [{"case": "src/a", "dry": _record(0.5), "reverb": _record(0.6),
             "delay": _record(0.7, "nonlinear"), "chorus": _record(0.8)},
            {"case": "src/b", "dry": _record(1.5), "reverb": _record(1.4), "delay": _record(1.3),
             "chorus": _record(1.0)}]
    md = bwe.markdown(rows, "default")
    assert ("| src/a | linear, - | 0.500 | linear, - | 0.600 | nonlinear, - | 0.700 | linear, - "
            "| 0.800 |") in md
    assert "Mean MR-STFT: dry 1.000, reverb 1.000, delay 1.000, chorus 0.900." in md
