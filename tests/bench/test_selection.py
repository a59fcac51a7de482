"""bench/bench_selection.py: its table from known records, and its refusal without cases."""

from __future__ import annotations

import json
from pathlib import Path

import bench_selection as bs
import pytest


def _run(case: str, chosen: str, mr: float, crest: float, drive: float | None,
         simplified: list[str], sel: dict) -> dict:
    return {"case": case, "seed": 0, "chosen": chosen, "simplified": simplified,
            "selection": sel, "pinning": {}, "drive_db": drive, "mrstft": mr,
            "level_binned_soft_db": 1.0, "lufs_err": -1.0, "crest_err_db": crest,
            "learn_s": 60.0, "commit": "abc1234"}


def test_table_gives_the_choice_and_its_evidence_per_case() -> None:
    runs = [
        _run("s/linear_eq_cab", "nonlinear", 0.7, 0.5, 18.9, ["sag", "comp"],
             {"linear": 2.5, "nonlinear": 2.1, "linear level gap dB": 0.6,
              "level range / linear": 1.01}),
        _run("s/heavy_comp_cab", "nonlinear", 0.5, -1.5, -23.2, ["drive"],
             {"linear": 2.0, "nonlinear": 1.0, "linear level gap dB": 10.0,
              "level range / linear": 0.3}),
        _run("s/fuzz_cab", "linear", 2.0, 3.0, 20.0, [],
             {"linear": 1.0, "nonlinear with dynamics": 0.9, "nonlinear": 1.0}),
    ]
    md = bs.markdown(runs)
    assert "(code abc1234)" in md
    assert ("| s/linear_eq_cab | nonlinear | +18.9 | sag, comp | 0.84 | 0.6 | 1.01 | 0.700 |"
            in md)
    # a drive left neutral is no drive kept; the timbre ratio is the one before any reset
    assert "| s/heavy_comp_cab | nonlinear | - | drive | 0.50 | 10.0 | 0.30 |" in md
    held = md.split("## Held-out chains")[1]
    assert "| s/fuzz_cab | linear | - | - | 0.90 | - | - | 2.000 |" in held
    assert "chosen on 1 of 1 cases" in md
    assert "tuning cases (2): MR-STFT 0.600, |crest err| 1.00 dB" in md
    assert "at default, seed 0" in md  # records from before --quality were default runs
    assert "on 60 s performances" in md  # records from before case_s: the 60 s cases
    assert "on 20 s performances" in bs.markdown([{**r, "case_s": 20.0} for r in runs])


def test_table_names_the_quality_and_counts_every_linear_chain() -> None:
    runs = [{**_run(f"s/{c}", "linear", 0.3, 0.0, None, [], {}), "quality": "fast"}
            for c in ("eq_cab", "linear_eq_cab", "ds1_cab")]
    md = bs.markdown(runs)
    assert "at fast, seed 0" in md
    assert "chosen on 0 of 2 cases" in md  # the probe's Calf EQ + cab is linear too
    # the header names the records' seeds, not a fixed one
    assert "at fast, seed 1, 2," in bs.markdown([{**r, "seed": 1 + i % 2}
                                                 for i, r in enumerate(runs)])


def test_refuses_a_folder_without_cases(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert bs.main(["--cases", str(tmp_path), "--md", str(tmp_path / "x.md")]) == 2
    assert "build the cases first" in capsys.readouterr().err


def test_table_is_printed_unless_a_file_is_named(tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    # a run of a few cases must not replace the committed 40-case table by default
    (tmp_path / "manifest.json").write_text('{"duration_s": 60.0}')
    jsonl = tmp_path / "runs.jsonl"
    jsonl.write_text(json.dumps(_run("s/fuzz_cab", "linear", 2.0, 3.0, None, [], {})) + "\n")
    argv = ["--cases", str(tmp_path), "--sources", "s", "--chains", "fuzz_cab",
            "--jsonl", str(jsonl)]
    assert bs.main(argv) == 0
    assert "| s/fuzz_cab | linear |" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "runs.jsonl"]
    assert bs.main([*argv, "--md", str(tmp_path / "t.md")]) == 0
    assert "| s/fuzz_cab | linear |" in (tmp_path / "t.md").read_text()


def test_preset_variant_replaces_only_the_named_numbers() -> None:
    base = {"steps": 100, "starts": (0.0, 12.0), "n_segments": 10}
    v = bs.variant(base, {"steps": 400, "starts": [6.0]})
    assert v == {"steps": 400, "starts": (6.0,), "n_segments": 10}
    assert base["steps"] == 100  # the preset itself is left alone
    with pytest.raises(SystemExit, match="no such preset numbers"):
        bs.variant(base, {"step": 400})


def test_variants_are_compared_case_by_case_with_the_baseline() -> None:
    import compare_selection as cs

    base = [_run("s/a", "nonlinear", 0.50, 0.0, 30.0, [], {}),
            _run("s/b", "nonlinear", 1.00, 0.0, -23.2, ["drive"], {}),
            _run("s/c", "linear", 0.30, 0.0, None, [], {})]
    variant = [{**_run("s/a", "nonlinear", 0.70, 0.0, 40.0, [], {}), "variant": "longer"},
               {**_run("s/b", "nonlinear", 0.90, 0.0, 20.0, [], {}), "variant": "longer"}]
    md = cs.markdown(base, {"longer": variant}, "t")
    assert "| s/a | nonlinear / nonlinear | +40.0 / +30.0 | 0.700 / 0.500 |" in md
    assert "| s/b | nonlinear / nonlinear | +20.0 / - |" in md  # a reset drive is no drive
    assert "s/c" not in md  # no variant record: not compared
    assert "MR-STFT 0.800 / 0.750" in md
    assert "worse by more than 0.01 on 1, better on 1" in md


def test_run_case_keeps_the_learned_tone_when_asked(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    from audio_util import SR, write_wav
    from tones import chain_with

    import tonemorph
    from tonemorph.model import Tone

    case = tmp_path / "cases" / "src" / "chain"
    case.mkdir(parents=True)
    x = (0.1 * np.sin(2 * np.pi * 220 * np.arange(SR) / SR)).astype(np.float32)
    for name in ("A_target", "B_input", "C_input", "C_truth"):
        write_wav(case / f"{name}.wav", x)
    tone = Tone.from_chain(chain_with({"out_gain_db": -3.0}), 0.0, {"chosen": "linear"})
    monkeypatch.setattr(bs.tonemorph, "learn_tone", lambda *a, **k: tone)
    monkeypatch.setattr(bs, "score_output", lambda *a: {k: 0.0 for k in bs.METRICS})
    bs.run_case(tmp_path / "cases", "src/chain", 0)
    assert not (tmp_path / "tones").exists()
    bs.run_case(tmp_path / "cases", "src/chain", 0, save_dir=tmp_path / "tones")
    kept = tonemorph.load(tmp_path / "tones" / "src__chain.tmodel")
    assert kept.parameters == tone.parameters
