"""The HTML report end to end: parsed with html.parser (sections, PNGs, decodable and
loudness-matched audio, no external references), its embedded curve data against scipy and
closed forms, file safety, the CLI, and one render in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import shutil
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import soundfile as sf
import torch
from PIL import Image
from signals import brick_wall, guitar_line
from tones import CRUNCH, SR, chain_with, render, tone_with
from typer.testing import CliRunner

from tonemorph.cli import app
from tonemorph.dsp.loudness import ATTACKS_FLOOR_DB
from tonemorph.errors import OutputPathError, ParameterError
from tonemorph.learn.fit import LearnResult
from tonemorph.pages.measures import short_term_levels_db
from tonemorph.report import SECTIONS, build_report, chain_blocks
from tonemorph.report.build import _drive_input_peak
from tonemorph.report.html import _attacks_warning

EXCERPT_S = 3.0
SECONDS = 8.0


class _Page(HTMLParser):
    """Collects section ids, every URL-bearing attribute, images, audio and the data block."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.urls: list[tuple[str, str, str]] = []
        self.images: list[str] = []
        self.audio: dict[str, str] = {}
        self.scripts: list[tuple[dict, str]] = []
        self._script: dict | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id", ""))
        for k in ("src", "href", "srcset", "poster", "data", "action"):
            if k in a:
                self.urls.append((tag, k, a[k] or ""))
        if tag == "img":
            self.images.append(a["src"])
        if tag == "audio":
            self.audio[a["id"].removeprefix("audio-")] = a["src"]
        if tag == "script":
            self._script = a
            self.scripts.append((a, ""))
        if tag in ("link", "iframe", "object", "embed", "base"):
            self.urls.append((tag, "tag", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            a, text = self.scripts[-1]
            self.scripts[-1] = (a, text + data)
        else:
            self.text.append(data)


def _parse(path: Path) -> tuple[_Page, str]:
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    return page, text


def _decode(uri: str) -> tuple[str, bytes]:
    m = re.fullmatch(r"data:([\w/+.-]+);base64,([A-Za-z0-9+/=]+)", uri)
    assert m, uri[:80]
    return m.group(1), base64.b64decode(m.group(2), validate=True)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One report of a full crunch chain on short generated takes (input != target notes)."""
    d = tmp_path_factory.mktemp("report")
    tone = tone_with(CRUNCH, input_gain_db=2.0)
    model = d / "crunch.tmodel"
    tone.save(model)
    inp = d / "di.wav"
    sf.write(inp, guitar_line(SECONDS, 44100, seed=1)[0], 44100, subtype="PCM_24")
    tgt = d / "ref.flac"
    other_notes = guitar_line(SECONDS, SR, seed=2) * np.float32(10 ** (2.0 / 20))
    sf.write(tgt, render(chain_with(CRUNCH), other_notes)[0], SR)
    out = d / "report.html"
    res = build_report(model, inp, tgt, out, excerpt_s=EXCERPT_S)
    page, text = _parse(out)
    return {"dir": d, "tone": tone, "model": model, "input": inp, "target": tgt, "out": out,
            "res": res, "page": page, "text": text,
            "data": json.loads(next(t for a, t in page.scripts
                                    if a.get("type") == "application/json"))}


def test_every_section_present_in_order(full: dict) -> None:
    assert full["page"].sections == list(SECTIONS)
    assert full["res"].size_bytes == full["out"].stat().st_size


def test_every_image_is_a_decodable_png(full: dict) -> None:
    imgs = full["page"].images
    assert len(imgs) == 5  # eq, shaper, dynamics, spectra, loudness
    for uri in imgs:
        mime, payload = _decode(uri)
        assert mime == "image/png" and payload.startswith(b"\x89PNG\r\n\x1a\n")
        im = Image.open(io.BytesIO(payload))
        im.load()
        px = np.asarray(im.convert("L"), dtype=float)
        assert im.width > 300 and im.height > 200 and px.std() > 5  # a figure, not a blank


def test_audio_players_decode_loudness_matched_at_the_right_length(full: dict) -> None:
    audio = full["page"].audio
    assert set(audio) == {"input", "output", "target"}
    meter = pyloudnorm.Meter(SR)
    lufs = []
    for uri in audio.values():
        mime, payload = _decode(uri)
        assert mime == "audio/flac"
        y, rate = sf.read(io.BytesIO(payload))
        assert rate == SR and y.ndim == 1
        assert len(y) == round(EXCERPT_S * SR)
        assert np.max(np.abs(y)) <= 10 ** (-1 / 20) + 1e-4  # headroom: never clipped
        lufs.append(meter.integrated_loudness(y))
    assert max(lufs) - min(lufs) < 0.05, lufs
    assert np.mean(lufs) == pytest.approx(full["data"]["excerpt_lufs"], abs=0.05)


def test_output_player_is_the_input_excerpt_through_the_tone(full: dict) -> None:
    ex = full["data"]["excerpts"]
    assert ex["input"]["start_s"] == ex["output"]["start_s"]
    _, pin = _decode(full["page"].audio["input"])
    _, pout = _decode(full["page"].audio["output"])
    x, _ = sf.read(io.BytesIO(pin))
    y, _ = sf.read(io.BytesIO(pout))
    # same notes: the processed excerpt correlates with the tone applied to the input excerpt
    ref = full["tone"].apply(x.astype(np.float32), SR)
    c = np.corrcoef(ref[SR // 2:], y[SR // 2:])[0, 1]
    assert c > 0.9


def test_no_external_references(full: dict) -> None:
    page, text = full["page"], full["text"]
    for tag, attr, url in page.urls:
        assert attr != "tag", f"<{tag}> is not allowed in a self-contained page"
        if attr == "href":
            assert url.startswith("#"), url
        else:
            assert url.startswith("data:"), (tag, attr, url[:60])
    without_data = re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "", text)
    assert "http" not in without_data.lower()
    assert "url(" not in without_data and "@import" not in without_data
    for attrs, _ in page.scripts:
        assert "src" not in attrs


def test_chain_blocks_show_knobs_in_units(full: dict) -> None:
    blocks = {b.key: dict(b.rows) for b in chain_blocks(full["tone"])}
    assert list(blocks) == ["trim", "pre_eq", "sag", "drive", "post_eq", "cab", "comp",
                            "limit", "output"]
    # off: the tone sets no limit (its neutral, held 1 % inside the range's edge)
    assert blocks["limit"]["ceiling"] == "+23.2 dBFS"
    assert blocks["drive"]["drive"] == "+18.0 dB"
    assert blocks["comp"]["ratio"] == "3.00:1" and blocks["comp"]["attack"] == "5.0 ms"
    assert blocks["pre_eq"]["high-pass"] == "90 Hz"
    assert blocks["post_eq"]["high shelf"] == "-6.0 dB at 3 kHz"
    assert blocks["trim"]["input gain"] == "+2.0 dB"
    visible = " ".join(full["page"].text)
    for rows in blocks.values():
        for value in rows.values():
            assert value in visible


def test_embedded_curves_match_scipy_and_closed_forms(full: dict) -> None:
    c = full["data"]["curves"]
    f = np.asarray(c["freqs_hz"])
    chain = chain_with(CRUNCH)
    for stage in ("pre_eq", "post_eq"):
        with torch.no_grad():
            sos = chain.eq_sos(stage).numpy()
        _, h = scipy.signal.sosfreqz(sos, worN=f, fs=SR)
        np.testing.assert_allclose(c[f"{stage}_db"], 20 * np.log10(np.abs(h)), atol=1e-3)
    with torch.no_grad():
        ir = chain.cab_ir().numpy()
    _, h = scipy.signal.freqz(ir, worN=f, fs=SR)
    np.testing.assert_allclose(c["cab_db"], 20 * np.log10(np.abs(h)), atol=1e-3)
    # shaper: biased tanh clipper, scaled to the drive's small-signal gain
    g, b = 10 ** (CRUNCH["drive.drive_db"] / 20), CRUNCH["drive.bias"]
    x = np.asarray(c["shaper_x"])
    ref = (np.tanh(g * x + b) - math.tanh(b)) / (1 - math.tanh(b) ** 2)
    np.testing.assert_allclose(c["shaper_y"], ref, atol=1e-3)
    assert 0 < c["shaper_input_peak"] <= max(abs(x))
    # compressor and sag: soft-knee closed form
    lv = np.asarray(c["dyn_level_db"])
    for stage in ("sag", "comp"):
        thr, ratio = CRUNCH[f"{stage}.threshold_db"], CRUNCH[f"{stage}.ratio"]
        over = lv - thr
        ref = np.where(2 * over < -6, lv, np.where(2 * over > 6, thr + over / ratio,
                       lv + (1 / ratio - 1) * (over + 3) ** 2 / 12))
        np.testing.assert_allclose(c[f"{stage}_out_db"], ref, atol=1e-3)


def test_metrics_table_numbers(full: dict) -> None:
    m = full["data"]["metrics"]
    assert set(m) == {"output_vs_target", "input_vs_target"}
    ov, iv = m["output_vs_target"], m["input_vs_target"]
    # the target is this very chain on other notes: its level and dynamics must be matched far
    # better than by the DI (spectral distances of 8 s of different notes are too noisy to rank)
    assert abs(ov["lufs_diff"]) < 2.0 < 5.0 < abs(iv["lufs_diff"])
    assert abs(ov["crest_diff_db"]) < 0.5 * abs(iv["crest_diff_db"])
    assert ov["short_term_w1_db"] < 0.5 * iv["short_term_w1_db"]
    # the chain itself on other notes: its attacks stand as high as the target's
    assert abs(ov["peaks_diff_db"]) < ATTACKS_FLOOR_DB
    assert all(0 < v[k] < 30 for v in (ov, iv) for k in ("level_binned_db", "logmel_db"))
    st = full["data"]["stats"]
    meter = pyloudnorm.Meter(SR)
    y, rate = sf.read(full["target"])
    assert st["target"]["lufs"] == pytest.approx(meter.integrated_loudness(y), abs=0.01)
    assert "closer" in " ".join(full["page"].text)
    # the histogram data behind the loudness plot: 400 ms levels of the target, gated
    np.testing.assert_allclose(full["data"]["distributions"]["short_term_db"]["target"],
                               short_term_levels_db(y.astype(np.float32), rate), atol=1e-3)


def test_linear_tone_report_says_what_is_missing(tmp_path: Path) -> None:
    tone = tone_with({"post_eq.high_db": -4.0}, stages=("post_eq", "cab"))
    tone.training = {"chosen": "linear", "interrupted": True,
                     "warnings": ["target peaks at 0 dBFS: it may be clipped"]}
    x = guitar_line(4.0, SR, seed=3)
    y = guitar_line(4.0, SR, seed=4)
    out = tmp_path / "lin.html"
    res = build_report(tone, (x, SR), (y, SR), out, excerpt_s=2.0, audio_format="ogg")
    page, _ = _parse(out)
    assert page.sections == list(SECTIONS)
    assert len(page.images) == 3  # eq, spectra, loudness
    text = " ".join(page.text)
    assert "no drive stage" in text and "no sag or compressor" in text
    assert "learning was interrupted" in text and "may be clipped" in text
    for uri in page.audio.values():
        mime, payload = _decode(uri)
        assert mime == "audio/ogg"
        a, rate = sf.read(io.BytesIO(payload))
        assert rate == SR and len(a) == 2 * SR
    assert res.size_bytes < 400_000  # ogg keeps it small


@pytest.mark.parametrize("held", [["sag"], []])
def test_report_says_which_dynamics_blocks_were_kept_for_the_levels(tmp_path: Path,
                                                                   held: list[str]) -> None:
    tone = tone_with({**CRUNCH, "sag.threshold_db": -30.0, "sag.ratio": 3.0})
    # with a held sag, the drive held by the attacks refit too (both sentences, or neither)
    tone.training = {"chosen": "nonlinear", "pinning": {"drive": 0.3, "sag": -0.016},
                     "held_for_levels": held, "drive_held_db": 24.0 if held else None,
                     "selection": {"attacks gap dB": -4.08, "level range / linear": 0.483}}
    if held:  # and (or not) judged on a stretch of a take much longer than the example
        tone.training["selection"].update({"stretches of the take": 4.0, "stretch judged": 1.0})
    x = guitar_line(4.0, SR, seed=3)
    out = tmp_path / "pins.html"
    build_report(tone, (x, SR), (guitar_line(4.0, SR, seed=4), SR), out, excerpt_s=2.0,
                 audio_format="ogg")
    text = " ".join(_parse(out)[0].text)
    assert "sag -1.6 %" in text
    assert ("Kept for the example's level distribution" in text) == bool(held)
    said = "Learned again with the drive held at +24 dB" in text and "(by 4.1 dB)" in text
    assert said == bool(held)
    assert "louder levels span 0.48x the range a filter alone leaves" in text
    assert ("example is much shorter than the take: the chains were compared on the stretch "
            "of the take as long as the example that is played most like it (levels nearest; "
            "stretch 2 of 4)"
            in text) == bool(held)


def test_report_of_a_record_with_null_file_names(tmp_path: Path) -> None:
    """A training record may store an absent input/target record as null (as the loader
    takes it); the report says '?' for the name instead of raising AttributeError."""
    tone = tone_with({"post_eq.high_db": -4.0}, stages=("post_eq", "cab"))
    tone.training = {"chosen": "linear", "input": None, "target": None}
    out = tmp_path / "null.html"
    build_report(tone, (guitar_line(2.0, SR, seed=3), SR), (guitar_line(2.0, SR, seed=4), SR),
                 out, excerpt_s=1.0, audio_format="ogg")
    assert "Learned from ? → ?" in " ".join(_parse(out)[0].text)


@pytest.mark.parametrize(("chosen", "selection", "says"), [
    ("linear", {"linear": 2.5, "nonlinear with dynamics": 2.1, "nonlinear": 2.4},
     "its timbre score came to 0.84x the filter's, too small a win"),
    ("linear", {"linear": 2.5, "nonlinear": 2.6}, "came to 1.04x the filter's (no better)"),
    ("nonlinear", {"linear": 2.5, "nonlinear": 1.5}, None),
    ("linear", {}, None),
])
def test_report_says_why_a_fitted_nonlinear_chain_was_not_kept(
        tmp_path: Path, chosen: str, selection: dict, says: str | None) -> None:
    tone = tone_with(CRUNCH)
    tone.training = {"chosen": chosen, "selection": selection}
    out = tmp_path / "why.html"
    build_report(tone, (guitar_line(3.0, SR, seed=3), SR), (guitar_line(3.0, SR, seed=4), SR),
                 out, excerpt_s=2.0, audio_format="ogg")
    text = " ".join(_parse(out)[0].text)
    assert ("fitted too and not kept" in text) == (says is not None)
    if says:
        assert says in text


def test_refuses_to_overwrite_an_input_and_leaves_nothing_behind(full: dict) -> None:
    d = full["dir"]
    before = sorted(p.name for p in d.iterdir())
    for bad in (full["input"], full["model"]):
        with pytest.raises(OutputPathError):
            build_report(full["model"], full["input"], full["target"], bad)
    with pytest.raises(OutputPathError, match="html"):
        build_report(full["model"], full["input"], full["target"], d / "report.txt")
    with pytest.raises(ParameterError):
        build_report(full["model"], full["input"], full["target"], d / "r2.html",
                     audio_format="mp3")
    assert sorted(p.name for p in d.iterdir()) == before
    assert full["input"].stat().st_size > 0


runner = CliRunner()


def test_cli_report_writes_and_prints_the_size(full: dict, tmp_path: Path) -> None:
    out = tmp_path / "cli.html"
    res = runner.invoke(app, ["report", str(full["model"]), "--input", str(full["input"]),
                              "--target", str(full["target"]), "-o", str(out),
                              "--excerpt", "2", "--audio", "ogg"])
    assert res.exit_code == 0, res.output
    assert out.exists() and "MB" in res.output and str(out) in res.output
    page, _ = _parse(out)
    assert page.sections == list(SECTIONS)


@pytest.mark.parametrize("case", ["missing model", "overwrite input", "bad audio format",
                                  "missing target", "bad excerpt", "short excerpt"])
def test_cli_report_bad_input_is_one_line(full: dict, tmp_path: Path, case: str) -> None:
    args = {"model": str(full["model"]), "input": str(full["input"]),
            "target": str(full["target"]), "out": str(tmp_path / "r.html"), "audio": "flac",
            "excerpt": "15"}
    if case == "missing model":
        args["model"] = str(tmp_path / "nope.tmodel")
    elif case == "overwrite input":
        args["out"] = args["input"]
    elif case == "bad audio format":
        args["audio"] = "mp3"
    elif case == "missing target":
        args["target"] = str(tmp_path / "nope.wav")
    elif case == "short excerpt":
        # 0.3 s reached the loudness meter: "integrated loudness needs at least 0.4 s"
        args["excerpt"] = "0.3"
    else:
        args["excerpt"] = "-1"
    res = runner.invoke(app, ["report", args["model"], "-i", args["input"], "-t",
                              args["target"], "-o", args["out"], "--audio", args["audio"],
                              "--excerpt", args["excerpt"]])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert len([ln for ln in res.output.splitlines() if ln.startswith("error")]) == 1
    if "excerpt" in case:
        assert "at least 0.4 s" in res.output and "(--excerpt)" in res.output
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("role", ["input", "target"])
def test_cli_report_refuses_a_dc_only_recording_as_silent(full: dict, tmp_path: Path,
                                                          role: str) -> None:
    # a constant passed as sound and met NaN axis limits in the level-binned plot
    dc = tmp_path / "dc.wav"
    sf.write(dc, np.full(3 * SR, 0.3), SR, subtype="PCM_16")
    files = {"input": str(full["input"]), "target": str(full["target"]), role: str(dc)}
    res = runner.invoke(app, ["report", str(full["model"]), "-i", files["input"], "-t",
                              files["target"], "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error")]
    assert len(errors) == 1 and f"{role} dc.wav without its DC offset is silent" in errors[0]
    assert "warning" not in res.output and not (tmp_path / "r.html").exists()


def test_level_binned_plot_leaves_out_signals_with_no_frames_in_a_quarter() -> None:
    from tonemorph.pages.plots import level_binned_plot

    mel = np.geomspace(40.0, 20000.0, 64)
    nan = np.full((4, 64), np.nan)
    edges = {"input": np.linspace(-60.0, 0.0, 5), "output": np.full(5, np.nan)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "All-NaN slice encountered"
        for spectra in ({"input": np.full((4, 64), -30.0), "output": nan},
                        {"input": nan, "output": nan}):
            assert level_binned_plot(mel, spectra, edges).startswith(b"\x89PNG")


def test_cli_learn_with_report(full: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                               ) -> None:
    def fake_fit(x, y, cfg, progress=None):  # learning itself is tested elsewhere
        return LearnResult(chain_with(CRUNCH), 0.0, 1.0, {"stub": 1.0}, {"nonlinear": 1.0},
                           "nonlinear", 0, 0.01)

    monkeypatch.setattr("tonemorph.api.fit_unpaired", fake_fit)
    model, html_out = tmp_path / "t.tmodel", tmp_path / "learned.html"
    res = runner.invoke(app, ["learn", "-i", str(full["input"]), "-t", str(full["target"]),
                              "-o", str(model), "--report", str(html_out)])
    assert res.exit_code == 0, res.output
    assert model.exists() and html_out.exists()
    page, text = _parse(html_out)
    assert page.sections == list(SECTIONS) and "nonlinear chain chosen" in text
    # a report path that would overwrite an input is refused before any learning
    res = runner.invoke(app, ["learn", "-i", str(full["input"]), "-t", str(full["target"]),
                              "-o", str(tmp_path / "u.tmodel"), "--report",
                              str(full["input"])])
    assert res.exit_code == 2 and not (tmp_path / "u.tmodel").exists()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")
def test_renders_in_headless_chromium(full: dict, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    w, h = 1200, 3000
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", f"--window-size={w},{h}", full["out"].as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.exists(), proc.stderr[-2000:]
    im = Image.open(shot).convert("RGB")
    assert im.size == (w, h)
    px = np.asarray(im, dtype=np.int32)
    # the dark header band is drawn at the top, the light page below it
    assert px[:60].mean() < 80 and px[400:].mean() > 180
    # figures were decoded and laid out: the output colour (orange) appears in many pixels
    orange = (np.abs(px[..., 0] - 0xE8) < 30) & (np.abs(px[..., 1] - 0x59) < 40) & (
        px[..., 2] < 80)
    assert orange.sum() > 2000
    colours = np.unique(px.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 500  # text, plots and players, not an empty or error page


def test_stereo_and_other_rates_are_mixed_and_resampled(tmp_path: Path) -> None:
    tone = tone_with({"drive.drive_db": 6.0}, stages=("pre_eq", "drive"))
    left = guitar_line(4.0, 44100, seed=7)[0]
    stereo = np.stack([left, 0.5 * left])
    short_target = guitar_line(2.5, 32000, seed=8)
    out = tmp_path / "st.html"
    res = build_report(tone, (stereo, 44100), (short_target, 32000), out, excerpt_s=3.0)
    page, _ = _parse(out)
    lengths = {}
    for key, uri in page.audio.items():
        y, rate = sf.read(io.BytesIO(_decode(uri)[1]))
        assert rate == SR
        lengths[key] = len(y)
    assert lengths["input"] == lengths["output"] == 3 * SR
    assert abs(lengths["target"] - 2.5 * SR) <= 2  # shorter than the excerpt: all of it
    assert res.data.sources == {"input": "<input array>", "target": "<target array>",
                                "model": "<Tone>"}


def test_drive_input_peak_follows_trim_and_input_gain() -> None:
    x = guitar_line(3.0, SR, seed=9)
    tone = tone_with({"trim_db": 6.0, "drive.drive_db": 12.0}, stages=("pre_eq", "drive"),
                     input_gain_db=-3.0)
    expected = np.percentile(np.abs(x[0]), 99.9) * 10 ** (3.0 / 20)
    assert _drive_input_peak(tone, x[0].astype(np.float64)) == pytest.approx(expected,
                                                                                rel=0.02)


def test_warns_when_the_output_would_clip(tmp_path: Path) -> None:
    x = guitar_line(3.0, SR, seed=10, level_db=-3.0)
    hot = tone_with({"out_gain_db": 9.0}, stages=("post_eq",))
    out = tmp_path / "hot.html"
    res = build_report(hot, (x, SR), (x, SR), out, excerpt_s=2.0)
    peak = res.data.stats["output"]["true_peak_dbtp"]
    assert 6.0 <= peak < 7.0  # -3 dBFS peaks + 9 dB, a little more between samples
    text = " ".join(_parse(out)[0].text)
    assert "above full scale" in text and "--level -8" in text  # keeps 1 dB of headroom
    quiet = tone_with({"out_gain_db": -6.0}, stages=("post_eq",))
    build_report(quiet, (x, SR), (x, SR), out, excerpt_s=2.0, force=True)
    assert "above full scale" not in " ".join(_parse(out)[0].text)


def test_a_target_whose_channels_cancel_is_refused_with_the_reason(full: dict) -> None:
    from tonemorph.errors import AudioContentError

    line = guitar_line(SECONDS, SR, seed=2)[0]
    inverted = full["dir"] / "inverted.wav"
    sf.write(inverted, np.stack([line, -line], axis=1), SR, subtype="FLOAT")
    with pytest.raises(AudioContentError, match="polarity inverted"):
        build_report(full["model"], full["input"], inverted, full["dir"] / "inv.html")
    assert not (full["dir"] / "inv.html").exists()


def test_attacks_warning_only_beyond_what_two_takes_differ_by() -> None:
    assert _attacks_warning(-(ATTACKS_FLOOR_DB - 0.1)) == ""
    assert _attacks_warning(ATTACKS_FLOOR_DB - 0.1) == ""
    assert _attacks_warning(math.nan) == ""
    low = _attacks_warning(-6.2)
    assert 'class="warn"' in low and "6.2 dB lower" in low and "flattens" in low
    high = _attacks_warning(5.0)
    assert "5.0 dB higher" in high and "tames" in high


def test_a_lossy_target_is_compared_below_its_end(tmp_path: Path) -> None:
    # the target through a clean tone, its spectrum cut at 6 kHz as a low-bitrate MP3 is:
    # the distances of the output (the same tone, full band) leave the cut out, and say so
    x = guitar_line(6.0, SR, seed=10) + np.float32(0.003) * np.random.default_rng(3) \
        .standard_normal((1, 6 * SR)).astype(np.float32)
    tone = tone_with({"out_gain_db": -2.0}, stages=("post_eq",))
    y = tone.apply(x[0], SR)
    cut = brick_wall(y, 6000.0, SR).astype(np.float32)
    out = tmp_path / "lossy.html"
    res = build_report(tone, (x, SR), (cut, SR), out, excerpt_s=2.0)
    assert res.data.target_end_hz is not None
    assert 6000.0 * 2.0 ** (-1.0 / 6.0) <= res.data.target_end_hz <= 6000.0
    assert res.data.metrics["output_vs_target"]["logmel_db"] < 0.5
    text = " ".join(_parse(out)[0].text)
    assert "spectrum ends at" in text
    full_band = build_report(tone, (x, SR), (y, SR), out, excerpt_s=2.0, force=True)
    assert full_band.data.target_end_hz is None
    assert "spectrum ends at" not in " ".join(_parse(out)[0].text)
