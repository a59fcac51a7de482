"""Nothing lost, nothing unchecked, at the command line: every output guarded (inputs never
overwritten, existing files only with --force, locations checked before work), SIGTERM and
Ctrl-C exit codes, clipping warnings, rate checks, truncated files, full disks, learn's notes.

Each case checks the exact exit code and the message. Learning is replaced by a stub (a
neutral chain) where the learner itself is not what is tested.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import typer
from signals import guitar_line
from typer.testing import CliRunner

import tonemorph
from tonemorph import cli as cli_mod
from tonemorph.chain.chain import ChainConfig, ToneChain
from tonemorph.cli import app
from tonemorph.learn.fit import LearnResult

SR = 48000
DATA = Path(__file__).parent / "io" / "data"
MODEL = DATA / "learned_fast.tmodel"
runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def error_line(result, code: int = 2) -> str:
    """The one `error:` line of a failed command (exit `code`, no traceback)."""
    out = result.output
    assert result.exit_code == code, out
    assert "Traceback" not in out
    lines = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, out
    return lines[0]


def warning_lines(result) -> list[str]:
    """The lines of a command's output that start a warning."""
    return [ln for ln in result.output.splitlines() if ln.startswith("warning:")]


def suggested_level(warning: str) -> float:
    """The --level (dB) a clipping warning suggests."""
    return float(warning.split("--level ")[1].split()[0])


def apply_pcm16(model: Path, take: Path, out: Path, level: float | str):
    """`apply` of model to take as a PCM_16 file at --level (dB); the result."""
    return run("apply", model, take, "-o", out, "--subtype", "PCM_16", "--level", f"{level}")


def clip_warning(model: Path, take: Path, out: Path, level: float | str) -> str:
    """The one warning of a PCM_16 `apply` at --level that clips: it says so."""
    res = apply_pcm16(model, take, out, level)
    assert res.exit_code == 0, res.output
    warn = warning_lines(res)
    assert len(warn) == 1 and "samples clipped" in warn[0], res.output
    return warn[0]


def write(path: Path, audio: np.ndarray, rate: int = SR, subtype: str = "PCM_24") -> Path:
    sf.write(path, np.asarray(audio, np.float32).T, rate, subtype=subtype)
    return path


def listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.fixture
def stub_fit(monkeypatch: pytest.MonkeyPatch) -> dict:
    """An instant fitter returning a neutral chain; `interrupted` makes it report a Ctrl-C."""
    state = {"calls": 0, "interrupted": False}

    def fake_fit(x, y, cfg, progress=None):
        state["calls"] += 1
        if progress:
            progress("start", 3, 10, 1.0)
        chain = ToneChain(ChainConfig(stages=cfg.stages, sample_rate=cfg.sample_rate))
        return LearnResult(chain, 0.0, 1.0, {"stub": 1.0}, {"linear": 1.0}, "linear", 3, 0.01,
                           interrupted=state["interrupted"])

    monkeypatch.setattr("tonemorph.api.fit_unpaired", fake_fit)
    return state


@pytest.fixture
def pair(tmp_path: Path) -> dict:
    d = tmp_path / "in"
    d.mkdir()
    return {"input": write(d / "input.wav", guitar_line(6.0, SR, seed=0)),
            "target": write(d / "target.wav", guitar_line(6.0, SR, seed=5)),
            "dir": tmp_path}


# ------------------------------------------------------------------- data loss: outputs


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("master")
    rng = np.random.default_rng(3)
    mix = np.stack([guitar_line(12.0, 44100, seed=s)[0] for s in (1, 2)])
    ref = np.tanh(3 * np.stack([guitar_line(12.0, 44100, seed=s)[0] for s in (3, 4)]))
    mix += 0.003 * rng.standard_normal(mix.shape)
    return {"mix": write(d / "mix.wav", mix, 44100, "PCM_16"),
            "ref": write(d / "ref.wav", 0.5 * ref, 44100, "PCM_16"), "dir": d}


