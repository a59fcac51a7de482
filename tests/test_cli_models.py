"""`tonemorph info` / `apply` on damaged or hostile model files of all three formats: exit code 2
and one `error:` line naming the key (no traceback, nothing written); `info` of AIDA-X files;
`.nam` levels printed rounded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from tonemorph.cli import app

TESTS = Path(__file__).parent
LEARNED = TESTS / "io" / "data" / "learned_fast.tmodel"
NANO = TESTS / "export" / "data" / "golden_nano.nam"
AIDAX = TESTS / "export" / "data" / "golden_lstm_8.json"
SR = 48000

runner = CliRunner()


def run(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def assert_user_error(result: Any, *words: str) -> str:
    """Exit code 2, no traceback, exactly one 'error:' line holding every word; returns it."""
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out
    assert result.exception is None or isinstance(result.exception, SystemExit), out
    lines = [ln for ln in out.splitlines() if ln.strip().lower().startswith("error")]
    assert len(lines) == 1, out
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def take(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("take") / "take.wav"
    t = np.arange(SR // 2) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * 196.0 * t)).astype(np.float32), SR,
             subtype="PCM_24")
    return path


def _tmodel(tmp_path: Path, edit: Any, name: str = "bad.tmodel") -> Path:
    doc = json.loads(LEARNED.read_text())
    edit(doc)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _param(name: str, value: Any) -> Any:
    return lambda d: d["parameters"].__setitem__(name, value)


def _training(name: str, value: Any) -> Any:
    return lambda d: d["training"].__setitem__(name, value)


#: The cases of the issue: (edit, words the error line must hold)
CASES = {
    "sample_rate_0": (lambda d: d["chain"].__setitem__("sample_rate", 0),
                      ("chain.sample_rate", "8000 .. 384000 Hz", "re-learn the tone")),
    "input_gain_1e308": (lambda d: d.__setitem__("input_gain_db", 1e308),
                         ("input_gain_db", "-120 .. 120 dB")),
    "input_gain_10_400": (lambda d: d.__setitem__("input_gain_db", 10**400),
                          ("input_gain_db", "-120 .. 120 dB")),
    "cab_taps_1e12": (lambda d: d["chain"].__setitem__("cab_taps", 1e12),
                      ("chain.cab_taps", "16 .. 32768 taps")),
    "out_gain_1e300": (_param("out_gain_db", 1e300), ("parameters.out_gain_db",
                                                      "-60 .. 60 dB")),
    "attack_negative": (_param("comp.attack_ms", -5.0), ("parameters.comp.attack_ms",
                                                         "0.3 .. 200 ms")),
    "ratio_0": (_param("comp.ratio", 0), ("parameters.comp.ratio", "1:1 .. 20:1")),
    "drive_60": (_param("drive.drive_db", 60.0), ("parameters.drive.drive_db",
                                                  "-24 .. 54 dB")),
    "bool_number": (_param("drive.bias", True), ("parameters.drive.bias", "not a number")),
    "cab_curve_short": (_param("cab.band_db", [0.0] * 10), ("parameters.cab.band_db",
                                                            "needs 64")),
    # training fields that info and report read (a traceback from them before)
    "selection_text": (_training("selection", "x"), ("training.selection", "not an object")),
    "selection_number": (_training("selection", 3), ("training.selection", "not an object")),
    "selection_list": (_training("selection", [1.0]), ("training.selection",
                                                       "not an object")),
    "pinning_text": (_training("pinning", {"drive": "x"}), ("training.pinning.drive",
                                                            "not a finite number")),
    "pinning_null": (_training("pinning", {"drive": None}), ("training.pinning.drive",
                                                             "not a finite number")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_tmodel_values_exit_2_naming_the_key(case: str, tmp_path: Path,
                                                 take: Path) -> None:
    edit, words = CASES[case]
    model = _tmodel(tmp_path, edit)
    assert_user_error(run("info", model), *words)
    out = tmp_path / "out.wav"
    assert_user_error(run("apply", model, take, "-o", out), *words)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tmodel"]


def test_nan_literal_in_tmodel(tmp_path: Path) -> None:
    path = tmp_path / "nan.tmodel"
    path.write_text(LEARNED.read_text().replace('"drive.bias": ', '"drive.bias": NaN, "x": '))
    assert_user_error(run("info", path), "NaN", "finite")


def test_valid_tmodel_at_range_edges_applies(tmp_path: Path, take: Path) -> None:
    """out_gain_db at its maximum (60 dB) is a valid file: it loads and applies (the output is
    hot: warning about it is the apply command's job, not the loader's)."""
    model = _tmodel(tmp_path, _param("out_gain_db", 60.0), "edge.tmodel")
    out = tmp_path / "out.wav"
    res = run("apply", model, take, "-o", out, "--subtype", "FLOAT")
    assert res.exit_code == 0, res.output
    y, _ = sf.read(out)
    assert np.all(np.isfinite(y)) and np.abs(y).max() > 1.0


# ------------------------------------------------------------------------------ NAM, AIDA-X


def test_info_aidax(tmp_path: Path) -> None:
    res = run("info", AIDAX)
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    for words in ("RTNeural LSTM", "hidden size │ 8", "lstm 8 -> dense 1", "weights │ 329",
                  "input skip │ no", "output gain │ -3.0 dB", "runs at 48000 Hz"):
        assert words in out, res.output
    path = tmp_path / "m.aidax"
    doc = json.loads(AIDAX.read_text())
    path.write_text(json.dumps({**doc, "in_gain": 6.0, "samplerate": 44100}))
    out = " ".join(run("info", path).output.split())
    assert "input gain │ +6.0 dB" in out and "sample rate │ 44100 Hz" in out, out


def test_info_nam_rounds_levels(tmp_path: Path) -> None:
    doc = json.loads(NANO.read_text())
    doc["metadata"].update(loudness=-18.123456789012, gain=0.4567891234567)
    path = tmp_path / "loud.nam"
    path.write_text(json.dumps(doc))
    res = run("info", path)
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "loudness │ -18.1 dB" in out and "gain │ 0.46" in out, res.output
    assert "18.123" not in out and "0.4567" not in out


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: d.__setitem__("sample_rate", 0), ("sample_rate", "8000 .. 384000 Hz")),
    (lambda d: d["config"]["layers"][0].__setitem__("channels", 10**6),
     ("config.layers[0].channels", "1 .. 128")),
    (lambda d: d["weights"].__setitem__(3, "0.5"), ("weights[3]",)),
    (lambda d: d["metadata"].__setitem__("loudness", "loud"), ("metadata.loudness",)),
])
def test_bad_nam_exit_2(edit: Any, words: tuple, tmp_path: Path, take: Path) -> None:
    doc = json.loads(NANO.read_text())
    edit(doc)
    path = tmp_path / "bad.nam"
    path.write_text(json.dumps(doc))
    assert_user_error(run("info", path), *words, "Neural Amp Modeler")
    assert_user_error(run("apply", path, take, "-o", tmp_path / "o.wav"), *words)


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: d["layers"][0].__setitem__("shape", [None, None, 10**6]),
     ("layers[0].shape[2]", "1 .. 1024 units")),
    (lambda d: d.__setitem__("out_gain", 1e300), ("out_gain", "-60 .. 60 dB")),
    (lambda d: d.__setitem__("out_gain", "loud"), ("out_gain", "not a number")),
    (lambda d: d["layers"][1].__setitem__("activation", "tanh"),
     ("layers[1].activation", "'tanh'", "not supported")),
])
def test_bad_aidax_exit_2(edit: Any, words: tuple, tmp_path: Path, take: Path) -> None:
    doc = json.loads(AIDAX.read_text())
    edit(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    assert_user_error(run("info", path), *words, "AIDA-X")
    assert_user_error(run("apply", path, take, "-o", tmp_path / "o.wav"), *words)


def test_huge_integer_in_nam_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "big.nam"
    path.write_text(NANO.read_text().replace('"sample_rate": 48000',
                                             '"sample_rate": ' + "9" * 5000))
    assert_user_error(run("info", path), "number too long")
