"""The command line end to end on short audio: learn (once), info, apply with knobs and rates,
and every kind of bad input giving exit code 2 with a one-line message and nothing half-written.

Only the module fixture really learns; bad-input tests replace the fitter with a stub, so a
missing check shows up as a wrong exit code instead of a long run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from signals import guitar_line
from tones import SR, TARGET, chain_with, render
from typer.testing import CliRunner

import tonemorph
from tonemorph.chain.chain import ChainConfig, ToneChain
from tonemorph.chain.config import STAGES
from tonemorph.cli import EXIT_USER_ERROR, app
from tonemorph.dsp.matcheq import active_rms_db
from tonemorph.errors import ParameterError
from tonemorph.learn import fit
from tonemorph.learn.fit import LearnResult

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def assert_user_error(result, *words: str) -> str:
    """Exit code 2, no traceback, exactly one 'error:' line holding every word; returns it."""
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out
    assert result.exception is None or isinstance(result.exception, SystemExit), out
    lines = [ln for ln in out.splitlines() if ln.strip().lower().startswith("error")]
    assert len(lines) == 1, out
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]
    return lines[0]


def write(path: Path, audio: np.ndarray, rate: int = SR, subtype: str = "FLOAT") -> Path:
    sf.write(path, np.asarray(audio, np.float32).T, rate, subtype=subtype)
    return path


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------- the one learn


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("cli")
    inp = write(d / "input.wav", guitar_line(6.0, SR, seed=0), subtype="PCM_24")
    tgt = write(d / "target.wav", render(chain_with(TARGET), guitar_line(6.0, SR, seed=5)),
                subtype="PCM_24")
    model = d / "tone.tmodel"
    result = run("learn", "-i", inp, "-t", tgt, "-o", model, "--quality", "fast")
    return {"dir": d, "input": inp, "target": tgt, "model": model, "result": result}


def test_learn_writes_a_model(learned: dict) -> None:
    res = learned["result"]
    assert res.exit_code == 0, res.output
    assert f"wrote {learned['model']}" in res.output
    assert "warning:" in res.output and "recommended" in res.output  # 6 s < 10 s recommended
    tone = tonemorph.load(learned["model"])
    tr = tone.training
    assert tr["input"]["name"] == "input.wav" and tr["target"]["name"] == "target.wav"
    assert tr["quality"] == "fast" and tr["chosen"] in ("linear", "nonlinear")
    assert np.isfinite(tr["loss"])
    # the line names the chain chosen and, for a nonlinear one, the level-dependent blocks kept
    from tonemorph.model import level_blocks

    kept = level_blocks(tone.parameters) if tr["chosen"] == "nonlinear" else []
    said = f"({tr['chosen']} chain" + (f" ({', '.join(kept)})" if kept else "")
    assert said in " ".join(res.output.split()), res.output
    print("CLI learn:", tr["chosen"], {k: round(v, 3) for k, v in tr["candidates"].items()})


def test_learn_refuses_to_overwrite_existing_model_input(learned: dict) -> None:
    res = run("learn", "-i", learned["input"], "-t", learned["target"], "-o", learned["input"])
    assert_user_error(res, "overwrite")


def test_info(learned: dict) -> None:
    res = run("info", learned["model"])
    assert res.exit_code == 0, res.output
    assert "stages" in res.output and "out_gain_db" in res.output
    assert "learned from input.wav -> target.wav" in res.output
    assert "quality fast" in res.output
    assert "cabinet matched " in res.output


def test_apply_mono_take(learned: dict, tmp_path: Path) -> None:
    take = write(tmp_path / "take.wav", guitar_line(2.0, SR, seed=30), subtype="PCM_24")
    out = tmp_path / "out.wav"
    res = run("apply", learned["model"], take, "-o", out)
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "realtime" in res.output
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.frames) == (SR, 1, 2 * SR)
    assert info.subtype == "PCM_24"
    y, _ = sf.read(out, always_2d=True)
    assert np.all(np.isfinite(y)) and active_rms_db(y.T, SR) > -50


def test_apply_says_when_the_loudness_guard_acts(tmp_path: Path) -> None:
    # a tone +24 dB above 4 kHz, learned on a take without highs, meets a take of highs
    cfg = ChainConfig(stages=("cab",), sample_rate=SR)
    chain = ToneChain(cfg)
    bands = np.interp(np.log(cfg.band_hz()), np.log([2000.0, 4000.0]), [0.0, 24.0])
    chain.set_values({**chain.neutral_values(), "cab.band_db": bands.tolist()})
    tone = tonemorph.Tone.from_chain(chain, 0.0, {})
    rng = np.random.default_rng(3)
    low = np.cumsum(rng.standard_normal(4 * SR)).astype(np.float32)  # brown: no highs
    tone.measure_loudness_curve(0.1 * low / np.abs(low).max(), SR)
    tone.save(tmp_path / "bright.tmodel")
    high = np.diff(rng.standard_normal(4 * SR + 1), 2, prepend=0).astype(np.float32)
    take = write(tmp_path / "hiss.wav", (0.05 * high / np.abs(high).max())[None])
    res = run("apply", tmp_path / "bright.tmodel", take, "-o", tmp_path / "held.wav")
    assert res.exit_code == 0, res.output
    assert "louder than its learning take" in res.output and "--no-loudness-guard" in res.output
    res = run("apply", tmp_path / "bright.tmodel", take, "-o", tmp_path / "raw.wav",
              "--no-loudness-guard")
    assert res.exit_code == 0 and "learning take" not in res.output, res.output
    held, raw = (sf.read(tmp_path / f"{n}.wav")[0] for n in ("held", "raw"))
    assert active_rms_db(raw[None], SR) - active_rms_db(held[None], SR) > 3.0


def test_apply_stereo_take_with_knobs(learned: dict, tmp_path: Path) -> None:
    x = np.concatenate([guitar_line(2.0, SR, seed=31), guitar_line(2.0, SR, seed=32)])
    take = write(tmp_path / "stereo.wav", x)
    plain, knobbed, quieter = (tmp_path / n for n in ("plain.wav", "knobs.wav", "quiet.wav"))
    assert run("apply", learned["model"], take, "-o", plain).exit_code == 0
    res = run("apply", learned["model"], take, "-o", knobbed, "--amount", "0.5", "--tone", "2",
              "--level", "-3")
    assert res.exit_code == 0, res.output
    res = run("apply", learned["model"], take, "-o", quieter, "--level", "-6")
    assert res.exit_code == 0, res.output
    yp, yq, yk = (sf.read(p, dtype="float32", always_2d=True)[0].T
                  for p in (plain, quieter, knobbed))
    assert yp.shape == yq.shape == yk.shape == x.shape
    assert active_rms_db(yq, SR) - active_rms_db(yp, SR) == pytest.approx(-6.0, abs=0.1)
    assert not np.allclose(yk, yp)
    tone = tonemorph.load(learned["model"])
    np.testing.assert_allclose(yp, tone.apply(x, SR), rtol=0, atol=1e-5)


def test_apply_drive_knob(learned: dict, tmp_path: Path) -> None:
    tone = tonemorph.load(learned["model"])
    take = write(tmp_path / "take.wav", guitar_line(1.0, SR, seed=33))
    res = run("apply", learned["model"], take, "-o", tmp_path / "d.wav", "--drive", "3")
    if "drive" in tone.config.stages:
        assert res.exit_code == 0, res.output
    else:  # a linear model has no drive to turn
        assert_user_error(res, "drive")


def test_apply_44k1_take_keeps_rate_unless_sr_given(learned: dict, tmp_path: Path) -> None:
    take = write(tmp_path / "take44.wav", guitar_line(2.0, 44100, seed=34), 44100, "PCM_16")
    out44, out48 = tmp_path / "out44.wav", tmp_path / "out48.flac"
    assert run("apply", learned["model"], take, "-o", out44).exit_code == 0
    info = sf.info(out44)
    assert (info.samplerate, info.frames, info.subtype) == (44100, 88200, "PCM_16")
    res = run("apply", learned["model"], take, "-o", out48, "--sr", "48000")
    assert res.exit_code == 0, res.output
    info = sf.info(out48)
    assert info.samplerate == 48000 and abs(info.frames - 96000) <= 2
    assert info.format == "FLAC"


def test_module_help_in_a_subprocess() -> None:
    proc = subprocess.run([sys.executable, "-m", "tonemorph.cli", "--help"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    for cmd in ("learn", "apply", "info", "demo"):
        assert cmd in proc.stdout
    assert "Traceback" not in proc.stderr


def test_the_command_exits_with_main_s_code_and_output(tmp_path: Path) -> None:
    # `entry` ends the process without the interpreter's finalisers: the exit code and every
    # line printed must still come out, on success and on a user error
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tonemorph.cli", *args],
                              capture_output=True, text=True, timeout=120, check=False)

    ok = cli("--version")
    assert ok.returncode == 0 and ok.stdout.startswith("tonemorph "), ok.stderr
    missing = tmp_path / "missing.tmodel"
    bad = cli("info", str(missing))
    assert bad.returncode == EXIT_USER_ERROR
    assert "not found" in bad.stdout + bad.stderr and "Traceback" not in bad.stderr
    # and no exit-time handler runs (torch's take a second after a learn)
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('finalised'))\n"
            "from tonemorph.cli import entry\n"
            "sys.argv = ['tonemorph', '--version']\n"
            "entry()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("tonemorph ")
    assert "finalised" not in proc.stdout


# --------------------------------------------------------------------------- bad inputs


@pytest.fixture
def stub_fit(monkeypatch: pytest.MonkeyPatch) -> list:
    """Replace the fitter with an instant neutral chain; records its calls."""
    calls: list = []

    def fake_fit(x, y, cfg, progress=None):
        calls.append((len(x), len(y)))
        chain = ToneChain(ChainConfig(stages=cfg.stages, sample_rate=cfg.sample_rate))
        return LearnResult(chain, 0.0, 1.0, {"stub": 1.0}, {"linear": 1.0}, "linear", 0, 0.01)

    monkeypatch.setattr("tonemorph.api.fit_unpaired", fake_fit)
    return calls


@pytest.fixture
def good(tmp_path: Path) -> dict:
    d = tmp_path / "in"
    d.mkdir()
    return {"input": write(d / "input.wav", guitar_line(6.0, SR, seed=0)),
            "target": write(d / "target.wav", guitar_line(6.0, SR, seed=5)),
            "out": tmp_path / "tone.tmodel", "dir": tmp_path}


def test_stub_learn_succeeds(stub_fit: list, good: dict) -> None:
    res = run("learn", "-i", good["input"], "-t", good["target"], "-o", good["out"])
    assert res.exit_code == 0, res.output
    assert stub_fit and good["out"].exists()


def _bad_target(kind: str, d: Path) -> tuple[Path, tuple[str, ...]]:
    """A bad target file of the given kind and the words its error message must hold."""
    rng = np.random.default_rng(0)
    p = d / f"{kind}.wav"
    if kind == "missing":
        return p, ("not found",)
    if kind == "corrupt":
        p.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
        return p, ("cannot be decoded",)
    if kind == "text":
        p.write_text("this is not audio\n" * 50)
        return p, ("text file",)
    if kind == "empty":
        p.write_bytes(b"")
        return p, ()
    if kind == "silent":
        return write(p, np.zeros((1, 6 * SR))), ("silent",)
    if kind == "short":
        x = np.zeros((1, 6 * SR), np.float32)
        x[:, SR: SR + int(1.2 * SR)] = guitar_line(1.2, SR, seed=2, level_db=-3.0)
        # continuous sound: a sustained note, no rests, so 1.2 s is all there is
        t = np.arange(int(1.2 * SR)) / SR
        x[:, SR: SR + int(1.2 * SR)] += 0.3 * np.sin(2 * np.pi * 196.0 * t)
        return write(p, x), ("1.2 s", "at least")
    if kind == "nan":
        x = guitar_line(6.0, SR, seed=3)
        x[0, 1000:1010] = np.nan
        return write(p, x), ("nan",)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing", "corrupt", "text", "empty", "silent", "short",
                                  "nan"])
@pytest.mark.parametrize("role", ["input", "target"])
def test_learn_bad_audio(stub_fit: list, good: dict, kind: str, role: str) -> None:
    bad, words = _bad_target(kind, good["dir"])
    args = {"input": good["input"], "target": good["target"], role: bad}
    res = run("learn", "-i", args["input"], "-t", args["target"], "-o", good["out"])
    line = assert_user_error(res, *words)
    assert role in line
    assert not stub_fit
    assert not good["out"].exists()
    assert not [n for n in files_in(good["dir"]) if n.endswith(".part")]


def test_learn_missing_or_unusable_output_directory(stub_fit: list, good: dict) -> None:
    res = run("learn", "-i", good["input"], "-t", good["target"], "-o",
              good["dir"] / "nope" / "tone.tmodel")
    assert_user_error(res, "does not exist")
    blocker = good["dir"] / "file"
    blocker.write_text("x")
    res = run("learn", "-i", good["input"], "-t", good["target"], "-o", blocker / "t.tmodel")
    assert_user_error(res, "not a directory")
    res = run("learn", "-i", good["input"], "-t", good["target"], "-o", good["dir"])
    assert_user_error(res, "directory")
    assert not stub_fit


def test_learn_bad_options(stub_fit: list, good: dict) -> None:
    base = ("learn", "-i", good["input"], "-t", good["target"], "-o", good["out"])
    assert_user_error(run(*base, "--quality", "ultra"), "quality")
    assert_user_error(run(*base, "--chain", "eq,fuzz"), "fuzz", "(--chain)")
    assert not stub_fit and not good["out"].exists()


@pytest.mark.parametrize("chain", [",,,", " , ", ""])
def test_learn_refuses_a_chain_naming_no_stage(stub_fit: list, good: dict, chain: str) -> None:
    """',,,' learned a cabinet-only tone unasked while '' learned the full chain; both are a
    list with no stage in it (leaving --chain out is the full chain)."""
    base = ("learn", "-i", good["input"], "-t", good["target"], "-o", good["out"])
    assert_user_error(run(*base, "--chain", chain), "no stages given", "leave them out",
                      "(--chain)")
    assert_user_error(run(*base, "--paired", "--steps", "2", "--chain", chain),
                      "no stages given")
    assert not stub_fit and not good["out"].exists()


def test_parse_stages() -> None:
    assert tonemorph.parse_stages(None) == STAGES
    assert tonemorph.parse_stages(" cab , eq ,") == ("pre_eq", "post_eq", "cab")
    for empty in ("", ",,,", " , "):
        with pytest.raises(ParameterError, match="no stages given"):
            tonemorph.parse_stages(empty)
    with pytest.raises(ParameterError, match="no stages given"):
        tonemorph.learn_tone((np.zeros(10), SR), (np.zeros(10), SR), stages=())


def test_learn_clipped_target_warns_but_succeeds(stub_fit: list, good: dict) -> None:
    loud = np.clip(guitar_line(6.0, SR, seed=5, level_db=0.0) * 8.0, -1.0, 1.0)
    tgt = write(good["dir"] / "clipped.wav", loud, subtype="PCM_16")
    res = run("learn", "-i", good["input"], "-t", tgt, "-o", good["out"])
    assert res.exit_code == 0, res.output
    warn = [ln for ln in res.output.splitlines() if ln.startswith("warning:")]
    assert any("target looks clipped" in ln for ln in warn), res.output
    assert good["out"].exists()
    tone = tonemorph.load(good["out"])
    assert any("clipped" in w for w in tone.training["warnings"])


# ---------------------------------------------------------------------- apply bad inputs


@pytest.fixture
def apply_dir(tmp_path: Path, learned: dict) -> Path:
    d = tmp_path / "apply"
    d.mkdir()
    write(d / "take.wav", guitar_line(1.0, SR, seed=40))
    return d


def _check_nothing_written(d: Path, before: list[str]) -> None:
    assert files_in(d) == before  # no output, no leftover temp file


def test_apply_bad_model_files(learned: dict, apply_dir: Path) -> None:
    take, out = apply_dir / "take.wav", apply_dir / "out.wav"
    doc = json.loads(learned["model"].read_text())
    models = apply_dir / "models"
    models.mkdir()
    no_format = {k: v for k, v in doc.items() if k != "format"}
    (models / "noformat.tmodel").write_text(json.dumps(no_format))
    (models / "future.tmodel").write_text(json.dumps({**doc, "format_version": 99}))
    (models / "nam.nam").write_text(json.dumps({"version": "0.5.4", "architecture": "WaveNet",
                                                "config": {}, "weights": [0.0]}))
    (models / "master.tmodel").write_text(json.dumps({**doc, "kind": "master"}))
    (models / "broken.tmodel").write_text(learned["model"].read_text()[:200])
    before = files_in(apply_dir)
    cases = [(take, ("not a tonemorph model", "audio")),
             (models / "noformat.tmodel", ("format",)),
             (models / "future.tmodel", ("version 99", "newer")),
             (models / "nam.nam", ("neural amp modeler",)),
             (models / "master.tmodel", ("master",)),
             (models / "broken.tmodel", ("not a tonemorph model",)),
             (models / "missing.tmodel", ("not found",))]
    for model, words in cases:
        assert_user_error(run("apply", model, take, "-o", out), *words)
        assert_user_error(run("info", model), *words)
        _check_nothing_written(apply_dir, before)


def test_apply_bad_takes(learned: dict, apply_dir: Path) -> None:
    out = apply_dir / "out.wav"
    for kind in ("missing", "corrupt", "text", "empty", "nan"):
        bad, words = _bad_target(kind, apply_dir)
        before = files_in(apply_dir)
        line = assert_user_error(run("apply", learned["model"], bad, "-o", out), *words)
        assert "take" in line
        _check_nothing_written(apply_dir, before)


def test_apply_refuses_to_overwrite_its_input(learned: dict, apply_dir: Path) -> None:
    take = apply_dir / "take.wav"
    data = take.read_bytes()
    before = files_in(apply_dir)
    assert_user_error(run("apply", learned["model"], take, "-o", take), "overwrite", "input")
    # --force replaces existing outputs, never an input
    assert_user_error(run("apply", learned["model"], take, "-o", take, "--force"), "overwrite")
    assert take.read_bytes() == data
    _check_nothing_written(apply_dir, before)


def test_apply_bad_output_paths_and_options(learned: dict, apply_dir: Path) -> None:
    take, model = apply_dir / "take.wav", learned["model"]
    before = files_in(apply_dir)
    assert_user_error(run("apply", model, take, "-o", apply_dir / "nope" / "o.wav"),
                      "does not exist")
    assert_user_error(run("apply", model, take, "-o", take / "o.wav"), "not a directory")
    assert_user_error(run("apply", model, take, "-o", apply_dir), "directory")
    assert_user_error(run("apply", model, take, "-o", apply_dir / "o.xyz"), "extension")
    assert_user_error(run("apply", model, take, "-o", apply_dir / "o.wav", "--subtype",
                          "PCM_99"), "subtype")
    assert_user_error(run("apply", model, take, "-o", apply_dir / "o.wav", "--amount", "2"),
                      "amount")
    assert_user_error(run("apply", model, take, "-o", apply_dir / "o.wav", "--level", "99"),
                      "level")
    _check_nothing_written(apply_dir, before)


def test_apply_failing_midway_leaves_nothing(learned: dict, tmp_path: Path) -> None:
    # NaN after the 30 s loudness excerpt: found only while blocks are being written
    rate = 8000
    x = guitar_line(32.0, rate, seed=41)
    x[0, 31 * rate + 5] = np.nan
    d = tmp_path / "mid"
    d.mkdir()
    take = write(d / "long.wav", x, rate)
    before = files_in(d)
    res = run("apply", learned["model"], take, "-o", d / "out.wav")
    assert_user_error(res, "nan")
    _check_nothing_written(d, before)


# -------------------------------------------------------------------------- determinism


def test_learn_same_seed_same_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = {"n_segments": 2, "segment_s": 1.0, "starts": (6.0,), "start_steps": 3, "steps": 4}
    monkeypatch.setitem(fit.QUALITY_PRESETS, "fast", tiny)
    x = guitar_line(6.0, SR, seed=0)
    y = render(chain_with(TARGET), guitar_line(6.0, SR, seed=5))
    with pytest.warns(UserWarning, match="recommended"):
        a = tonemorph.learn_tone((x, SR), (y, SR), quality="fast", seed=0)
    with pytest.warns(UserWarning, match="recommended"):
        b = tonemorph.learn_tone((x, SR), (y, SR), quality="fast", seed=0)
    assert a.parameters == b.parameters
    assert a.input_gain_db == b.input_gain_db
    assert a.training["candidates"] == b.training["candidates"]
    assert a.training["steps"] == b.training["steps"] > 0
    # how the cabinet was matched is recorded (and shown by `info` and the report)
    assert a.training["cab_match"] == b.training["cab_match"]
    assert a.training["cab_match"].startswith(("note by note", "on the long-term spectrum"))
