"""`build_report`: analyse a tone on an input and a target, write one self-contained HTML file."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tonemorph.chain.chain import ChainConfig, ToneChain
from tonemorph.dsp.bandwidth import is_cut, recording_bandwidth_hz
from tonemorph.dsp.offset import without_offset, without_steady_offset
from tonemorph.errors import AudioContentError, ParameterError
from tonemorph.io import (
    HTML_SUFFIXES,
    AudioLike,
    check_content,
    check_mixdown,
    check_output_path,
    check_suffix,
    example_mono,
    load_audio_like,
    mono_mixdown,
    resample,
)
from tonemorph.io.paths import write_text_atomic
from tonemorph.metrics import level_binned_spectra
from tonemorph.model import Tone, load
from tonemorph.pages import measures as A
from tonemorph.progress import Progress
from tonemorph.report import curves as C
from tonemorph.report.html import render_html, render_images

MIN_EXCERPT_S = 0.4  # the shortest player excerpt: one BS.1770 loudness block

__all__ = [
    "DEFAULT_ANALYSIS_S",
    "DEFAULT_EXCERPT_S",
    "ReportData",
    "ReportResult",
    "analyze",
    "build_report",
]

DEFAULT_EXCERPT_S = 15.0
DEFAULT_ANALYSIS_S = 300.0  # longer files are measured on their first 5 minutes
MIN_SECONDS = 1.0
SHAPER_PEAK_PERCENTILE = 99.9
DRIVE_PEAK_S = 60.0  # seconds of input measured for where the playing sits on the drive curve
LEVEL_BINS = 4
DYN_LEVEL_DB = (-70.0, 0.0)

SIGNALS = ("input", "output", "target")


@dataclass
class ReportData:
    """Everything the report shows, as numbers (curves, metrics) and encoded media."""

    title: str
    sources: dict[str, str]
    sample_rate: int
    tone: Tone
    curves: dict[str, Any] = field(default_factory=dict)
    spectra: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    stats: dict[str, dict[str, float]] = field(default_factory=dict)
    excerpts: dict[str, dict[str, float]] = field(default_factory=dict)
    excerpt_lufs: float = float("nan")
    # where the target's spectrum ends (Hz) when a lossy codec cut it; its spectra are
    # compared below it
    target_end_hz: float | None = None
    audio: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)
    created: str = ""

    def json_summary(self) -> dict[str, Any]:
        """The report's numbers as a JSON-able dict (embedded in the HTML)."""
        def conv(v: Any) -> Any:
            if isinstance(v, np.ndarray):
                return [conv(e) for e in v.tolist()]
            if isinstance(v, dict):
                return {k: conv(e) for k, e in v.items()}
            if isinstance(v, (list, tuple)):
                return [conv(e) for e in v]
            if isinstance(v, float):
                return round(v, 4) if np.isfinite(v) else None
            return v

        return conv({
            "title": self.title, "sources": self.sources, "sample_rate": self.sample_rate,
            "created": self.created, "parameters": self.tone.parameters,
            "input_gain_db": self.tone.input_gain_db, "stages": list(self.tone.config.stages),
            "curves": self.curves, "level_binned": self.spectra,
            "distributions": self.distributions, "metrics": self.metrics,
            "stats": self.stats, "excerpts": self.excerpts, "excerpt_lufs": self.excerpt_lufs,
            "target_end_hz": self.target_end_hz,
        })


@dataclass
class ReportResult:
    """What `build_report` wrote: path, size in bytes, and the data shown."""

    path: Path
    size_bytes: int
    data: ReportData


def _load(source: AudioLike, role: str, max_s: float) -> tuple[np.ndarray, int, str]:
    """Mono float32 audio (first max_s seconds), its rate (Hz), and a display name; a
    target as learning takes it (`example_mono`: double-tracked channels one after another)."""
    audio, sr, name = load_audio_like(source, role, max_seconds=max_s)
    check_mixdown(audio, role=f"{role} {name}")
    mono = (example_mono(audio)[0].astype(np.float32, copy=False) if role == "target"
            else mono_mixdown(audio).astype(np.float32, copy=False))
    if mono.size < MIN_SECONDS * sr:
        raise AudioContentError(f"{role} {name} is shorter than {MIN_SECONDS:g} s; the report "
                                "needs audible audio")
    # measured as learning hears it: without a DC offset, which alone passed as sound
    mono, offset = (without_steady_offset if role == "target" else without_offset)(mono)
    what = f"{role} {name}" + ("" if offset is None else " without its DC offset")
    check_content(mono, sr, role=what, min_seconds=MIN_SECONDS)
    return mono, sr, name


