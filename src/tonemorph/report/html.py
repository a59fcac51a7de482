"""HTML rendering of a `ReportData`: one self-contained page (inline CSS, data: URIs only)."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tonemorph.chain.stages import CHAIN
from tonemorph.dsp.loudness import ATTACKS_FLOOR_DB
from tonemorph.model import why_linear
from tonemorph.pages import measures as A
from tonemorph.pages import plots as P

if TYPE_CHECKING:
    from tonemorph.model import Tone
    from tonemorph.report.build import ReportData

__all__ = ["SECTIONS", "Block", "chain_blocks", "render_images", "render_html"]

#: Section ids of the page, in order, with their headings.
SECTIONS: dict[str, str] = {
    "listen": "Listen: A / B / C",
    "chain": "The learned chain",
    "metrics": "How close it gets",
    "eq": "Frequency response: EQ and cabinet",
    "drive": "Drive and dynamics",
    "spectra": "Spectra by playing level",
    "loudness": "Loudness and dynamics",
}
PLAYERS = {"input": ("A", "your take (input)"),
           "output": ("B", "your take through the learned tone"),
           "target": ("C", "the reference (target)")}
METRIC_ROWS = {
    "level_binned_db": ("spectrum by level", "dB", "mean |difference| of log-mel spectra, "
                        "each signal grouped by its own loudness quarters"),
    "logmel_db": ("long-term spectrum", "dB", "mean |difference| of the average log-mel spectra"),
    "lufs_diff": ("loudness", "LU", "integrated loudness (BS.1770), minus the target's"),
    "crest_diff_db": ("crest factor", "dB", "peak over active RMS, minus the target's"),
    "peaks_diff_db": ("attacks", "dB", "99th-percentile 10 ms peak over active RMS, minus "
                      "the target's"),
    "short_term_w1_db": ("short-term level spread", "dB",
                         "Wasserstein distance of the 400 ms level distributions"),
    "crest_w1_db": ("punch (400 ms crest)", "dB",
                    "Wasserstein distance of the 400 ms crest distributions"),
}
STAT_ROWS = {"lufs": ("loudness", "LUFS"), "true_peak_dbtp": ("true peak", "dBTP"),
             "crest_db": ("crest factor", "dB"), "range_db": ("loudness range", "dB")}


@dataclass(frozen=True)
class Block:
    """One block of the chain diagram: stage key, title, (knob, value with unit) rows."""

    key: str
    title: str
    rows: tuple[tuple[str, str], ...]


def _db(v: float) -> str:
    return f"{v:+.1f} dB"


def chain_blocks(tone: Tone) -> list[Block]:
    """The chain as blocks in signal order, knob values in units (Hz, dB, ms, :1)."""
    cfg, p = tone.config, tone.parameters
    blocks = []
    for st in CHAIN:
        if st.optional and st.name not in cfg.stages:
            continue
        rows = st.describe(cfg, p)
        if getattr(st, "takes_input_gain", False):
            rows = (("input gain", _db(tone.input_gain_db)), *rows)
        blocks.append(Block(st.name, st.title, rows))
    return blocks


def render_images(data: ReportData) -> dict[str, bytes]:
    """PNG figures of the report, by name."""
    c, st = data.curves, data.tone.config.stages
    labels = {"pre_eq": "pre-EQ", "post_eq": "tone stack (post-EQ)", "cab": "cabinet",
              "total": "all linear stages + gains", "sag": "sag (before the drive)",
              "comp": "compressor"}
    imgs: dict[str, bytes] = {}
    resp = {k: c[f"{k}_db"] for k in ("pre_eq", "post_eq", "cab") if f"{k}_db" in c}
    if resp:
        resp["total"] = c["linear_total_db"]
        pts = (c["cab_band_hz"], c["cab_band_db"]) if "cab_db" in c else None
        imgs["eq"] = P.response_plot(c["freqs_hz"], resp, labels, "magnitude response",
                                     points=pts)
    if "drive" in st:
        imgs["shaper"] = P.shaper_plot(c["shaper_x"], c["shaper_y"],
                                       float(data.tone.parameters["drive.drive_db"]),
                                       float(data.tone.parameters["drive.bias"]),
                                       c.get("shaper_input_peak"))
    dyn = {k: c[f"{k}_out_db"] for k in ("sag", "comp") if f"{k}_out_db" in c}
    if dyn:
        imgs["dynamics"] = P.dynamics_plot(c["dyn_level_db"], dyn, labels)
    sp = data.spectra
    imgs["spectra"] = P.level_binned_plot(
        sp["mel_hz"], {k: sp[k]["spectra_db"] for k in ("input", "output", "target")},
        {k: sp[k]["edges_db"] for k in ("input", "output", "target")})
    d = data.distributions
    imgs["loudness"] = P.histogram_plot(
        [d["short_term_db"], d["crest_db"]],
        ["level (dBFS RMS, 400 ms windows)", "crest (dB, 400 ms windows)"],
        ["short-term level", "crest factor (punch)"])
    return imgs


_CSS = """
:root{--ink:#212529;--mute:#6c757d;--line:#dee2e6;--card:#fff;--bg:#f4f5f7;
--in:#8c939d;--out:#e8590c;--tgt:#1971c2}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:#1f2430;color:#f8f9fa;padding:28px 0 22px}
.wrap{max-width:1120px;margin:0 auto;padding:0 24px}
header h1{margin:0;font-size:26px;font-weight:650;letter-spacing:.2px}
header .sub{color:#ced4da;margin-top:6px;font-size:14px}
header .verdict{margin-top:14px;font-size:16px;color:#fff}
nav{margin-top:14px;font-size:13px}
nav a{color:#a5d8ff;text-decoration:none;margin-right:14px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;
margin:20px 0;padding:18px 22px}
h2{font-size:18px;margin:0 0 4px}
p.note{color:var(--mute);margin:2px 0 12px;font-size:13.5px}
p.warn{background:#fff4e6;border-left:4px solid #f08c00;padding:8px 12px;margin:4px 0 12px;
font-size:14px}
.players{display:grid;grid-template-columns:repeat(3,1fr);gap:14px}
.player{border:1px solid var(--line);border-radius:8px;padding:12px;border-top:4px solid}
.player.input{border-top-color:var(--in)}.player.output{border-top-color:var(--out)}
.player.target{border-top-color:var(--tgt)}
.player .tag{font-weight:700;font-size:20px;margin-right:8px}
.player .what{font-weight:600}
.player .when{color:var(--mute);font-size:12.5px;margin:2px 0 8px}
audio{width:100%}
.chain{display:flex;flex-wrap:wrap;align-items:stretch;gap:6px}
.block{border:1px solid var(--line);border-radius:8px;padding:8px 10px;min-width:128px;
background:#f8f9fa;flex:0 1 auto}
.block h3{margin:0 0 4px;font-size:13px;text-transform:uppercase;letter-spacing:.6px;
color:#495057}
.block.drive{background:#fff4e6}.block.cab{background:#fff0f6}
.block.pre_eq,.block.post_eq{background:#f3f0ff}.block.sag,.block.comp{background:#e7f5ff}
.block table{border-collapse:collapse;font-size:12.5px}
.block td{padding:1px 0;vertical-align:top}.block td.k{color:var(--mute);padding-right:8px}
.arrow{align-self:center;color:#adb5bd;font-size:20px}
.spark{display:block;margin:2px 0 6px;color:#495057}
.block.drive .spark{color:var(--out)}.block.cab .spark{color:#c2255c}
.block.pre_eq .spark{color:#7048e8}.block.post_eq .spark{color:#0ca678}
.block.sag .spark{color:#f08c00}.block.comp .spark{color:var(--tgt)}
table.m{border-collapse:collapse;width:100%;font-size:14px}
table.m th,table.m td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:right}
table.m th:first-child,table.m td:first-child{text-align:left}
table.m td.why{color:var(--mute);font-size:12.5px;text-align:left}
.good{color:#2b8a3e;font-weight:600}.bad{color:#c92a2a;font-weight:600}
img{max-width:100%;height:auto;display:block;margin:6px auto}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px;align-items:start}
footer{color:var(--mute);font-size:12.5px;padding:8px 0 30px}
button{font:inherit;font-size:13px;padding:4px 10px;border:1px solid var(--line);
border-radius:6px;background:#f8f9fa;cursor:pointer;margin-top:8px}
@media (max-width:800px){.players,.pair{grid-template-columns:1fr}}
"""

# Pressing play on one player pauses the others; A<->B switches at the same position, so the
# take and its processed version can be compared on the same notes.
_JS = """
(function(){var ps=[].slice.call(document.querySelectorAll('audio'));
ps.forEach(function(p){p.addEventListener('play',function(){ps.forEach(function(q){
if(q!==p){q.pause();}});});});
var b=document.getElementById('ab');if(!b){return;}
b.addEventListener('click',function(){var a=document.getElementById('audio-input'),
o=document.getElementById('audio-output');var from=a.paused?o:a,to=a.paused?a:o;
to.currentTime=from.currentTime;from.pause();to.play();});})();
"""


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _num(v: float, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:+.2f}" if signed else f"{v:.2f}"


def _img(data: ReportData, key: str, alt: str) -> str:
    png = data.images.get(key)
    if png is None:
        return ""
    return f'<img alt="{_e(alt)}" src="{A.data_uri(png, "image/png")}">'


def _listen(data: ReportData) -> str:
    cards = []
    for k, (tag, what) in PLAYERS.items():
        payload, mime = data.audio[k]
        ex = data.excerpts[k]
        cards.append(
            f'<div class="player {k}"><span class="tag">{tag}</span>'
            f'<span class="what">{_e(what)}</span>'
            f'<div class="when">{ex["start_s"]:.1f}–{ex["stop_s"]:.1f} s of '
            f'{_e(data.sources["target" if k == "target" else "input"])}</div>'
            f'<audio id="audio-{k}" controls preload="metadata" '
            f'src="{A.data_uri(payload, mime)}"></audio></div>')
    seconds = data.excerpts["input"]["samples"] / data.sample_rate
    return (f'<p class="note">Excerpts of the most active {seconds:.0f} s, mono, all three '
            f"matched to {data.excerpt_lufs:.1f} LUFS so that loudness does not "
            "decide which sounds better. A and B are the same notes.</p>"
            f'<div class="players">{"".join(cards)}</div>'
            '<button id="ab" type="button">switch A ⇄ B at the same moment</button>')


def _sparkline(x: np.ndarray, y: np.ndarray, lo: float, hi: float, *, logx: bool = False,
               ref: tuple[np.ndarray, np.ndarray] | None = None) -> str:
    """A small inline SVG of one curve (y clipped to lo..hi), with an optional grey reference."""
    w, h = 150.0, 42.0
    xs = np.log(x) if logx else np.asarray(x, dtype=float)

    def pts(xv: np.ndarray, yv: np.ndarray) -> str:
        px = (xv - xs[0]) / (xs[-1] - xs[0]) * w
        py = h - (np.clip(yv, lo, hi) - lo) / (hi - lo) * h
        return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))

    grey = ""
    if ref is not None:
        rx = np.log(ref[0]) if logx else np.asarray(ref[0], dtype=float)
        grey = (f'<polyline points="{pts(rx, np.asarray(ref[1]))}" fill="none" '
                'stroke="#ced4da" stroke-width="1" stroke-dasharray="3 2"/>')
    return (f'<svg class="spark" viewBox="0 0 {w:.0f} {h:.0f}" width="{w:.0f}" '
            f'height="{h:.0f}" role="img">{grey}<polyline points="{pts(xs, np.asarray(y))}" '
            'fill="none" stroke="currentColor" stroke-width="1.8"/></svg>')


def _block_curve(data: ReportData, key: str) -> str:
    """Thumbnail of a block's curve (response, transfer or static curve), or ''."""
    c = data.curves
    if key in ("pre_eq", "post_eq", "cab") and f"{key}_db" in c:
        db = np.asarray(c[f"{key}_db"])
        if key == "cab":
            db = db - np.median(db)
        span = max(6.0, float(np.max(np.abs(db))))
        flat = np.zeros_like(db)
        return _sparkline(c["freqs_hz"], db, -span, span, logx=True, ref=(c["freqs_hz"], flat))
    if key == "drive" and "shaper_y" in c:
        y = np.asarray(c["shaper_y"])
        m = float(np.max(np.abs(y))) * 1.1 or 1.0
        return _sparkline(c["shaper_x"], y, -m, m)
    if key in ("sag", "comp") and f"{key}_out_db" in c:
        lv = np.asarray(c["dyn_level_db"])
        return _sparkline(lv, np.asarray(c[f"{key}_out_db"]), lv[0], lv[-1], ref=(lv, lv))
    return ""


def _chain(data: ReportData) -> str:
    parts = []
    for i, b in enumerate(chain_blocks(data.tone)):
        rows = "".join(f'<tr><td class="k">{_e(k)}</td><td>{_e(v)}</td></tr>' for k, v in b.rows)
        if i:
            parts.append('<span class="arrow">→</span>')
        parts.append(f'<div class="block {b.key}"><h3>{_e(b.title)}</h3>'
                     f"{_block_curve(data, b.key)}<table>{rows}</table></div>")
    tr = data.tone.training or {}
    learned = ""
    if tr.get("chosen"):
        # an absent record may be stored as null ("input": null)
        learned = (f" Learned from {_e((tr.get('input') or {}).get('name', '?'))} → "
                   f"{_e((tr.get('target') or {}).get('name', '?'))}, quality "
                   f"{_e(tr.get('quality', '?'))}, {_e(tr.get('chosen'))} chain chosen, "
                   f"{_e(tr.get('seconds', '?'))} s.")
    pins = tr.get("pinning") or {}
    if isinstance(pins, dict) and pins:
        # loss increase when the block alone is reset to neutral (tonemorph.learn.fit)
        learned += (" How firmly the example pins each block (loss increase if reset to "
                    "neutral): " + ", ".join(f"{_e(k)} {100 * float(v):+.1f} %"
                                             for k, v in pins.items()) + ".")
    if tr.get("held_for_levels"):
        learned += (" Kept for the example's level distribution (resetting them barely moves "
                    "the loss but raises its level terms): "
                    + ", ".join(_e(b) for b in tr["held_for_levels"]) + ".")
    sel = tr.get("selection") or {}
    if tr.get("drive_held_db") is not None:
        gap = sel.get("attacks gap dB")
        why = (f" (by {-float(gap):.1f} dB)" if isinstance(gap, (int, float))
               and math.isfinite(gap) else "")
        learned += (f" Learned again with the drive held at {float(tr['drive_held_db']):+.0f} "
                    f"dB: fitted freely, a hard drive flattened the example's attacks{why}, "
                    "levelling what the example's sag or compressor does.")
    squeeze = sel.get("level range / linear")
    if (tr.get("chosen") == "nonlinear" and isinstance(squeeze, (int, float))
            and math.isfinite(squeeze)):
        learned += (f" The example's louder levels span {float(squeeze):.2f}x the range a "
                    "filter alone leaves the input's (under 1: the tone squeezes levels, as "
                    "a compressor, sag or drive does).")
    linear_reason = why_linear(tr)
    if linear_reason:
        learned += " " + linear_reason
    judged = sel.get("stretch judged")
    for longer, shorter in (("take", "example"), ("example", "take")):
        n = sel.get(f"stretches of the {longer}")
        if isinstance(n, (int, float)) and isinstance(judged, (int, float)):
            learned += (f" The {shorter} is much shorter than the {longer}: the chains were "
                        f"compared on the stretch of the {longer} as long as the {shorter} "
                        f"that is played most like it (levels nearest; stretch "
                        f"{int(judged) + 1} of {int(n)}).")
    if tr.get("cab_match"):
        learned += f" Cabinet matched to the example {_e(tr['cab_match'])}."
    if tr.get("simplified"):
        learned += (" Left neutral because the example does not need them: "
                    + ", ".join(_e(b) for b in tr["simplified"]) + ".")
    notes = [str(w) for w in tr.get("warnings", []) or []]
    if tr.get("interrupted"):
        notes.insert(0, "learning was interrupted: this is the best model found until then")
    warn = "".join(f'<p class="warn">{_e(n)}</p>' for n in notes)
    return (f'<p class="note">Signal flows left to right; every knob in its unit.{learned}</p>'
            f'{warn}<div class="chain">{"".join(parts)}</div>')


def _metrics(data: ReportData) -> str:
    ov, iv = data.metrics["output_vs_target"], data.metrics["input_vs_target"]
    rows = []
    for key, (label, unit, why) in METRIC_ROWS.items():
        o, i = ov[key], iv[key]
        signed = key.endswith("_diff") or key.endswith("_diff_db")
        if math.isfinite(o) and math.isfinite(i):
            closer = abs(o) < abs(i)
            mark = ('<span class="good">closer</span>' if closer
                    else '<span class="bad">not closer</span>')
        else:
            mark = ""
        rows.append(f"<tr><td>{_e(label)}</td><td>{_num(o, signed)} {unit}</td>"
                    f"<td>{_num(i, signed)} {unit}</td><td>{mark}</td>"
                    f'<td class="why">{_e(why)}</td></tr>')
    stats = []
    for key, (label, unit) in STAT_ROWS.items():
        cells = "".join(f"<td>{_num(data.stats[k][key])} {unit}</td>" for k in PLAYERS)
        stats.append(f"<tr><td>{_e(label)}</td>{cells}</tr>")
    warn = ""
    peak = data.stats["output"]["true_peak_dbtp"]
    if math.isfinite(peak) and peak > 0.0:
        warn = (f'<p class="warn">The output peaks at {peak:+.1f} dBTP, above full scale: a '
                f"fixed-point file would clip. Apply with --level {-math.ceil(peak + 1):d} "
                "(or lower) to keep 1 dB of headroom.</p>")
    warn += _attacks_warning(ov.get("peaks_diff_db", math.nan))
    cut = ""
    if data.target_end_hz is not None:
        cut = (f" The target's spectrum ends at {data.target_end_hz / 1000:.1f} kHz (a lossy "
               "file): the spectra are compared below that.")
    return (warn + '<p class="note">Unpaired distances (distributions, nothing compared '
            "sample by sample: the recordings may play different notes). Lower is better; "
            "signed values are "
            f"output or input minus target.{_e(cut)}</p>"
            '<table class="m"><tr><th>measure</th><th>output vs target</th>'
            "<th>input vs target</th><th></th><th></th></tr>" + "".join(rows) + "</table>"
            '<h2 style="margin-top:18px;font-size:15px">The three recordings</h2>'
            '<table class="m"><tr><th></th><th>input</th><th>output</th><th>target</th></tr>'
            + "".join(stats) + "</table>")


def _attacks_warning(diff_db: float) -> str:
    """A warning paragraph when the output's attacks stand ATTACKS_FLOOR_DB (dB) or more lower
    or higher over its level than the target's (beyond it the difference is the learned
    tone's); empty otherwise."""
    if not math.isfinite(diff_db) or abs(diff_db) < ATTACKS_FLOOR_DB:
        return ""
    if diff_db < 0:
        what = (f"The output's note attacks stand {-diff_db:.1f} dB lower over its level than "
                "the reference's: the learned tone flattens attacks that the reference's gear "
                "lets through (a slow compressor learned as saturation, for one)")
    else:
        what = (f"The output's note attacks stand {diff_db:.1f} dB higher over its level than "
                "the reference's: the reference's gear tames attacks that the learned tone "
                "lets through")
    return (f'<p class="warn">{_e(what)}. Two takes of other notes through the same gear '
            f"differ by less than {ATTACKS_FLOOR_DB:.0f} dB in this measure, so listen to the "
            "attacks before you keep this tone; "
            "--quality best or a longer example with soft and hard playing may learn "
            "them better.</p>")


def _verdict(data: ReportData) -> str:
    ov, iv = data.metrics["output_vs_target"], data.metrics["input_vs_target"]
    keys = [k for k in METRIC_ROWS if math.isfinite(ov[k]) and math.isfinite(iv[k])]
    closer = sum(abs(ov[k]) < abs(iv[k]) for k in keys)
    return (f"The processed take is closer to the reference than your take on {closer} of "
            f"{len(keys)} measures; spectrum by level {_num(iv['level_binned_db'])} → "
            f"{_num(ov['level_binned_db'])} dB.")


def _drive(data: ReportData) -> str:
    st = data.tone.config.stages
    left = (_img(data, "shaper", "waveshaper transfer curve") if "drive" in st else
            '<p class="note">This tone has no drive stage: it is clean.</p>')
    right = (_img(data, "dynamics", "compressor static curve") if "dynamics" in data.images
             else '<p class="note">This tone has no sag or compressor stage.</p>')
    return ('<p class="note">Left: how the drive bends the waveform (flat top = clipping; a '
            "bias makes the halves clip differently, adding even harmonics). Right: level out "
            "against level in of the sag and compressor (below the 1:1 line = gain reduction; "
            "timing is set by attack and release).</p>"
            f'<div class="pair"><div>{left}</div><div>{right}</div></div>')


def render_html(data: ReportData) -> str:
    """The whole report page as one HTML string."""
    from tonemorph import __version__

    eq = _img(data, "eq", "EQ and cabinet frequency response") or (
        '<p class="note">This tone has no EQ or cabinet stage.</p>')
    body = {
        "listen": _listen(data),
        "chain": _chain(data),
        "metrics": _metrics(data),
        "eq": ('<p class="note">Each linear stage from its learned parameters; the dashed line '
               "adds them with the gains (small-signal view, drive and dynamics idle).</p>"
               + eq),
        "drive": _drive(data),
        "spectra": ('<p class="note">Average spectrum of each quarter of the frames, from the '
                    "quietest to the loudest playing (each signal by its own levels): a good "
                    "match follows the target at every level, not only on average.</p>"
                    + _img(data, "spectra", "level-binned spectra")),
        "loudness": ('<p class="note">How often each short-term level and crest factor occurs; '
                     "compression narrows the level spread, clipping lowers the crest.</p>"
                     + _img(data, "loudness", "loudness and crest histograms")),
    }
    nav = "".join(f'<a href="#{k}">{_e(v.split(":")[0])}</a>' for k, v in SECTIONS.items())
    sections = "".join(f'<section id="{k}"><h2>{_e(SECTIONS[k])}</h2>{body[k]}</section>'
                       for k in SECTIONS)
    blob = json.dumps(data.json_summary(), allow_nan=False, separators=(",", ":"))
    blob = blob.replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tonemorph report: {_e(data.title)}</title><style>{_CSS}</style></head><body>"
        f'<header><div class="wrap"><h1>tonemorph report</h1>'
        f'<div class="sub">{_e(data.title)} · {data.sample_rate} Hz analysis · '
        f"{_e(data.created)} · tonemorph {_e(__version__)}</div>"
        f'<div class="verdict">{_e(_verdict(data))}</div><nav>{nav}</nav></div></header>'
        f'<main class="wrap">{sections}</main>'
        f'<footer class="wrap">Made by tonemorph from {_e(data.sources["model"])}. '
        "Everything on this page is inside this one file.</footer>"
        f'<script type="application/json" id="report-data">{blob}</script>'
        f"<script>{_JS}</script></body></html>\n")
