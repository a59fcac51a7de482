"""Validation of `.tmodel` documents on load (`tonemorph.model.check_tone_document`): files the
learner and paired capture write load unchanged, edge values included; every invalid value is a
ModelFileError naming its key path and the allowed range with units."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import tonemorph
from tonemorph.chain.chain import ChainConfig, ToneChain
from tonemorph.errors import ModelFileError
from tonemorph.io.validate import MAX_MODEL_FILE_BYTES
from tonemorph.model import Tone

DATA = Path(__file__).parent / "data"
LEARNED = DATA / "learned_fast.tmodel"  # `tonemorph learn --quality fast` (unpaired)
PAIRED = DATA / "paired_greybox.tmodel"  # `learn_paired(steps=30)`
SR = 48000


def _doc(path: Path = LEARNED) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _write(tmp_path: Path, doc: Any, name: str = "t.tmodel") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _refused(tmp_path: Path, doc: Any, *words: str) -> str:
    with pytest.raises(ModelFileError) as err:
        tonemorph.load(_write(tmp_path, doc))
    msg = str(err.value)
    for w in words:
        assert w in msg, msg
    assert "re-learn the tone or fix the file" in msg or "tonemorph" in msg, msg
    return msg


def _signal() -> np.ndarray:
    return (0.2 * np.random.default_rng(0).standard_normal(4800)).astype(np.float32)


# ----------------------------------------------------------------------- what we write loads


@pytest.mark.parametrize("path", [LEARNED, PAIRED], ids=["unpaired", "paired"])
def test_learned_files_load_unchanged(path: Path) -> None:
    doc = _doc(path)
    tone = tonemorph.load(path)
    assert tone.parameters == doc["parameters"]  # values exactly as stored
    assert tone.input_gain_db == doc["input_gain_db"]
    assert tone.training == doc["training"]
    assert tone.config.stages == tuple(doc["chain"]["stages"])
    y = tone.apply(_signal(), SR)
    assert y.shape == (4800,) and np.all(np.isfinite(y)) and np.std(y) > 1e-4


@pytest.mark.parametrize("raw", [60.0, -60.0, 800.0, -800.0])
def test_values_learned_at_the_range_edges_load(tmp_path: Path, raw: float) -> None:
    """A saturated sigmoid puts a value at its bound; through exp/log it may land one rounding
    step outside (e.g. release 4.999999999999999 ms), and must still load."""
    chain = ToneChain(ChainConfig())
    with torch.no_grad():
        for p in chain.raw.values():
            p.fill_(raw)
    tone = Tone.from_chain(chain, 0.0, {})
    tone.save(tmp_path / "edge.tmodel")
    back = tonemorph.load(tmp_path / "edge.tmodel")
    assert back.parameters == tone.parameters
    assert np.all(np.isfinite(back.apply(_signal(), SR)))


def test_clamped_values_at_exact_bounds_load(tmp_path: Path) -> None:
    doc = _doc()
    chain = ToneChain(ChainConfig())
    doc["chain"]["stages"] = list(chain.cfg.stages)  # every stage, at both bounds
    for s in chain.specs:
        doc["parameters"][s.name] = [s.range.hi] * s.size if s.size > 1 else s.range.hi
    doc["input_gain_db"] = 120.0
    assert np.all(np.isfinite(tonemorph.load(_write(tmp_path, doc)).apply(_signal(), SR)))
    for s in chain.specs:
        doc["parameters"][s.name] = [s.range.lo] * s.size if s.size > 1 else s.range.lo
    doc["input_gain_db"] = -120
    assert np.all(np.isfinite(tonemorph.load(_write(tmp_path, doc)).apply(_signal(), SR)))


def test_integral_floats_and_unknown_top_level_keys_are_taken(tmp_path: Path) -> None:
    doc = _doc()
    doc["chain"]["sample_rate"] = 48000.0
    doc["notes"] = {"by": "hand"}
    doc["units"]["something_else"] = "furlongs"  # units of other names are not ours to judge
    assert tonemorph.load(_write(tmp_path, doc)).config.sample_rate == 48000


# --------------------------------------------------------------------------- refusals


def _set(doc: dict, path: str, value: Any) -> None:
    """Set doc[a][b]... for 'a/b/...' (parameter names keep their dots)."""
    *parents, last = path.split("/")
    for k in parents:
        doc = doc[k]
    doc[last] = value


@pytest.mark.parametrize(("path", "value", "words"), [
    ("chain/sample_rate", 0, ("chain.sample_rate", "8000 .. 384000 Hz")),
    ("chain/sample_rate", 44100.5, ("chain.sample_rate", "whole number")),
    ("chain/sample_rate", "48000", ("chain.sample_rate", "not a whole number")),
    ("chain/sample_rate", True, ("chain.sample_rate", "true")),
    ("input_gain_db", 1e308, ("input_gain_db", "-120 .. 120 dB")),
    ("input_gain_db", 10**400, ("input_gain_db", "about 401 digits")),
    ("input_gain_db", None, ("input_gain_db", "not a number")),
    ("chain/cab_taps", 1e12, ("chain.cab_taps", "16 .. 32768 taps")),
    ("chain/cab_taps", 2048.5, ("chain.cab_taps", "whole number")),
    ("chain/cab_taps", 16384, ("chain.cab_taps", "more than chain.cab_fft")),
    ("chain/cab_fft", 8000, ("chain.cab_fft", "power of two")),
    ("chain/cab_bands", 10**6, ("chain.cab_bands", "2 .. 256 bands")),
    ("chain/stages", ["drive", "drive"], ("chain.stages", "twice")),
    ("chain/stages", ["drive", 3], ("chain.stages[1]",)),
    ("chain/oversample", 4, ("chain", "oversample", "newer tonemorph")),
    ("parameters/out_gain_db", 1e300, ("parameters.out_gain_db", "-60 .. 60 dB")),
    ("parameters/out_gain_db", 60.5, ("parameters.out_gain_db", "-60 .. 60 dB")),
    ("parameters/out_gain_db", True, ("parameters.out_gain_db", "not a number")),
    ("parameters/out_gain_db", [1.0], ("parameters.out_gain_db", "not a number")),
    ("parameters/comp.attack_ms", -5.0, ("parameters.comp.attack_ms", "0.3 .. 200 ms")),
    ("parameters/comp.ratio", 0, ("parameters.comp.ratio", "1:1 .. 20:1")),
    ("parameters/drive.drive_db", 60.0, ("parameters.drive.drive_db", "-24 .. 54 dB")),
    ("parameters/drive.bias", "0.1", ("parameters.drive.bias", "not a number")),
    ("parameters/pre_eq.mid_q", 0.0, ("parameters.pre_eq.mid_q", "0.3 .. 6")),
    ("parameters/cab.band_db", [0.0] * 3, ("parameters.cab.band_db", "needs 64")),
    ("parameters/cab.band_db", [0.0] * 63 + [31.0], ("parameters.cab.band_db[63]",
                                                     "-40 .. 30 dB")),
    ("parameters/cab.band_db", [0.0] * 63 + [None], ("parameters.cab.band_db[63]",)),
    ("parameters/cab.band_db", 0.0, ("parameters.cab.band_db",)),
    ("parameters/drive.dirve_db", 3.0, ("parameters", "drive.dirve_db")),
    ("units/out_gain_db", "V", ("units.out_gain_db", "'V'")),
    ("training", [], ("training", "not an object")),
    ("training/loss", "low", ("training.loss", "not a finite number")),
    ("training/input", "x.wav", ("training.input", "not an object")),
    ("training/warnings", 3, ("training.warnings", "not a list")),
    ("training/simplified", "sag", ("training.simplified", "not a list")),
    ("training/held_for_levels", [3], ("training.held_for_levels[0]", "not a string")),
    ("training/drive_held_db", "24", ("training.drive_held_db", "not a finite number")),
    ("training/selection", "x", ("training.selection", "not an object")),
    ("training/selection", [1.0], ("training.selection", "not an object")),
    ("training/selection", {"linear": "2.5"}, ("training.selection.linear",
                                                "not a finite number")),
    ("training/pinning", 0.3, ("training.pinning", "not an object")),
    ("training/pinning", {"drive": "x"}, ("training.pinning.drive", "not a finite number")),
    ("training/pinning", {"drive": None}, ("training.pinning.drive", "not a finite number")),
    ("training/interrupted", "no", ("training.interrupted", "true or false")),
    ("created", 5, ("created", "not a string")),
])
def test_invalid_values_are_refused_by_key_path(tmp_path: Path, path: str, value: Any,
                                                words: tuple[str, ...]) -> None:
    doc = _doc()
    _set(doc, path, value)
    _refused(tmp_path, doc, *words)


def test_missing_keys_name_the_key(tmp_path: Path) -> None:
    for key in ("chain", "parameters", "input_gain_db"):
        doc = _doc()
        del doc[key]
        _refused(tmp_path, doc, key, "missing", "damaged or incomplete")
    doc = _doc()
    del doc["chain"]["cab_fft"]
    _refused(tmp_path, doc, "chain.cab_fft", "missing")
    doc = _doc()
    del doc["parameters"]["comp.ratio"]
    _refused(tmp_path, doc, "lacks parameters", "comp.ratio")


def test_frequencies_must_lie_below_nyquist(tmp_path: Path) -> None:
    doc = _doc()
    doc["chain"]["sample_rate"] = 8000
    assert tonemorph.load(_write(tmp_path, doc)).config.sample_rate == 8000  # all below 4 kHz
    doc["parameters"]["post_eq.high_hz"] = 5000.0
    _refused(tmp_path, doc, "parameters.post_eq.high_hz", "5000 Hz", "half the sample rate",
             "4000 Hz")


def test_non_finite_anywhere_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "inf.tmodel"
    text = json.dumps(_doc()).replace('"loss": ', '"loss": 1e999, "was": ', 1)
    path.write_text(text)
    with pytest.raises(ModelFileError, match=r"training\.loss is Infinity"):
        tonemorph.load(path)
    for literal in ("NaN", "Infinity", "-Infinity"):
        path.write_text(json.dumps(_doc()).replace('"trim_db": ', f'"trim_db": {literal}, "x": '))
        with pytest.raises(ModelFileError, match=f"literal {literal}.*finite"):
            tonemorph.load(path)


def test_json_bombs_are_clean_errors(tmp_path: Path) -> None:
    path = tmp_path / "digits.tmodel"
    path.write_text(json.dumps(_doc()).replace('"input_gain_db": ',
                                               '"input_gain_db": ' + "9" * 5000 + ", \"x\": "))
    with pytest.raises(ModelFileError, match="not JSON"):
        tonemorph.load(path)
    path = tmp_path / "deep.tmodel"
    doc = _doc()
    path.write_text(json.dumps(doc)[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ModelFileError, match="not JSON"):
        tonemorph.load(path)
    nested: Any = []
    for _ in range(900):  # deep but within the parser's limit: the checks must not recurse
        nested = [nested]
    doc["training"]["deep"] = nested
    doc["training"]["deep_inf"] = [[["INF"]]]
    path.write_text(json.dumps(doc).replace('"INF"', "1e999"))  # parses to inf, no literal
    with pytest.raises(ModelFileError, match=r"training\.deep_inf\[0\]\[0\]\[0\]"):
        tonemorph.load(path)


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.tmodel"
    with open(path, "wb") as fh:
        fh.truncate(MAX_MODEL_FILE_BYTES + 1)  # sparse: nothing is written or read
    with pytest.raises(ModelFileError, match="too large"):
        tonemorph.load(path)
    os.unlink(path)


def test_foreign_kind_is_named(tmp_path: Path) -> None:
    doc = _doc()
    doc["kind"] = 10**400
    with pytest.raises(ModelFileError, match="about 401 digits.*not a tone"):
        tonemorph.load(_write(tmp_path, doc))
