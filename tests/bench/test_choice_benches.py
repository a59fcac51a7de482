"""bench/bench_linear_alternative.py and bench/bench_double_tracked.py: their tables from known
rows (the counts and means the closing notes quote)."""

from __future__ import annotations

import bench_double_tracked as dt
import bench_linear_alternative as la


def _row(case: str, chosen: str, rng: float, chosen_mr: float, linear_mr: float) -> dict:
    better = ("tie" if abs(linear_mr - chosen_mr) <= la.SAME
              else "linear" if linear_mr < chosen_mr else "nonlinear")
    return {"case": case, "chosen": chosen, "timbre": "0.60", "gap": 6.0, "range": rng,
            "chosen_mrstft": chosen_mr, "linear_mrstft": linear_mr, "better": better}


def test_linear_alternative_sorts_by_range_and_counts_by_evidence() -> None:
    rows = [_row("s/b", "nonlinear", 0.7, 0.9, 0.5), _row("s/a", "nonlinear", 0.3, 0.5, 0.9),
            _row("s/c", "linear", 0.9, 0.3, 0.3), _row("s/d", "nonlinear", 0.8, 0.40, 0.41)]
    md = la.markdown(rows)
    assert md.index("| s/a |") < md.index("| s/b |") < md.index("| s/d |") < md.index("| s/c |")
    assert "| s/d | nonlinear | 0.60 | 6.0 | 0.80 | 0.400 | 0.410 | tie |" in md
    assert "under 0.6 (levels proven reshaped): 1 cases, the linear model better on 0" in md
    assert ("0.6 or more: 2 cases, the linear model better on 1; mean MR-STFT chosen 0.650, "
            "linear 0.455") in md


def test_double_tracked_table_sets_the_two_ways_side_by_side() -> None:
    def r(case: str, way: str, mr: float, lufs: float) -> dict:
        return {"case": case, "way": way, "chosen": "linear", "drive_db": None, "mrstft": mr,
                "lufs_err": lufs, "crest_err_db": 0.5, "learn_s": 10.0}

    rows = [r("s/eq", "mix", 0.7, -5.0), r("s/eq", "channels", 0.2, -1.0),
            r("s/fuzz_cab", "mix", 1.0, -4.0), r("s/fuzz_cab", "channels", 1.2, 0.0)]
    md = dt.markdown(rows, "fast")
    assert "| s/eq | linear / linear | 0.700 | 0.200 | -5.00 | -1.00 |" in md
    assert "| s/fuzz_cab (held out) |" in md
    assert ("MR-STFT 0.850 (mix) -> 0.700 (channels), |LUFS err| 4.50 -> 0.50 LU; channel by "
            "channel better on 1 of 2") in md
