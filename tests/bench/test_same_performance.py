"""bench/bench_same_performance.py: its tables from known scores, and its refusal without cases."""

from __future__ import annotations

from pathlib import Path

import bench_same_performance as bsp
import pytest


def _scores(mr: float, lufs: float) -> dict[str, float]:
    return {"mrstft": mr, "level_binned_soft_db": 2 * mr, "lufs_err": lufs, "crest_err_db": -lufs}


def test_tables_hold_each_method_and_the_means() -> None:
    results = {
        "fr3_clean/a": {"match-EQ": _scores(1.0, 2.0), "example": {**_scores(0.5, -2.0),
                        "chosen": "linear"}, "same performance": {**_scores(0.2, 0.5),
                                                                  "chosen": "nonlinear"}},
        "fr3_jazz/a": {"match-EQ": _scores(2.0, -1.0), "example": {**_scores(0.7, 1.0),
                       "chosen": "nonlinear"}, "same performance": {**_scores(0.4, -0.5),
                                                                    "chosen": "nonlinear"}},
    }
    md = bsp.markdown(results, 600.0)
    assert "| fr3_clean/a | 1.000 | 0.500 | 0.200 |" in md
    assert "| **mean** | 1.500 | 0.600 | 0.300 |" in md
    # signed errors: per case with their sign, the mean of their sizes
    assert "| fr3_jazz/a | -1.00 | +1.00 | -0.50 |" in md
    assert "| **mean of \\|values\\|** | 1.50 | 1.50 | 0.50 |" in md
    assert "| fr3_clean/a | linear | nonlinear |" in md
    assert "(10 min)" in md


def test_refuses_a_folder_without_cases(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert bsp.main(["--cases", str(tmp_path), "--md", str(tmp_path / "x.md")]) == 2
    assert "build the cases first" in capsys.readouterr().err
