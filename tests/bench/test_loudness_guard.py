"""bench/bench_loudness_guard.py: its table from known rows, the tolerance it sets and restores."""

from __future__ import annotations

from pathlib import Path

import bench_loudness_guard as blg
import numpy as np
import pytest

import tonemorph.model as tone_model


def _row(case: str, held: bool, scores: dict[str, tuple[float, float]]) -> dict:
    return {"case": case, "held_out": held, "chosen": "linear",
            "scores": {t: {"mrstft": mr, "lufs_err": lu, "crest_err_db": -1.0,
                           "level_binned_soft_db": 2.0} for t, (mr, lu) in scores.items()}}


def test_table_gives_group_means_counts_and_the_cases_that_moved() -> None:
    rows = [_row("sonicpi_real/amp_crunch", False, {"6": (2.0, 9.0), "3": (1.5, 6.0)}),
            _row("fr3_clean/eq_cab", False, {"6": (0.5, -1.0), "3": (0.5, -1.0)}),
            _row("fr3_clean/fuzz_cab", True, {"6": (0.9, 1.0), "3": (1.0, 2.0)})]
    md = blg.markdown(rows, ["6", "3"], "t")
    assert "| tuning chains | 2 | 6 | 1.250 | 5.00 | 1.00 | 2.00 |" in md
    assert "| tuning chains | 2 | 3 | 1.000 | 3.50 |" in md
    assert "| real clips (sonicpi_real) | 1 | 3 | 1.500 | 6.00 |" in md
    assert "| generated lines (FluidR3) | 2 | 6 | 0.700 |" in md
    assert "- 3 dB: 1 better, 1 worse of 3" in md
    assert "| sonicpi_real/amp_crunch | linear | 2.000 / +9.0 | 1.500 / +6.0 |" in md
    assert "| fr3_clean/fuzz_cab (held out) |" in md
    assert "fr3_clean/eq_cab |" not in md.split("moved")[1]  # unchanged: not listed


def test_tolerance_is_set_inside_the_block_and_restored() -> None:
    before = tone_model.LOUDNESS_GUARD_DB
    with pytest.raises(RuntimeError), blg.guard_tolerance(0.5):
        assert tone_model.LOUDNESS_GUARD_DB == 0.5
        raise RuntimeError
    assert tone_model.LOUDNESS_GUARD_DB == before


def test_tolerance_reaches_the_guard() -> None:
    # a tone whose loudness curve says it gave its learning take 0 dB: a take it makes
    # +10 dB louder is held at the tolerance in force
    tone = tone_model.Tone.__new__(tone_model.Tone)
    tone.loudness_curve = {"input_lufs": [-40.0, -10.0], "gain_db": [0.0, 0.0]}
    sr = 48000
    x = (0.1 * np.sin(2 * np.pi * 440 * np.arange(sr * 2) / sr)).astype(np.float32)
    for tol in (3.0, 1.0):
        with blg.guard_tolerance(tol):
            assert tone.guard_db(x, x * np.float32(10 ** 0.5), sr) == pytest.approx(-(10 - tol),
                                                                                    abs=0.01)


def test_refuses_a_folder_without_tones(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no .tmodel files"):
        blg.main(["--tones", str(tmp_path), "--cases", str(tmp_path)])
