"""Benchmark-suite helpers: gap closed, run comparison, memory probe, tables (bench/suite*.py)."""

from __future__ import annotations

import copy
import math

import methods
import numpy as np
import pytest
import suite
import suite_report
from hypothesis import given
from hypothesis import strategies as st

# ----------------------------------------------------------------------------- gap closed


def test_gap_closed_known_values() -> None:
    assert suite.gap_closed(2.0, 1.5, 1.0) == pytest.approx(0.5)
    assert suite.gap_closed(2.0, 1.0, 1.0) == pytest.approx(1.0)
    assert suite.gap_closed(2.0, 2.0, 1.0) == pytest.approx(0.0)
    assert suite.gap_closed(2.0, 2.5, 1.0) == pytest.approx(-0.5)  # worse than match-EQ


def test_gap_closed_undefined_when_oracle_does_not_beat_matcheq() -> None:
    assert math.isnan(suite.gap_closed(1.0, 0.8, 1.0))
    assert math.isnan(suite.gap_closed(1.0, 0.8, 1.2))
    assert math.isnan(suite.gap_closed(float("nan"), 0.8, 0.5))
    # a near-tie would blow the ratio up: the oracle must be GAP_MIN_MARGIN better
    assert math.isnan(suite.gap_closed(1.0, 0.5, 1.0 - suite.GAP_MIN_MARGIN / 2))
    assert suite.gap_closed(1.0, 0.5, 1.0 - 2 * suite.GAP_MIN_MARGIN) == pytest.approx(5.0)


@given(me=st.floats(0.1, 10.0), frac=st.floats(0.01, 0.9), t=st.floats(-2.0, 2.0))
def test_gap_closed_recovers_the_fraction(me: float, frac: float, t: float) -> None:
    oracle = me * frac
    method = me - t * (me - oracle)
    assert suite.gap_closed(me, method, oracle) == pytest.approx(t, abs=1e-9)


# ----------------------------------------------------------------------------- compare


def _run(values: dict[str, dict[str, float]]) -> dict:
    return {"cases": {"src/chain": {"methods": {
        m: {"metrics": dict(v)} for m, v in values.items()}}}}


def test_compare_verdicts_follow_each_metric_direction() -> None:
    old = _run({"tonemorph_default": {"mrstft": 1.0, "lufs_err": -2.0, "apply_x_realtime": 100.0,
                                      "pitch_pct_within_50": 90.0, "logmel_db": 3.0}})
    new = _run({"tonemorph_default": {"mrstft": 0.8, "lufs_err": 1.0, "apply_x_realtime": 50.0,
                                      "pitch_pct_within_50": 95.0, "logmel_db": 3.01}})
    rows = {r["metric"]: r["verdict"] for r in suite.compare_runs(old, new)}
    assert rows == {"mrstft": "better",  # lower is better
                    "lufs_err": "better",  # |+1| < |-2|
                    "apply_x_realtime": "worse",  # higher is better
                    "pitch_pct_within_50": "better",
                    "logmel_db": "same"}  # within the 3 % tolerance


def test_compare_skips_missing_cases_methods_and_nan() -> None:
    old = _run({"matcheq": {"mrstft": 1.0}, "oracle": {"mrstft": float("nan")}})
    new = _run({"matcheq": {"mrstft": 1.5}, "oracle": {"mrstft": 0.5},
                "matchering": {"mrstft": 0.7}})
    new["cases"]["other/case"] = copy.deepcopy(new["cases"]["src/chain"])
    rows = suite.compare_runs(old, new)
    assert [(r["case"], r["method"], r["verdict"]) for r in rows] == [
        ("src/chain", "matcheq", "worse")]


def test_compare_tolerates_noise_in_costs_only() -> None:
    old = _run({"m": {"learn_s": 100.0, "mrstft": 1.0}})
    new = _run({"m": {"learn_s": 115.0, "mrstft": 1.15}})
    rows = {r["metric"]: r["verdict"] for r in suite.compare_runs(old, new)}
    assert rows == {"learn_s": "same", "mrstft": "worse"}


# ----------------------------------------------------------------------------- memory probe


@pytest.mark.skipif(not methods.reset_peak_rss(), reason="needs Linux /proc/self/clear_refs")
def test_memory_probe_sees_a_known_allocation() -> None:
    with methods.MemoryProbe() as probe:
        block = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        block += 1.0
    del block
    assert 180.0 < probe.peak_mb < 400.0
    with methods.MemoryProbe() as small:
        np.ones(1000).sum()
    assert small.peak_mb < 50.0


# ----------------------------------------------------------------------------- tables


def _fake_run() -> dict:
    """A two-case run with made-up but consistent numbers (one held-out chain)."""
    meths = ["identity", "matcheq", "tonemorph_default", "oracle"]
    mr = {"fr3_clean/drive": [1.2, 2.0, 1.4, 1.0], "fr3_clean/fuzz": [1.5, 2.2, 1.6, 1.2]}
    cases = {}
    for cid, vals in mr.items():
        ms = {}
        for m, v in zip(meths, vals, strict=True):
            metrics = {k: 1.0 for k, *_ in suite_report.METRIC_COLUMNS}
            metrics.update(mrstft=v, lufs_err=-0.5, gap_closed=suite.gap_closed(vals[1], v,
                                                                              vals[3]))
            ms[m] = {"metrics": metrics, "info": {"chosen": "nonlinear"}}
        cases[cid] = {"kind": "fuzz", "linear": False, "heldout": cid.endswith("fuzz"),
                      "methods": ms, "spectra": {}}
    return {"mode": "quick", "date": "2026-01-01", "git_commit": "abc", "machine": {"cpus": 2},
            "settings": {"sources": ["fr3_clean"], "chains": ["drive", "fuzz"],
                         "duration_s": 60.0, "qualities": ["default"], "oracle_s": 20.0},
            "run_seconds": 600.0, "oracle_backend": "x", "matchering": "used",
            "methods": meths, "cases": cases}