def _drive_input_peak(tone: Tone, x: np.ndarray) -> float | None:
    """99.9th percentile of |signal| entering the drive stage for input x (learned rate)."""
    before = tuple(s for s in tone.config.stages if s in ("pre_eq", "sag"))
    if "drive" not in tone.config.stages:
        return None
    sr = tone.config.sample_rate
    chain = ToneChain(ChainConfig(stages=before, sample_rate=sr))
    vals = {**tone.parameters, "out_gain_db": 0.0}
    chain.set_values(vals)
    # the most active minute is representative and keeps the offline torch pass small
    start, stop = A.excerpt_window(x, sr, DRIVE_PEAK_S)
    x_in = x[start:stop] * 10.0 ** (tone.input_gain_db / 20.0)
    with torch.no_grad():
        u = chain(torch.from_numpy(x_in.astype(np.float32))[None]).numpy()[0]
    return float(np.percentile(np.abs(u), SHAPER_PEAK_PERCENTILE))


def _curves(tone: Tone, x: np.ndarray) -> dict[str, Any]:
    """Every plotted curve of the chain, from its parameters (see `tonemorph.report.curves`)."""
    st, sr = tone.config.stages, tone.config.sample_rate
    f = C.response_freqs_hz(sr)
    out: dict[str, Any] = {"freqs_hz": f}
    for stage in ("pre_eq", "post_eq"):
        if stage in st:
            out[f"{stage}_db"] = C.eq_response_db(tone, stage, f)
    if "cab" in st:
        out["cab_db"] = C.cab_response_db(tone, f)
        out["cab_band_hz"] = tone.config.band_hz()
        out["cab_band_db"] = np.asarray(tone.parameters["cab.band_db"], dtype=np.float64)
    out["linear_total_db"] = C.linear_response_db(tone, f)
    if "drive" in st:
        peak = _drive_input_peak(tone, x)
        g = 10.0 ** (float(tone.parameters["drive.drive_db"]) / 20.0)
        # up to where the curve saturates, but no wider than a few times the playing's peaks
        span = 3.0 / g if not peak else max(1.25 * peak, min(3.0 / g, 4.0 * peak))
        xs = np.linspace(-span, span, 401)
        out["shaper_x"], out["shaper_y"] = xs, C.shaper_curve(tone, xs)
        out["shaper_input_peak"] = peak
    lv = np.linspace(*DYN_LEVEL_DB, 141)
    for stage in ("sag", "comp"):
        if stage in st:
            out["dyn_level_db"] = lv
            out[f"{stage}_out_db"] = C.dynamics_curve_db(tone, stage, lv)
    return out