@pytest.mark.parametrize("which", ["mix", "ref"])
def test_master_report_never_overwrites_an_input(music: dict, which: str) -> None:
    victim = music[which]
    data = victim.read_bytes()
    out = music["dir"] / "out.wav"
    for force in ((), ("--force",)):
        res = run("master", music["mix"], "-r", music["ref"], "-o", out, "--report", victim,
                  *force)
        assert "would overwrite" in error_line(res) and victim.name in res.output
    assert victim.read_bytes() == data and not out.exists()


def test_master_outputs_checked_before_any_work(music: dict, tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    res = run("master", music["mix"], "-r", music["ref"], "-o", out, "--report",
              tmp_path / "missing" / "r.json")
    assert "does not exist" in error_line(res)
    assert not out.exists()  # refused before the audio was written
    res = run("master", music["mix"], "-r", music["ref"], "-o", out, "--report", out)
    assert "two outputs" in error_line(res)
    assert listing(tmp_path) == []


def test_existing_model_is_replaced_only_with_force(stub_fit: dict, pair: dict) -> None:
    model = pair["dir"] / "tone.tmodel"
    model.write_text("a model that took 12 minutes")
    res = run("learn", "-i", pair["input"], "-t", pair["target"], "-o", model)
    assert "already exists; choose another path, or allow replacing it (--force)" in error_line(res)
    assert model.read_text() == "a model that took 12 minutes" and stub_fit["calls"] == 0
    res = run("learn", "-i", pair["input"], "-t", pair["target"], "-o", model, "--force")
    assert res.exit_code == 0, res.output
    assert tonemorph.load(model).training["chosen"] == "linear"


def test_interrupted_learn_saves_the_best_and_exits_130(stub_fit: dict, pair: dict) -> None:
    stub_fit["interrupted"] = True
    model = pair["dir"] / "tone.tmodel"
    res = run("learn", "-i", pair["input"], "-t", pair["target"], "-o", model)
    assert res.exit_code == 130, res.output
    assert "interrupted: saved the best model so far" in res.output
    assert "done" not in res.output  # the bar shows the run as interrupted, at 3/10
    assert "interrupted" in res.output and "3/10" in res.output
    assert tonemorph.load(model).training["interrupted"] is True
    # the Ctrl-C save follows the same rule: it never replaces a file without --force
    res = run("learn", "-i", pair["input"], "-t", pair["target"], "-o", model)
    assert "already exists" in error_line(res)


def test_learn_errors_come_before_any_progress_line(stub_fit: dict, pair: dict) -> None:
    bad = pair["dir"] / "missing.wav"
    res = run("learn", "-i", pair["input"], "-t", bad, "-o", pair["dir"] / "t.tmodel")
    assert "not found" in error_line(res)
    assert res.output.startswith("error:"), res.output  # no "starting ... loss nan" line


def test_learn_says_the_silence_it_left_out(stub_fit: dict, pair: dict) -> None:
    line = guitar_line(6.0, SR, seed=0)
    padded = write(pair["dir"] / "padded.wav",
                   np.concatenate([line, np.zeros((1, 12 * SR))], axis=1))
    model = pair["dir"] / "t.tmodel"
    res = run("learn", "-i", padded, "-t", pair["target"], "-o", model)
    assert res.exit_code == 0, res.output
    said = [ln for ln in res.output.splitlines() if ln.startswith("silence over 5 s left out")]
    assert len(said) == 1 and "from the input" in said[0], res.output
    gone = tonemorph.load(model).training["input"]["silence_left_out_s"]
    assert 9.5 - 0.1 <= gone <= 12.0  # all but the 2.5 s kept after the playing
    assert said[0].startswith(f"silence over 5 s left out: {gone:.1f} s from the input")
    assert said[0] in run("info", model).output


@pytest.mark.parametrize("name", ["tone.nam", "tone.json", "tone.wav", "tone"])
def test_learn_refuses_a_model_name_it_could_not_read_back_before_learning(
        stub_fit: dict, pair: dict, name: str) -> None:
    # apply / info read .nam and .json as neural models and .wav as audio
    res = run("learn", "-i", pair["input"], "-t", pair["target"], "-o", pair["dir"] / name)
    assert "save the tone as tone.tmodel" in error_line(res)
    assert stub_fit["calls"] == 0 and not (pair["dir"] / name).exists()


def test_learn_refuses_a_report_that_is_no_web_page_before_learning(
        stub_fit: dict, pair: dict) -> None:
    model, page = pair["dir"] / "t.tmodel", pair["dir"] / "report.wav"
    res = run("learn", "-i", pair["input"], "-t", pair["target"], "-o", model, "--report", page)
    line = error_line(res)
    assert "report.wav should end in .html" in line and line.endswith("(--report)")
    assert stub_fit["calls"] == 0 and not model.exists() and not page.exists()


def test_master_report_is_a_page_or_json(music: dict, tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    res = run("master", music["mix"], "-r", music["ref"], "-o", out, "--report",
              tmp_path / "r.wav")
    assert "r.wav should end in .html or .htm or .json" in error_line(res)
    assert listing(tmp_path) == []  # refused before the audio was written


def test_album_outputs_that_meet_are_named(music: dict, tmp_path: Path) -> None:
    second = tmp_path / "album2.wav"
    second.write_bytes(music["mix"].read_bytes())
    # the second track's default name is the one given to the first
    res = run("master", music["mix"], "-r", music["ref"], "--album", second, "-o",
              tmp_path / "album2-mastered.wav")
    assert ("the masters of mix.wav and album2.wav would both be written to"
            in error_line(res))
    assert listing(tmp_path) == ["album2.wav"]


def test_album_tracks_of_one_name_get_their_folders_name(music: dict, tmp_path: Path) -> None:
    # a/x.wav and b/x.wav were refused ("choose another output path"), with no way to choose
    for d in ("a", "b", "out"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.wav").write_bytes(music["mix"].read_bytes())
    res = run("master", tmp_path / "out" / "x.wav", "-r", music["ref"], "--album",
              tmp_path / "a" / "x.wav", "--album", tmp_path / "b" / "x.wav", "-o",
              tmp_path / "out" / "m.wav")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "b-x-mastered.wav", "m.wav", "x-mastered.wav", "x.wav"]


@pytest.mark.parametrize("fmt, name", [("nam", "amp.wav"), ("aidax", "amp.nam"),
                                       ("ir", "cab.json"), ("ir", "cab.txt")])
def test_export_writes_each_format_under_its_own_extension(tmp_path: Path, fmt: str,
                                                           name: str) -> None:
    res = run("export", MODEL, "--format", fmt, "-o", tmp_path / name)
    assert f"{name} should end in" in error_line(res)
    assert listing(tmp_path) == []


def test_an_interrupted_export_says_so_and_exits_130(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # SIGTERM mid-distillation wrote the partial model and exited 0 with the usual "wrote"
    from tonemorph.learn import distill as distill_mod
    from tonemorph.neural import make_model

    def stopped(tone, module, **_: Any) -> distill_mod.DistillResult:
        return distill_mod.DistillResult(make_model("nano"), 0.9, "poor", 0.9, 7, 3.0,
                                         interrupted=True)

    monkeypatch.setattr(distill_mod, "distill", stopped)
    out = tmp_path / "amp.nam"
    res = run("export", MODEL, "--arch", "nano", "-o", out)
    assert res.exit_code == 130, res.output
    assert "interrupted: the distillation stopped early" in res.output
    assert json.loads(out.read_text())["metadata"]["training"]["tonemorph"]["interrupted"]


def test_an_lstm_export_of_no_playable_size_is_one_line(tmp_path: Path) -> None:
    # lstm-1x100000 asked for 160 GB and ended in a traceback
    for arch in ("lstm-1x100000", "lstm-100x100", "lstm-0x8"):
        line = error_line(run("export", MODEL, "--arch", arch, "-o", tmp_path / "x.nam"))
        assert "1-4 layers of 1-64 hidden units" in line and line.endswith("(--arch)")
    assert listing(tmp_path) == []


def test_export_names_every_format_it_knows(tmp_path: Path) -> None:
    res = run("export", MODEL, "--format", "vst", "-o", tmp_path / "x.nam")
    assert error_line(res) == ("error: unknown export format 'vst'; choose nam, aidax, ir or "
                               "plugin (--format)")


def test_knob_errors_name_the_flag(tmp_path: Path) -> None:
    take = write(tmp_path / "take.wav", guitar_line(1.0, SR, seed=2))
    for flag, word in (("--level", "level_db"), ("--tone", "tone_db"), ("--drive", "drive_db")):
        res = run("apply", MODEL, take, "-o", tmp_path / "out.wav", flag, "200")
        line = error_line(res)
        assert word in line and line.endswith(f"({flag})")
    res = run("apply", MODEL, take, "-o", tmp_path / "out.wav", "--amount", "2")
    assert error_line(res).endswith("(--amount)")


@pytest.mark.parametrize("seed", ["-1", "4294967296", "99999999999999999999999"])
def test_seeds_outside_the_generators_range_are_one_line(stub_fit: dict, pair: dict,
                                                         seed: str) -> None:
    d = pair["dir"]
    for args in (("learn", "-i", pair["input"], "-t", pair["target"], "-o", d / "t.tmodel"),
                 ("learn", "--paired", "--steps", "1", "-i", pair["input"], "-t",
                  pair["target"], "-o", d / "p.tmodel"),
                 ("export", MODEL, "-f", "nam", "-o", d / "s.nam")):
        line = error_line(run(*args, "--seed", seed))
        assert f"in 0..4294967295, got {seed}" in line and line.endswith("(--seed)")
    assert stub_fit["calls"] == 0 and listing(d) == ["in"]


@pytest.mark.parametrize("budget, says", [(("--seconds", "inf"), "got inf (--seconds)"),
                                          (("--seconds", "nan"), "got nan (--seconds)"),
                                          (("--steps", "0"), "at least 1, got 0 (--steps)"),
                                          (("--steps", "-5"), "got -5 (--steps)")])
def test_a_capture_budget_that_is_no_budget_is_one_line(pair: dict, budget: tuple[str, str],
                                                        says: str) -> None:
    # inf trained on and ended in OverflowError; nan wrote an untrained model; 0 ran 2 steps
    d = pair["dir"]
    res = run("learn", "--paired", *budget, "-i", pair["input"], "-t", pair["target"], "-o",
              d / "c.tmodel")
    assert says in error_line(res)
    assert listing(d) == ["in"]


def test_export_and_capture_signal_need_force_to_replace(tmp_path: Path) -> None:
    ir = tmp_path / "cab.wav"
    ir.write_bytes(b"an IR I like")
    res = run("export", MODEL, "--format", "ir", "-o", ir)
    assert "already exists" in error_line(res) and ir.read_bytes() == b"an IR I like"
    res = run("export", MODEL, "--format", "ir", "-o", ir, "--force")
    assert res.exit_code == 0, res.output
    assert sf.info(ir).frames > 0
    res = run("export", MODEL, "--format", "ir", "-o", MODEL)
    assert "would overwrite" in error_line(res)
    reamp = tmp_path / "reamp.wav"
    reamp.write_bytes(b"my reamp recording")
    res = run("capture-signal", "-o", reamp)
    assert "already exists" in error_line(res) and reamp.read_bytes() == b"my reamp recording"


def test_apply_model_path_is_an_input_too(tmp_path: Path) -> None:
    take = write(tmp_path / "take.wav", guitar_line(1.0, SR, seed=1))
    model = tmp_path / "tone.tmodel"
    model.write_bytes(MODEL.read_bytes())
    res = run("apply", model, take, "-o", model, "--force")
    assert "would overwrite tone.tmodel" in error_line(res)
    assert model.read_bytes() == MODEL.read_bytes()


# ----------------------------------------------------------------------- SIGTERM, stale temps


@pytest.mark.parametrize("numba_cache", ["warm", "cold"])
def test_sigterm_during_apply_cleans_up_and_exits_143(tmp_path: Path, numba_cache: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    long = work / "long.wav"
    rng = np.random.default_rng(0)
    write(long, 0.1 * rng.standard_normal((1, 300 * SR)), subtype="PCM_16")
    out = work / "out.wav"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    if numba_cache == "cold":
        # a fresh clone compiles while writing: the signal may land in numba's C callback,
        # which swallows the handler's exception (CI saw exit 0 with a finished file)
        env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba")
    proc = subprocess.Popen([sys.executable, "-m", "tonemorph", "apply", str(MODEL), str(long),
                             "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(n.endswith(".part")
                                                    for n in listing(work)):
        time.sleep(0.05)
    assert any(n.endswith(".part") for n in listing(work)), "apply never started writing"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "terminated; nothing written" in err and "Traceback" not in err
    assert listing(work) == ["long.wav"]


def test_a_swallowed_sigterm_still_stops_the_command(tmp_path: Path) -> None:
    """The handler's exception can be lost in a C callback: the flag it sets stops the writer."""
    from tonemorph.io.paths import STOP_REQUESTED

    take = write(tmp_path / "take.wav", guitar_line(1.0, SR, seed=1))
    real_guard = cli_mod._guard

    @contextlib.contextmanager
    def guard_then_signal(*args: Any, **kwargs: Any) -> Iterator[None]:
        with real_guard(*args, **kwargs):
            STOP_REQUESTED.set()  # as _on_sigterm does, its exception swallowed
            cli_mod._Stop.terminated = True
            yield

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli_mod, "_guard", guard_then_signal)
        res = run("apply", MODEL, take, "-o", tmp_path / "out.wav")
    assert res.exit_code == 143, res.output
    assert "terminated; nothing written" in res.output
    assert listing(tmp_path) == ["take.wav"]
    assert not STOP_REQUESTED.is_set()


def test_sigterm_inside_a_c_callback_exits_143_without_a_traceback() -> None:
    """What CI saw: the handler ran inside numba's ctypes callback, which printed the lost
    exception as "Exception ignored ... Traceback" on stderr (a plain interpreter: pytest
    replaces the hook that prints it)."""
    code = """
import ctypes, signal, sys
import typer
from tonemorph import cli
callback = ctypes.CFUNCTYPE(None)(lambda: cli._on_sigterm(signal.SIGTERM, None))
try:
    with cli._guard():
        callback()
except typer.Exit as exc:
    sys.exit(exc.exit_code)
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120, check=False)
    assert res.returncode == 143, res.stderr
    assert "terminated; nothing written" in res.stderr
    assert "Traceback" not in res.stderr and "Exception ignored" not in res.stderr, res.stderr


def test_a_swallowed_sigterm_after_the_last_write_exits_143(tmp_path: Path) -> None:
    from tonemorph.io.paths import STOP_REQUESTED

    with pytest.raises(typer.Exit) as info, cli_mod._guard("done anyway"):
        STOP_REQUESTED.set()
        cli_mod._Stop.terminated = True
    assert info.value.exit_code == 143
    assert not STOP_REQUESTED.is_set()


def test_a_stop_removes_temp_files_no_writer_cleaned(tmp_path: Path) -> None:
    from tonemorph.io.paths import make_temp

    with pytest.raises(typer.Exit) as info, cli_mod._guard():
        make_temp(tmp_path / "out.wav")
        raise cli_mod.Terminated()
    assert info.value.exit_code == 143
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_file_is_removed_on_the_next_write(tmp_path: Path) -> None:
    take = write(tmp_path / "take.wav", guitar_line(1.0, SR, seed=1))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.wav.{dead.pid}-0badc0de.part"
    stale.write_bytes(b"\0" * 4096)
    res = run("apply", MODEL, take, "-o", tmp_path / "out.wav")
    assert res.exit_code == 0, res.output
    assert f"removed {stale.name}" in res.output and "interrupted run" in res.output
    assert listing(tmp_path) == ["out.wav", "take.wav"]


# --------------------------------------------------------------------------- output level


def test_apply_warns_about_clipping_and_offers_a_ceiling(tmp_path: Path) -> None:
    take = write(tmp_path / "take.wav", guitar_line(2.0, SR, seed=2, level_db=-1.0))
    warn = clip_warning(MODEL, take, tmp_path / "hot.wav", 12)
    assert "samples clipped in the PCM_16 file" in warn
    peak = float(warn.split("(peak ")[1].split(" dBFS")[0])
    level = suggested_level(warn)
    assert peak > 0 and level == pytest.approx(12 - peak - 0.1, abs=0.051)
    # the suggested level avoids the clipping
    res = apply_pcm16(MODEL, take, tmp_path / "fixed.wav", level)
    assert res.exit_code == 0 and "clipped" not in res.output, res.output
    # a float file keeps the overs and says so
    res = run("apply", MODEL, take, "-o", tmp_path / "hot_float.wav", "--subtype", "FLOAT",
              "--level", "12")
    assert "note: the output peaks at" in res.output and "float file keeps" in res.output
    assert np.max(np.abs(sf.read(tmp_path / "hot_float.wav")[0])) > 1.0
    # --ceiling: true-peak limited, nothing clipped, latency compensated (same length)
    res = run("apply", MODEL, take, "-o", tmp_path / "safe.wav", "--subtype", "PCM_16",
              "--level", "12", "--ceiling", "-1")
    assert res.exit_code == 0 and "clipped" not in res.output, res.output
    y, _ = sf.read(tmp_path / "safe.wav")
    assert 20 * np.log10(np.max(np.abs(y))) <= -1.0 and len(y) == 2 * SR
    res = run("apply", MODEL, take, "-o", tmp_path / "bad.wav", "--ceiling", "3")
    assert "ceiling" in error_line(res) and not (tmp_path / "bad.wav").exists()


def _hot_model(tmp_path: Path) -> Path:
    """MODEL storing +30 dB of output gain: --level +48 on it is past the output gain's range."""
    doc = json.loads(MODEL.read_text(encoding="utf-8"))
    doc["parameters"]["out_gain_db"] = 30.0
    path = tmp_path / "hot.tmodel"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_apply_clip_hint_works_at_a_large_level(tmp_path: Path) -> None:
    """--level +48 was held at the output gain's +58.8 dB (the output stopped getting louder
    above about +44), so the hint's --level still clipped (peak +5.0 dBFS)."""
    model = _hot_model(tmp_path)
    take = write(tmp_path / "take.wav", guitar_line(1.0, SR, seed=2, level_db=-60.0))
    level = suggested_level(clip_warning(model, take, tmp_path / "hot.wav", 48))
    res = apply_pcm16(model, take, tmp_path / "fixed.wav", level)
    assert res.exit_code == 0 and "clipped" not in res.output, res.output
    peak = 20 * np.log10(np.max(np.abs(sf.read(tmp_path / "fixed.wav")[0])))
    assert -0.5 < peak <= 0.0


def test_apply_level_at_its_edge_with_amount(tmp_path: Path) -> None:
    """--level -48 --amount 0.3 was refused as "level_db must be within +-48 dB, got -50.14
    (--level)": the amount's own loudness compensation was counted as the user's level."""
    take = write(tmp_path / "take.wav", guitar_line(1.0, SR, seed=2))
    for extra in (("--amount", "0.3"), ("--drive", "-6")):
        out = tmp_path / f"k{extra[0]}.wav"
        res = run("apply", MODEL, take, "-o", out, "--level", "-48", *extra)
        assert res.exit_code == 0 and "error" not in res.output, res.output
        assert out.exists()


def test_apply_says_when_the_drive_offset_is_capped(tmp_path: Path) -> None:
    take = write(tmp_path / "take.wav", guitar_line(1.0, SR, seed=2))
    res = run("apply", MODEL, take, "-o", tmp_path / "o.wav", "--drive", "-48")
    assert res.exit_code == 0, res.output
    warn = warning_lines(res)
    assert any("drive offset of -48 dB" in w and "past its range" in w for w in warn), warn


def test_apply_clip_hint_past_the_level_knobs_range_offers_the_ceiling(tmp_path: Path) -> None:
    """An output that only a --level below -48 would fit is not told to pass that --level (it
    would be refused): the hint says none is low enough and offers --ceiling."""
    doc = json.loads(MODEL.read_text(encoding="utf-8"))
    doc["parameters"]["out_gain_db"] = 60.0
    model = tmp_path / "hottest.tmodel"
    model.write_text(json.dumps(doc), encoding="utf-8")
    take = write(tmp_path / "take.wav", guitar_line(1.0, SR, seed=2, level_db=-1.0))
    res = run("apply", model, take, "-o", tmp_path / "hot.wav", "--subtype", "PCM_16")
    warn = [ln for ln in " ".join(res.output.split()).split("warning: ")[1:]]
    assert res.exit_code == 0 and len(warn) == 1, res.output
    assert "pass --ceiling -1" in warn[0] and "no --level is low enough" in warn[0], warn
    assert "pass --level" not in warn[0]


def test_apply_to_mp3_checks_the_peaks_the_file_decodes_to(tmp_path: Path) -> None:
    # an encoder moves the peaks: the warning is about the decoded file, and its --level works
    if not sf.check_format("MP3", "MPEG_LAYER_III"):
        pytest.skip("this libsndfile cannot write MP3")
    take = write(tmp_path / "take.wav", guitar_line(2.0, SR, seed=2, level_db=-1.0))
    res = run("apply", MODEL, take, "-o", tmp_path / "hot.mp3", "--level", "12")
    assert res.exit_code == 0, res.output
    warn = warning_lines(res)
    assert len(warn) == 1 and "decodes to +" in warn[0] and "past full scale" in warn[0], warn
    level = suggested_level(warn[0])
    res = run("apply", MODEL, take, "-o", tmp_path / "ok.mp3", "--level", f"{level}")
    assert res.exit_code == 0 and "warning" not in res.output, res.output


# ------------------------------------------------------------------- rates, disks, files


@pytest.mark.parametrize("rate", ["0", "1000000000", "7999"])
def test_sample_rates_are_validated_everywhere(tmp_path: Path, rate: str) -> None:
    take = write(tmp_path / "take.wav", guitar_line(1.0, SR, seed=1))
    for args in (("apply", MODEL, take, "-o", tmp_path / "o.wav"),
                 ("export", MODEL, "--format", "ir", "-o", tmp_path / "ir.wav"),
                 ("capture-signal", "-o", tmp_path / "r.wav")):
        line = error_line(run(*args, "--sr", rate))
        assert "--sr must be 8000-384000 Hz" in line and rate in line
    assert listing(tmp_path) == ["take.wav"]


def test_full_disk_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    take = write(tmp_path / "take.wav", guitar_line(1.0, SR, seed=1))

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sf.SoundFile, "write", full)
    res = run("apply", MODEL, take, "-o", tmp_path / "o.wav")
    assert "no space left on device" in error_line(res)
    assert listing(tmp_path) == ["take.wav"]


def test_full_disk_for_real(music: dict, tmp_path: Path) -> None:
    """A 300 kB tmpfs (needs root and mount; the monkeypatched test above always runs)."""
    small = tmp_path / "small"
    small.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs",
                                            str(small)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        for args in (("master", music["mix"], "-r", music["ref"], "-o", small / "m.wav"),
                     ("apply", MODEL, music["mix"], "-o", small / "a.wav")):
            assert "no space left on device" in error_line(run(*args))
            assert listing(small) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_truncated_wav_is_processed_with_a_warning(tmp_path: Path) -> None:
    whole = write(tmp_path / "whole.wav", guitar_line(15.0, SR, seed=3), subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[: 44 + 5 * SR * 2])
    res = run("apply", MODEL, cut, "-o", tmp_path / "o.wav")
    assert res.exit_code == 0, res.output
    warn = [ln for ln in warning_lines(res) if "truncated" in ln]
    assert len(warn) == 1 and "declares 15.0 s, only 5.0 s" in warn[0], res.output


def test_a_cut_off_mp3_is_processed_with_a_warning_and_its_real_length(tmp_path: Path
                                                                        ) -> None:
    # an MP3 has no chunk size to compare: its header's length is an estimate, and the cut
    # showed only when decoding ended early (it had said "wrote ... 15.0 s of audio")
    whole = tmp_path / "whole.mp3"
    sf.write(whole, guitar_line(15.0, SR, seed=3).T, SR)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    res = run("apply", MODEL, cut, "-o", tmp_path / "o.wav")
    assert res.exit_code == 0, res.output
    warn = [ln for ln in warning_lines(res) if "truncated" in ln]
    assert len(warn) == 1 and "of the 15.0 s its header gives" in warn[0], res.output
    seconds = sf.info(tmp_path / "o.wav").duration
    flat = " ".join(res.output.split())  # the console wraps long lines
    assert seconds < 7.0 and f"({seconds:.1f} s of audio" in flat
    # a whole one says nothing
    res = run("apply", MODEL, whole, "-o", tmp_path / "w.wav")
    assert res.exit_code == 0 and "truncated" not in res.output, res.output


def test_learn_says_what_it_did_with_channels_and_rates(stub_fit: dict, pair: dict) -> None:
    d = pair["dir"]
    six = write(d / "six.wav", np.repeat(guitar_line(8.0, SR, seed=7), 6, axis=0))
    res = run("learn", "-i", six, "-t", pair["target"], "-o", d / "a.tmodel")
    assert res.exit_code == 0, res.output
    assert "warning: input: 6 channels mixed down to mono for learning" in res.output
    low = write(d / "low.wav", guitar_line(8.0, 8000, seed=8), 8000)
    res = run("learn", "-i", pair["input"], "-t", low, "-o", d / "b.tmodel")
    line = error_line(res)
    assert "target is sampled at 8000 Hz" in line and "--allow-low-rate" in line
    assert stub_fit["calls"] == 1 and not (d / "b.tmodel").exists()
    res = run("learn", "-i", pair["input"], "-t", low, "-o", d / "b.tmodel", "--allow-low-rate")
    assert res.exit_code == 0, res.output
    assert "target: 8000 Hz resampled to 48000 Hz for learning" in res.output


# ---------------------------------------------------------------------------- help, version


def test_help_shows_no_bool_placeholders_and_plain_usage() -> None:
    res = run("apply", "--help")
    assert res.exit_code == 0
    assert "<bool>" not in res.output and "--no-force" not in res.output
    assert "apply [OPTIONS] MODEL TAKE" in res.output
    assert "{model}" not in res.output
    top = run("--help")
    assert "<bool>" not in top.output and "--version" in top.output
    for cmd in ("learn", "export", "master", "report", "demo", "capture-signal", "info"):
        assert "<bool>" not in run(cmd, "--help").output, cmd


def test_apply_help_names_the_loudness_guard_s_tolerance() -> None:
    from tonemorph.model import LOUDNESS_GUARD_DB

    text = " ".join(run("apply", "--help").output.replace("│", " ").split())
    assert f"within {LOUDNESS_GUARD_DB:g} dB of what the tone did" in text


def test_version_and_python_dash_m() -> None:
    res = run("--version")
    assert res.exit_code == 0 and res.output.strip() == f"tonemorph {tonemorph.__version__}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.run([sys.executable, "-m", "tonemorph", "--version"], capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == res.output.strip()