def test_markdown_has_every_section_and_separates_held_out_chains(tmp_path) -> None:
    md = suite_report.markdown(_fake_run(), tmp_path / "r.json", {}, tmp_path)
    for heading in ("chains used in tuning", "held-out chains (never used in tuning)",
                    "Gap closed", "All metrics, mean over chains used in tuning",
                    "All metrics, mean over held-out chains", "Per case"):
        assert heading in md
    tuned, held = md.split("## MR-STFT on the held-out take, held-out chains")[:2]
    assert "fr3_clean/drive" in tuned and "fr3_clean/fuzz" not in tuned.split("## Gap")[0]
    assert "fr3_clean/fuzz" in held.split("## Gap")[0]
    # tonemorph / match-EQ ratio of the tuned case, and its gap closed (2.0-1.4)/(2.0-1.0)
    assert "| 0.70 |" in tuned
    assert "0.60" in md.split("## Gap closed")[1].split("## All metrics")[0]


def test_a_run_of_held_out_chains_only_says_it_has_no_tuned_ones(tmp_path) -> None:
    run = _fake_run()
    for c in run["cases"].values():
        c["heldout"] = True  # a run of the fresh chains
    md = suite_report.markdown(run, tmp_path / "r.json", {}, tmp_path)
    tuned = md.split("## MR-STFT on the held-out take, chains used in tuning")[1].split("##")[0]
    assert "(none in this run)" in tuned and "| **mean** |" not in tuned
    metrics = md.split("## All metrics, mean over chains used in tuning")[1].split("##")[0]
    assert metrics.strip() == "(none in this run)"


def test_plots_are_written(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    run = _fake_run()
    for c in run["cases"].values():
        c["spectra"] = {"input": np.zeros((4, 64)).tolist(), "truth": np.ones((4, 64)).tolist()}
    plots = suite_report.plot_all(run, tmp_path, "t")
    for p in plots.values():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_chosen_blocks_names_what_the_selector_kept() -> None:
    from tonemorph.chain.params import RANGES

    neutral_drive = RANGES["drive_db"].settle(RANGES["drive_db"].neutral)
    neutral_ratio = RANGES["ratio"].settle(RANGES["ratio"].neutral)
    clean = {"drive.drive_db": neutral_drive, "sag.ratio": neutral_ratio,
             "sag.threshold_db": -0.7, "comp.ratio": neutral_ratio, "comp.threshold_db": -0.7}
    info = {"chosen": "nonlinear", "params": clean}
    assert suite_report.chosen_blocks(info) == "nonlinear: no level-dependent block"
    kept = {**clean, "drive.drive_db": 35.6, "comp.ratio": 1.61, "comp.threshold_db": -40.4}
    assert (suite_report.chosen_blocks({"chosen": "nonlinear", "params": kept})
            == "nonlinear: drive +36 dB, comp 1.6:1 @ -40 dB")
    assert suite_report.chosen_blocks({"chosen": "linear", "params": kept}) == "linear"
    assert suite_report.chosen_blocks({}) == "-"


def test_draw_scales_alternate_around_one() -> None:
    assert [suite.draw_scale(d) for d in range(5)] == pytest.approx(
        [1.0, 1 + 1e-6, 1 - 1e-6, 1 + 2e-6, 1 - 2e-6], abs=1e-15)


def test_draws_table_means_spreads_and_ratios(tmp_path) -> None:
    run = _fake_run()
    assert "draws" not in suite_report.markdown(run, tmp_path / "r.json", {}, tmp_path)
    for cid, v in (("fr3_clean/drive", [1.4, 1.6, 1.2]), ("fr3_clean/fuzz", [1.6, 1.6, 1.6])):
        run["cases"][cid]["methods"]["tonemorph_default"]["draws"] = [
            {"input_scale": suite.draw_scale(d), "chosen": "nonlinear", "mrstft": x,
             "crest_err_db": 0.0 - 2.0 * d} for d, x in enumerate(v)]
    table = suite_report.draws_table(run, list(run["cases"]))
    drive = next(line for line in table.splitlines() if line.startswith("| fr3_clean/drive"))
    assert "1.400 / 1.600 / 1.200 | 1.400 | 29% |" in drive
    assert "+0.0 / -2.0 / -4.0" in drive
    # tuning: one nonlinear case, draw mean 1.4 against oracle 1.0 and match-EQ 2.0
    assert "mean MR-STFT over draws 1.400 (first draw 1.400), 1.40x the paired oracle, " \
           "0.70x the match-EQ; mean |crest error| over draws 2.00 dB" in table
    assert "## The learner's own noise (draws)" in suite_report.markdown(
        run, tmp_path / "r.json", {}, tmp_path)
    assert "from the input scaled by 1.000000, 1.000001, 0.999999" in table


def test_draws_table_names_the_seeds_of_seed_draws() -> None:
    run = _fake_run()
    for cid in ("fr3_clean/drive", "fr3_clean/fuzz"):
        run["cases"][cid]["methods"]["tonemorph_default"]["draws"] = [
            {"input_scale": 1.0, "seed": d, "chosen": "nonlinear", "mrstft": 1.0 + d,
             "crest_err_db": 0.0} for d in range(3)]
    table = suite_report.draws_table(run, list(run["cases"]))
    assert "learned 3 times per case at seeds 0, 1, 2 (each seed draws" in table
    assert "scaled" not in table
