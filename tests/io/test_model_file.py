"""Tests of tonemorph.io.model_file: the versioned JSON model document."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from tonemorph.errors import ModelFileError, OutputPathError, TonemorphError
from tonemorph.io import model_file, paths
from tonemorph.io.model_file import (
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    load_model_document,
    save_model_document,
)

GOLDEN_V1 = Path(__file__).parent / "data" / "model_envelope_v1.json"


def _doc() -> dict[str, Any]:
    """A small model document body."""
    return {"sample_rate": 48_000, "stages": [{"kind": "gain", "gain_db": -3.5}], "name": "é"}


def _write_json(path: Path, value: Any) -> Path:
    """Write `value` as JSON to `path` with the standard library only."""
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def test_constants() -> None:
    assert MODEL_FORMAT == "tonemorph-model"
    assert MODEL_FORMAT_VERSION == 1


def test_round_trip_adds_format_keys(tmp_path: Path) -> None:
    path = tmp_path / "tone.json"
    doc = _doc()
    save_model_document(path, doc)
    assert "format" not in doc  # the caller's dict is not changed
    loaded = load_model_document(path)
    assert loaded == {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, **doc}


def test_saved_text_is_pretty_json_read_independently(tmp_path: Path) -> None:
    path = tmp_path / "tone.json"
    save_model_document(path, _doc())
    text = path.read_text(encoding="utf-8")
    assert text.startswith('{\n  "format": "tonemorph-model",\n  "format_version": 1,\n')
    assert text.endswith("}\n")
    raw = json.loads(text)
    assert list(raw)[:2] == ["format", "format_version"]
    assert raw["stages"][0]["gain_db"] == -3.5


def test_caller_cannot_override_the_format_keys(tmp_path: Path) -> None:
    path = tmp_path / "tone.json"
    save_model_document(path, {"format": "other", "format_version": 99, "x": 1})
    assert load_model_document(path) == {"format": MODEL_FORMAT, "format_version": 1, "x": 1}


def test_golden_v1_file_loads_and_saves_identically(tmp_path: Path) -> None:
    doc = load_model_document(GOLDEN_V1)
    assert doc["format_version"] == 1
    assert doc["payload"]["values"] == [0.5, -0.00125, 3]
    body = {k: v for k, v in doc.items() if k not in ("format", "format_version")}
    save_model_document(tmp_path / "again.json", body)
    assert (tmp_path / "again.json").read_bytes() == GOLDEN_V1.read_bytes()


def test_saved_file_gets_normal_permissions(tmp_path: Path) -> None:
    save_model_document(tmp_path / "tone.json", _doc())
    mode = (tmp_path / "tone.json").stat().st_mode & 0o777
    assert mode == 0o666 & ~paths._umask()


# --------------------------------------------------------------------------- save errors


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.float64("-inf")])
def test_save_refuses_non_finite_values_and_keeps_the_old_file(tmp_path: Path, bad: float) -> None:
    path = tmp_path / "tone.json"
    save_model_document(path, _doc())
    before = path.read_bytes()
    doc = _doc()
    doc["stages"][0]["gain_db"] = bad
    with pytest.raises(ModelFileError, match=r"\$\.stages\[0\]\.gain_db") as err:
        save_model_document(path, doc)
    assert isinstance(err.value, TonemorphError)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tone.json"]


def test_save_refuses_values_json_cannot_store(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot be stored as JSON"):
        save_model_document(tmp_path / "tone.json", {"weights": np.zeros(3)})
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_a_non_dict(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="must be a dict"):
        save_model_document(tmp_path / "tone.json", [1, 2])  # type: ignore[arg-type]


def test_save_into_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match="does not exist"):
        save_model_document(tmp_path / "nope" / "tone.json", _doc())


def test_save_failure_at_rename_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(paths.os, "replace", refuse)
    with pytest.raises(OutputPathError, match="(?i)permission denied"):
        save_model_document(tmp_path / "tone.json", _doc())
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_save_interrupted_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(model_file.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_model_document(tmp_path / "tone.json", _doc())
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- load errors


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"model file .*nope\.json not found"):
        load_model_document(tmp_path / "nope.json")


def test_load_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="is a directory"):
        load_model_document(tmp_path)


def test_a_device_or_pipe_is_no_model_file(tmp_path: Path) -> None:
    # read whole, /dev/zero grew until the OOM killer and a pipe with no writer never ended;
    # every model reader (tone, .nam, AIDA-X) is refused before it reads
    from tonemorph.export.aidax import read_aidax_file
    from tonemorph.export.nam import read_nam

    zero = tmp_path / "z.tmodel"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "f.json"
    os.mkfifo(fifo)
    for path in (zero, fifo):
        for read in (load_model_document, read_aidax_file, read_nam):
            with pytest.raises(ModelFileError, match="not a regular file|is not a file"):
                read(path)


def test_load_audio_file_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    sf.write(path, np.zeros((100, 1)), 48_000)
    with pytest.raises(
        ModelFileError,
        match=r"x\.wav is not a tonemorph model \(not JSON; it looks like an audio file\); ",
    ):
        load_model_document(path)


@pytest.mark.parametrize("content", [b"hello, world", b"\x00\xff\xfe\x10" * 10, b"", b'{"a": '])
def test_load_other_bytes_is_not_json(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=r"x\.json is not a tonemorph model \(not JSON\); "):
        load_model_document(path)


def test_load_json_that_is_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not an object"):
        load_model_document(_write_json(tmp_path / "x.json", [1, 2, 3]))


def test_load_neural_amp_modeler_file(tmp_path: Path) -> None:
    nam = {
        "version": "0.5.2",
        "architecture": "WaveNet",
        "config": {"layers": []},
        "weights": [0.1, 0.2],
        "sample_rate": 48000,
    }
    path = _write_json(tmp_path / "amp.nam", nam)
    with pytest.raises(ModelFileError, match=r"amp\.nam is a Neural Amp Modeler model: apply and "
                       r"info play it, but this needs a tonemorph tone; pass the \.tmodel"):
        load_model_document(path)


def test_load_other_format(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "x.json", {"format": "something-else", "format_version": 1})
    with pytest.raises(ModelFileError, match="format 'something-else', expected 'tonemorph-model'"):
        load_model_document(path)


def test_load_without_format_key(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "x.json", {"format_version": 1, "stages": []})
    with pytest.raises(ModelFileError, match=r"no 'format' key"):
        load_model_document(path)


def test_load_future_version(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "x.json", {"format": MODEL_FORMAT, "format_version": 3})
    with pytest.raises(
        ModelFileError,
        match=r"x\.json has model format version 3, newer than this tonemorph supports "
        r"\(1\); upgrade tonemorph$",
    ):
        load_model_document(path)


@pytest.mark.parametrize("version", [0, -1, 1.5, 1.0, "1", True, None, [1]])
def test_load_invalid_version(tmp_path: Path, version: object) -> None:
    path = _write_json(tmp_path / "x.json", {"format": MODEL_FORMAT, "format_version": version})
    with pytest.raises(ModelFileError, match="invalid model format version"):
        load_model_document(path)


def test_load_missing_version(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "x.json", {"format": MODEL_FORMAT})
    with pytest.raises(ModelFileError, match="invalid model format version None"):
        load_model_document(path)


def test_load_refuses_nan_literals(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"format": "tonemorph-model", "format_version": 1, "g": NaN}')
    with pytest.raises(ModelFileError, match="not JSON"):
        load_model_document(path)


def test_load_accepts_a_utf8_bom(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(
        b"\xef\xbb\xbf" + json.dumps({"format": MODEL_FORMAT, "format_version": 1}).encode()
    )
    assert load_model_document(path)["format_version"] == 1


def test_load_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "tone.json"
    save_model_document(path, _doc())
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read any file")
        with pytest.raises(ModelFileError, match="cannot be read"):
            load_model_document(path)
    finally:
        path.chmod(0o644)


def test_a_model_is_not_saved_under_an_audio_file_name(tmp_path: Path) -> None:
    # overwrite is the API's default: a slip of the extension would replace a take
    take = tmp_path / "take.wav"
    take.write_bytes(b"RIFF....WAVE")
    with pytest.raises(OutputPathError, match="audio file name; save the tone as .tmodel"):
        save_model_document(take, {"x": 1})
    assert take.read_bytes() == b"RIFF....WAVE"
