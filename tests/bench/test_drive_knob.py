"""bench/bench_drive_knob.py: its table from known records."""

from __future__ import annotations

import bench_drive_knob as bd


def _run(case: str, drive: float | None, mr: dict[str, float]) -> dict:
    return {"case": case, "seed": 0, "chosen": "nonlinear" if drive is not None else "linear",
            "drive_db": drive, "commit": "abc1234",
            "scores": {k: {"mrstft": v, "crest_err_db": -1.0, "lufs_err": 0.0,
                           "level_binned_soft_db": 1.0} for k, v in mr.items()}}


def test_table_counts_offsets_per_group_and_leaves_out_fits_without_a_drive() -> None:
    offs = ("-10", "-6", "-3", "+0", "+3")
    runs = [
        _run("s/ds1_cab", 20.0, dict(zip(offs, (0.70, 0.72, 0.77, 0.86, 1.00)))),
        _run("s/heavy_drive_cab", 35.0, dict(zip(offs, (1.62, 1.52, 1.47, 1.45, 1.46)))),
        _run("s/comp_dist_cab", 37.0, dict(zip(offs, (1.16, 1.07, 1.01, 0.99, 0.95)))),
        _run("s/linear_eq_cab", None, {"+0": 0.33}),
    ]
    md = bd.markdown(runs)
    assert "(3 of 4 cases)" in md and "s/linear_eq_cab" not in md
    assert "| s/ds1_cab | probe | +20.0 | - | **0.700** | 0.720 | 0.770 | 0.860 | 1.000 |" in md
    runs[0]["selection"] = {"level range / linear": 0.56}
    assert "| s/ds1_cab | probe | +20.0 | 0.56 | **0.700** |" in bd.markdown(runs)
    # the tuning pair: -6 worse for both, +3 better for one and worse for the other
    assert ("| tuning | 2 | 1.390 | 1.295 | 1.240 | 1.220 | 1.205 | -10: 0 / 2, -6: 0 / 2, "
            "-3: 0 / 2, +3: 1 / 1 |") in md
    assert "| probe | 1 |" in md and "| all | 3 |" in md
