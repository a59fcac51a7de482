"""`tonemorph master` on the command line: a run prints what changed and writes the report;
every bad input exits 2 with one line and leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from master_music import dense, stereo_music
from typer.testing import CliRunner

from tonemorph.cli import app

SR = 16000
runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result, *words: str) -> str:
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out
    lines = [ln for ln in out.splitlines() if ln.strip().lower().startswith("error")]
    assert len(lines) == 1, out
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("mcli")
    sf.write(d / "mix.wav", stereo_music(8.0, SR, seed=1, peak=0.3).T, SR, subtype="PCM_24")
    sf.write(d / "ref.wav", dense(stereo_music(11.0, SR, seed=2), SR).T, SR, subtype="PCM_16")
    return d


def test_master_prints_a_table_and_writes_a_report(d: Path) -> None:
    res = run("master", d / "mix.wav", "--reference", d / "ref.wav", "-o", d / "out.wav",
              "--report", d / "report.json", "--amount", "0.8", "--only",
              "eq,loudness,dynamics", "--mono-bass", "100")
    assert res.exit_code == 0, res.output
    for word in ("loudness", "true peak", "EQ mid", "limiter", "wrote"):
        assert word in res.output
    doc = json.loads((d / "report.json").read_text())
    assert doc["amount"] == 0.8 and doc["matched"] == ["dynamics", "eq", "loudness"]
    assert sf.info(d / "out.wav").subtype == "PCM_24"
    res = run("master", d / "mix.wav", "--reference", d / "ref.wav", "-o", d / "out16.flac",
              "--subtype", "PCM_16")
    assert res.exit_code == 0, res.output
    assert sf.info(d / "out16.flac").subtype == "PCM_16"


def _bad(kind: str, d: Path) -> tuple[Path, tuple[str, ...]]:
    p = d / f"bad_{kind}.wav"
    if kind == "missing":
        return p, ("not found",)
    if kind == "corrupt":
        p.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
        return p, ("cannot be decoded",)
    if kind == "text":
        p.write_text("not audio\n" * 50)
        return p, ("text file",)
    if kind == "empty":
        p.write_bytes(b"")
        return p, ()
    if kind == "silent":
        sf.write(p, np.zeros((12 * SR, 2)), SR)
        return p, ("silent",)
    if kind == "nan":
        x = stereo_music(12.0, SR, seed=3)
        x[:, 5000:5010] = np.nan
        sf.write(p, x.T, SR, subtype="FLOAT")
        return p, ("nan",)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing", "corrupt", "text", "empty", "silent", "nan"])
@pytest.mark.parametrize("role", ["mix", "reference"])
def test_bad_audio(d: Path, kind: str, role: str) -> None:
    bad, words = _bad(kind, d)
    files = {"mix": d / "mix.wav", "reference": d / "ref.wav", role: bad}
    out = d / f"never_{kind}_{role}.wav"
    line = one_error_line(run("master", files["mix"], "--reference", files["reference"], "-o",
                              out), *words)
    assert role in line
    assert not out.exists()
    assert not [p for p in d.iterdir() if p.name.endswith(".part")]


def test_short_reference_and_bad_options(d: Path) -> None:
    short = d / "short.wav"
    sf.write(short, dense(stereo_music(6.0, SR, seed=4), SR).T, SR)
    out = d / "never.wav"
    base = ("master", d / "mix.wav", "--reference", d / "ref.wav", "-o", out)
    one_error_line(run("master", d / "mix.wav", "--reference", short, "-o", out),
                   "at least 10 s")
    one_error_line(run(*base, "--amount", "2"), "amount")
    one_error_line(run(*base, "--only", "eq,reverb"), "only")
    one_error_line(run(*base, "--phase", "mixed"), "phase")
    one_error_line(run(*base, "--ceiling", "3"), "ceiling")
    one_error_line(run(*base, "--mono-bass", "5"), "mono bass")
    one_error_line(run(*base, "--subtype", "VORBIS"), "subtype")
    one_error_line(run(*base, "--amount", "eq=0.5,eq=1"), "'eq' twice")
    one_error_line(run("master", d / "mix.wav", "--reference", f"{d / 'ref.wav'}:abc", "-o",
                       out), "weight must be a positive number, got 'abc'", "(--reference)")
    one_error_line(run("master", d / "mix.wav", "--reference", d / "ref.wav", "-o",
                       d / "mix.wav"), "overwrite")
    one_error_line(run("master", d / "mix.wav", "--reference", d / "ref.wav", "-o",
                       d / "nope" / "o.wav"), "does not exist")
    assert not out.exists()


def test_master_weighted_references_aspect_amounts_preset_and_html(d: Path) -> None:
    sf.write(d / "ref2.wav", dense(stereo_music(11.0, SR, seed=3), SR).T, SR, subtype="PCM_16")
    res = run("master", d / "mix.wav", "--reference", d / "ref.wav", "--reference",
              f"{d / 'ref2.wav'}:0.5", "-o", d / "out2.wav", "--amount", "eq=0.5,dynamics=1",
              "--target", "streaming", "--ceiling", "-2", "--report", d / "master.html",
              "--force")
    assert res.exit_code == 0, res.output
    assert "ref2.wav" in res.output
    # the preset's ceiling replaced: said (its loudness is kept)
    assert "note: ceiling -2 dBTP given with the streaming preset" in res.output
    assert "loudness -14 LUFS given" not in res.output
    page = (d / "master.html").read_text()
    doc = json.loads(page.split('id="report-data">')[1].split("</script>")[0])
    assert doc["target_lufs"] == -14.0
    assert doc["amounts"]["eq"] == 0.5 and doc["amounts"]["dynamics"] == 1.0
    # both references named, without their weights (the title named "ref.wav:0.67" alone)
    assert "<title>tonemorph master: mix.wav mastered to ref.wav + ref2.wav</title>" in page
    one_error_line(run("master", d / "mix.wav", "--reference", d / "ref.wav", "-o",
                       d / "o3.wav", "--target", "vinyl"), "streaming")
    one_error_line(run("master", d / "mix.wav", "--reference", d / "ref.wav", "-o",
                       d / "o3.wav", "--amount", "reverb=1"), "reverb")


def test_every_master_command_line_in_the_readme_parses() -> None:
    # "--album b.wav c.wav" failed: an option takes one value, repeated for more
    import shlex

    import typer

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    lines = [ln.split("#")[0] for ln in readme.splitlines() if ln.startswith("tonemorph master ")]
    assert len(lines) >= 8 and any("--album" in ln for ln in lines)
    group = typer.main.get_command(app)
    master = group.get_command(group.context_class(group), "master")
    for line in lines:
        with master.make_context("master", shlex.split(line)[2:]) as ctx:
            assert ctx.params["mix"] and ctx.params["reference"], line