def analyze(tone: Tone | str | Path, input: AudioLike, target: AudioLike, *,
            excerpt_s: float = DEFAULT_EXCERPT_S, analysis_s: float = DEFAULT_ANALYSIS_S,
            audio_format: str = "flac", title: str | None = None,
            progress: Progress | None = None) -> ReportData:
    """Measure a tone on input and target: curves, spectra, distributions, metrics, excerpts.

    Files are mixed to mono, measured on their first `analysis_s` seconds at the tone's rate;
    the players get `excerpt_s`-second excerpts (the most active stretch), loudness-matched.
    """
    if audio_format not in A.AUDIO_FORMATS:
        raise ParameterError(f"audio format must be one of {list(A.AUDIO_FORMATS)}, "
                             f"got {audio_format!r}")
    if not (np.isfinite(excerpt_s) and excerpt_s >= MIN_EXCERPT_S):
        # 0.3 s reached the loudness meter, which named neither the option nor the fix
        raise ParameterError(f"excerpt length must be at least {MIN_EXCERPT_S:g} s (the "
                             f"players are matched in loudness, measured over 400 ms blocks), "
                             f"got {excerpt_s}; e.g. 15", option="excerpt_s")
    if not (np.isfinite(analysis_s) and analysis_s >= MIN_SECONDS):
        raise ParameterError(f"analysis_s must be at least {MIN_SECONDS:g} s, got {analysis_s}")
    step = progress or (lambda tag, done, total: None)
    total = 6
    t = load(tone) if isinstance(tone, (str, Path)) else tone
    sr = t.config.sample_rate
    step("reading", 0, total)
    x_raw, sr_x, name_x = _load(input, "input", analysis_s)
    y_raw, sr_y, name_y = _load(target, "target", analysis_s)
    x = resample(x_raw, sr_x, sr)
    y = resample(y_raw, sr_y, sr)
    step("applying", 1, total)
    out = t.apply(x, sr)
    sig = {"input": x, "output": out, "target": y}
    data = ReportData(
        title=title or f"{name_x} → {name_y}",
        sources={"input": name_x, "target": name_y,
                 "model": str(tone) if isinstance(tone, (str, Path)) else "<Tone>"},
        sample_rate=sr, tone=t,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    step("chain curves", 2, total)
    data.curves = _curves(t, x)
    step("measuring", 3, total)
    for k in SIGNALS:
        mel, spec, edges = level_binned_spectra(sig[k], sr, n_bins=LEVEL_BINS)
        data.spectra["mel_hz"] = mel
        data.spectra[k] = {"spectra_db": spec, "edges_db": edges}
        data.stats[k] = A.signal_stats(sig[k], sr)
    data.distributions = {
        "short_term_db": {k: A.short_term_levels_db(sig[k], sr) for k in SIGNALS},
        "crest_db": {k: A.window_crest_db(sig[k], sr) for k in SIGNALS},
    }
    end_hz = recording_bandwidth_hz(y, sr)
    data.target_end_hz = end_hz if is_cut(end_hz, sr) else None
    data.metrics = {k: A.unpaired_distances(a, y, sr, fmax_hz=data.target_end_hz)
                    for k, a in (("output_vs_target", out), ("input_vs_target", x))}
    step("excerpts", 4, total)
    i0, i1 = A.excerpt_window(x, sr, excerpt_s)
    t0, t1 = A.excerpt_window(y, sr, excerpt_s)
    cuts = {"input": x[i0:i1], "output": out[i0:i1], "target": y[t0:t1]}
    scaled, lufs = A.match_loudness([cuts[k] for k in SIGNALS], sr)
    data.excerpt_lufs = lufs
    mime = A.AUDIO_FORMATS[audio_format][2]
    for k, a in zip(SIGNALS, scaled, strict=True):
        data.audio[k] = (A.encode_audio(a, sr, audio_format), mime)
        s0, s1 = (t0, t1) if k == "target" else (i0, i1)
        data.excerpts[k] = {"start_s": s0 / sr, "stop_s": s1 / sr, "samples": float(s1 - s0),
                            "gain_db": 20.0 * float(np.log10(np.max(np.abs(a))
                                                             / np.max(np.abs(cuts[k]))))}
    step("plotting", 5, total)
    data.images = render_images(data)
    step("done", total, total)
    return data


def build_report(tone: Tone | str | Path, input: AudioLike, target: AudioLike,
                 out_html: str | Path, *, excerpt_s: float = DEFAULT_EXCERPT_S,
                 analysis_s: float = DEFAULT_ANALYSIS_S, audio_format: str = "flac",
                 title: str | None = None, force: bool = False,
                 progress: Progress | None = None) -> ReportResult:
    """Write one self-contained HTML report (images and audio inlined) of a tone; atomic.

    `tone` is a Tone or a .tmodel path; input/target are files or (audio, sample_rate) tuples.
    Never overwrites an input; replaces an existing file only with `force` (OutputPathError).
    """
    out = Path(out_html)
    inputs = [p for p in (tone, input, target) if isinstance(p, (str, Path))]
    check_output_path(out, inputs, force=force)
    check_suffix(out, HTML_SUFFIXES, "the report is a self-contained web page")
    data = analyze(tone, input, target, excerpt_s=excerpt_s, analysis_s=analysis_s,
                   audio_format=audio_format, title=title, progress=progress)
    text = render_html(data)
    write_text_atomic(out, text, overwrite=force)
    return ReportResult(out, out.stat().st_size, data)
