"""CLI: export (nam / aidax / ir), capture-signal, and apply of a `.nam` file equal to the
source model (export -> import -> apply)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from signals import guitar_line
from tones import tone_with
from typer.testing import CliRunner

from tonemorph.cli import app
from tonemorph.export import format_for_output
from tonemorph.export.nam import nam_metadata, read_nam, write_nam
from tonemorph.neural import WaveNet
from tonemorph.neural.runner import BlockProcessor

runner = CliRunner()


def _nano(seed: int = 0) -> WaveNet:
    m = WaveNet.preset("nano")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.25)
    return m


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2) / np.mean(b ** 2)))


def test_apply_nam_equals_source_model(tmp_path: Path) -> None:
    m = _nano()
    model = tmp_path / "amp.nam"
    write_nam(model, m, nam_metadata(name="amp"))
    x = np.concatenate([guitar_line(1.0, 48000, seed=1), guitar_line(1.0, 48000, seed=2)])
    take = tmp_path / "take.wav"
    sf.write(take, x.T, 48000, subtype="FLOAT")
    out = tmp_path / "out.wav"
    res = runner.invoke(app, ["apply", str(model), str(take), "-o", str(out)])
    assert res.exit_code == 0, res.output
    y, sr = sf.read(out, dtype="float32", always_2d=True)
    assert sr == 48000 and sf.info(out).subtype == "FLOAT"
    with torch.no_grad():
        ref = m(torch.from_numpy(x)).numpy()
    assert _rel(y.T, ref) < 1e-5


def test_apply_nam_at_another_rate_keeps_rate_and_depth(tmp_path: Path) -> None:
    m = _nano(1)
    model = tmp_path / "amp.nam"
    write_nam(model, m)
    x = guitar_line(1.5, 44100, seed=3)[0]
    take = tmp_path / "take.wav"
    sf.write(take, x, 44100, subtype="PCM_24")
    out = tmp_path / "out.wav"
    res = runner.invoke(app, ["apply", str(model), str(take), "-o", str(out)])
    assert res.exit_code == 0, res.output
    y, sr = sf.read(out, dtype="float64")
    assert sr == 44100 and sf.info(out).subtype == "PCM_24" and len(y) == len(x)
    xr, _ = sf.read(take, dtype="float32")
    x48 = soxr.resample(xr, 44100, 48000, quality="HQ").astype(np.float32)
    ref = soxr.resample(BlockProcessor(m, 1).process(x48[None])[0], 48000, 44100, quality="HQ")
    n = min(len(ref), len(y))
    assert _rel(y[:n], ref[:n]) < 1e-3


def test_apply_nam_refuses_knobs_and_warns_on_newer_version(tmp_path: Path) -> None:
    model = tmp_path / "amp.nam"
    write_nam(model, _nano())
    take = tmp_path / "take.wav"
    sf.write(take, guitar_line(0.5, 48000)[0], 48000)
    res = runner.invoke(app, ["apply", str(model), str(take), "-o", str(tmp_path / "o.wav"),
                              "--drive", "3"])
    assert res.exit_code == 2 and "neural model" in res.output
    doc = json.loads(model.read_text())
    doc["version"] = "0.6.1"
    newer = tmp_path / "newer.nam"
    newer.write_text(json.dumps(doc))
    res = runner.invoke(app, ["apply", str(newer), str(take), "-o", str(tmp_path / "o.wav")])
    assert res.exit_code == 0 and "newer" in res.output
    doc["architecture"] = "Transformer"
    newer.write_text(json.dumps(doc))
    res = runner.invoke(app, ["apply", str(newer), str(take), "-o", str(tmp_path / "o2.wav")])
    assert res.exit_code == 2 and "only WaveNet and LSTM" in res.output
    assert "Traceback" not in res.output


def test_export_nam_and_ir_from_a_tmodel(tmp_path: Path) -> None:
    tone = tone_with({"drive.drive_db": 6.0, "cab.band_db": [-3.0] * 64,
                      "comp.ratio": 3.0, "comp.release_ms": 300.0},
                     stages=("drive", "cab", "comp"))
    tm = tmp_path / "tone.tmodel"
    tone.save(tm)
    nam = tmp_path / "tone.nam"
    res = runner.invoke(app, ["export", str(tm), "--format", "nam", "--arch", "nano",
                              "--minutes", "0.02", "-o", str(nam)])
    assert res.exit_code == 0, res.output
    assert "ESR" in res.output and "NAM grade" in res.output
    assert "--arch lstm" in res.output  # 300 ms release is beyond a WaveNet's 85 ms
    nf = read_nam(nam)
    assert nf.version == "0.5.4" and nf.sample_rate == 48000 and len(nf.weights) == 842
    md = nf.metadata
    assert md["gear_type"] == "amp_cab" and md["tone_type"] in ("clean", "overdrive")
    assert md["training"]["nam_grade"] in ("great", "not bad", "okay", "poor")
    assert np.isfinite(md["training"]["validation_esr"]) and np.isfinite(md["loudness"])
    ir = tmp_path / "cab.wav"
    res = runner.invoke(app, ["export", str(tm), "--format", "ir", "--sr", "44100", "-o",
                              str(ir)])
    assert res.exit_code == 0 and "2048 samples" in res.output
    assert "cabinet IR" in res.output and "all filters" not in res.output
    assert sf.info(ir).samplerate == 44100 and sf.info(ir).subtype == "FLOAT"
    res = runner.invoke(app, ["export", str(tm), "--format", "onnx", "-o", str(ir), "--force"])
    assert res.exit_code == 2 and "unknown export format" in res.output
    flac = tmp_path / "cab.flac"
    res = runner.invoke(app, ["export", str(tm), "--format", "ir", "-o", str(flac)])
    assert res.exit_code == 0 and "24-bit" in res.output, res.output
    assert sf.info(flac).subtype == "PCM_24"
    # a refused architecture: one error line, and no distillation bar was drawn before it
    res = runner.invoke(app, ["export", str(tm), "--format", "nam", "--arch", "huge",
                              "--minutes", "0.02", "-o", str(tmp_path / "x.nam")])
    assert res.exit_code == 2 and res.output.startswith("error:"), res.output
    assert "unknown architecture" in res.output and not (tmp_path / "x.nam").exists()


def test_export_format_follows_the_output_extension(tmp_path: Path) -> None:
    tone = tone_with({"cab.band_db": [-3.0] * 64}, stages=("cab",))
    tm = tmp_path / "tone.tmodel"
    tone.save(tm)
    assert [format_for_output(p) for p in ("a.nam", "b.JSON", "c.aidax", "d.wav", "e.flac")] == [
        "nam", "aidax", "aidax", "ir", "ir"]
    ir = tmp_path / "cab.wav"
    res = runner.invoke(app, ["export", str(tm), "-o", str(ir)])
    # a tone of filters only (here the cabinet alone) is its IR
    assert res.exit_code == 0 and "the whole tone as one IR" in res.output, res.output
    assert sf.info(ir).subtype == "FLOAT"
    # an extension that names no format: one line naming --format, nothing written
    odd = tmp_path / "tone.bin"
    res = runner.invoke(app, ["export", str(tm), "-o", str(odd)])
    assert res.exit_code == 2 and res.output.startswith("error:"), res.output
    assert "--format" in res.output and not odd.exists()


def test_capture_signal_command(tmp_path: Path) -> None:
    out = tmp_path / "reamp.wav"
    res = runner.invoke(app, ["capture-signal", "-o", str(out), "--sr", "44100"])
    assert res.exit_code == 0, res.output
    x, sr = sf.read(out, dtype="float64")
    assert sr == 44100 and sf.info(out).subtype == "PCM_24"
    assert 60 < len(x) / sr < 300 and np.max(np.abs(x)) <= 10 ** (-1 / 20) + 1e-4
    assert "blips at 0.50, 1.00" in res.output
    # refused before any work, with what to use instead of the listing of every codec
    for args, says in ((["-o", str(tmp_path / "a.wav"), "--subtype", "PCM_8"], "PCM_16, PCM_24"),
                       (["-o", str(tmp_path / "a.mp3")], "losslessly"),
                       (["-o", str(tmp_path / "a.xyz")], "cannot tell the audio format"),
                       (["-o", str(tmp_path / "a.flac"), "--subtype", "FLOAT"],
                        "--subtype PCM_16 or PCM_24")):
        res = runner.invoke(app, ["capture-signal", *args])
        assert res.exit_code == 2 and says in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reamp.wav"]


def test_export_without_cab_is_an_amp(tmp_path: Path) -> None:
    from tonemorph.api import export_tone

    tone = tone_with({"drive.drive_db": 6.0, "cab.band_db": [-3.0] * 64},
                     stages=("drive", "cab"))
    s = export_tone(tone, tmp_path / "amp.nam", "nam", arch="nano", seconds=None, steps=2,
                    without_cab=True)
    nf = read_nam(tmp_path / "amp.nam")
    assert nf.metadata["gear_type"] == "amp" and s.steps == 2 and len(nf.weights) == 842


def test_a_tone_of_filters_points_its_neural_export_to_the_ir(tmp_path: Path) -> None:
    tone = tone_with({"cab.band_db": list(np.linspace(3.0, -20.0, 64)), "pre_eq.mid_db": 4.0},
                     stages=("pre_eq", "cab"))
    tm = tmp_path / "tone.tmodel"
    tone.save(tm)
    nam = tmp_path / "tone.nam"
    res = runner.invoke(app, ["export", str(tm), "--arch", "nano", "--minutes", "0.02", "-o",
                              str(nam)])
    assert res.exit_code == 0, res.output
    assert "all filters" in res.output and "tone_ir.wav" in res.output
    # without its cabinet nothing is left to distil: refused, in one line, nothing written
    amp = tmp_path / "amp.nam"
    res = runner.invoke(app, ["export", str(tm), "--without-cab", "--arch", "nano",
                              "--minutes", "0.02", "-o", str(amp)])
    assert res.exit_code == 2 and res.output.startswith("error:"), res.output
    assert "export it whole as an IR" in res.output and not amp.exists()


def test_info_shows_a_nam_file() -> None:
    data = Path(__file__).parent / "data" / "golden_nano.nam"
    res = runner.invoke(app, ["info", str(data)])
    assert res.exit_code == 0, res.output
    assert "WaveNet" in res.output and "842" in res.output and "0.5.4" in res.output


def test_an_aidax_export_counts_the_weights_its_file_holds(tmp_path: Path) -> None:
    # torch keeps two LSTM bias vectors, the file one (their sum): `info` reads the file
    from tonemorph.api import export_tone
    from tonemorph.export.aidax import read_aidax_file

    tone = tone_with({"drive.drive_db": 6.0}, stages=("drive",))
    s = export_tone(tone, tmp_path / "amp.json", "aidax", arch="lstm-8", seconds=None, steps=2)
    assert s.weights == read_aidax_file(tmp_path / "amp.json").num_weights
    assert s.weights == 4 * 8 * (1 + 8 + 1) + 8 + 1  # kernels, one bias, the dense layer


@pytest.mark.parametrize(("out", "args", "flag"), [
    ("ir.wav", ("--without-cab",), "--without-cab"),
    ("ir.wav", ("--arch", "nano"), "--arch"),
    ("ir.wav", ("--minutes", "1"), "--minutes"),
    ("ir.wav", ("--name", "amp"), "--name"),
    ("ir.wav", ("--modeled-by", "me"), "--modeled-by"),
    ("ir.wav", ("--seed", "3"), "--seed"),
    ("amp.nam", ("--post-eq",), "--post-eq"),
    ("amp.json", ("--post-eq",), "--post-eq"),
    ("bundles", ("--format", "plugin", "--without-cab"), "--without-cab"),
    ("bundles", ("--format", "plugin", "--arch", "nano"), "--arch"),
    ("bundles", ("--format", "plugin", "--sr", "44100"), "--sr"),
])
def test_export_refuses_options_of_other_formats(tmp_path: Path, out: str, args: tuple,
                                                 flag: str) -> None:
    """--without-cab wrote the cabinet IR anyway and --post-eq was ignored by a .nam export:
    an option that does not apply to the format is one error line, nothing written."""
    tone = tone_with({"drive.drive_db": 6.0}, stages=("drive", "post_eq", "cab"))
    tm = tmp_path / "tone.tmodel"
    tone.save(tm)
    res = runner.invoke(app, ["export", str(tm), "-o", str(tmp_path / out), *args])
    assert res.exit_code == 2 and res.output.startswith("error:"), res.output
    line = " ".join(res.output.split())
    assert f"{flag} does not apply" in line and "leave it out" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tone.tmodel"]


def test_export_tone_refuses_options_of_other_formats(tmp_path: Path) -> None:
    from tonemorph.api import export_tone
    from tonemorph.errors import ParameterError

    tone = tone_with({"drive.drive_db": 6.0}, stages=("drive", "post_eq", "cab"))
    with pytest.raises(ParameterError, match="IR export is the cabinet") as err:
        export_tone(tone, tmp_path / "ir.wav", "ir", without_cab=True)
    assert err.value.option == "without_cab"
    with pytest.raises(ParameterError, match="post-EQ applies to an IR export") as err:
        export_tone(tone, tmp_path / "amp.nam", "nam", post_eq=True, steps=1, seconds=None)
    assert err.value.option == "post_eq"
    assert list(tmp_path.iterdir()) == []
