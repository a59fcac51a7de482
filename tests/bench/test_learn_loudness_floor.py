"""bench/bench_learn_loudness_floor.py: the floor from known loudness, and its table."""

from __future__ import annotations

from pathlib import Path

import audio_util
import bench_learn_loudness_floor as lf
import numpy as np
import pytest

from tonemorph.dsp.loudness import integrated_lufs


def _tone(gain_db: float, seconds: float = 4.0) -> np.ndarray:
    t = np.arange(int(seconds * audio_util.SR)) / audio_util.SR
    return (10 ** (gain_db / 20) * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


def test_floor_is_the_example_over_the_take_after_the_chain(tmp_path: Path) -> None:
    for name, db in (("A_target", -12.0), ("B_truth", -15.0), ("A_input", -20.0),
                     ("B_input", -21.0)):
        audio_util.write_wav(tmp_path / f"{name}.wav", _tone(db))
    got = lf.floor_lu(tmp_path)
    assert got["floor"] == pytest.approx(3.0, abs=0.01)  # same sine: level only
    assert got["input_gap"] == pytest.approx(1.0, abs=0.01)
    # an independent meter of the same files agrees with the gap
    assert got["floor"] == pytest.approx(
        integrated_lufs(_tone(-12.0), audio_util.SR) - integrated_lufs(_tone(-15.0),
                                                                      audio_util.SR), abs=0.01)


def test_table_splits_held_out_cases_and_counts_those_within_one_lu() -> None:
    learner = {"chosen": "linear", "lufs_err": -2.5}
    rows = [{"case": "s/linear_eq_cab", "held_out": False, "floor": -0.5, "input_gap": 0.2,
             "learner": learner},
            {"case": "s/amp_crunch", "held_out": False, "floor": 1.5, "input_gap": 0.2,
             "learner": None},
            {"case": "s/fuzz_cab", "held_out": True, "floor": 0.25, "input_gap": 0.2,
             "learner": {"chosen": "nonlinear", "lufs_err": 1.0}}]
    md = lf.markdown(rows, 3.0)
    assert "| s/linear_eq_cab |  | -0.50 | +0.20 | -2.50 | linear |" in md
    assert "| s/amp_crunch |  | +1.50 | +0.20 |  |  |" in md
    assert "| s/fuzz_cab | yes | +0.25 |" in md
    assert "| tuning | 2 | 1.00 | 2.50 | 1 of 2 |" in md
    assert "| held out | 1 | 0.25 | 1.00 | 1 of 1 |" in md
