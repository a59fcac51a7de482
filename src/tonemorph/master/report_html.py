"""The mastering report as one self-contained HTML page (inline CSS, data: URIs only), in the
style of the tone report (`tonemorph.report`): the EQ curves applied, loudness and crest
histograms of mix, master and reference, and A/B/C players matched in loudness."""

from __future__ import annotations

import html
import io
import json
import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from tonemorph.dsp.loudness import integrated_lufs
from tonemorph.io.paths import write_text_atomic
from tonemorph.master.report import MasterReport, summary_rows
from tonemorph.pages import measures as A
from tonemorph.pages import plots as P

__all__ = ["render_master_html", "write_master_html"]

_PLAYER_S = 12.0  # seconds per player: enough to judge, small enough to embed three times
_PLAYERS = (("mix", "A", "the mix (before)"), ("master", "B", "the master (after)"),
            ("reference", "C", "the reference"))

_CSS = """
:root{--ink:#212529;--mute:#6c757d;--line:#dee2e6;--card:#fff;--bg:#f4f5f7}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:#1f2430;color:#f8f9fa;padding:28px 0 22px}
.wrap{max-width:1120px;margin:0 auto;padding:0 24px}
header h1{margin:0;font-size:26px;font-weight:650}
header .sub{color:#ced4da;margin-top:6px;font-size:14px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;
margin:20px 0;padding:18px 22px}
h2{font-size:18px;margin:0 0 4px}
p.note{color:var(--mute);margin:2px 0 12px;font-size:13.5px}
p.warn{background:#fff4e6;border-left:4px solid #f08c00;padding:8px 12px;font-size:14px}
.players{display:grid;grid-template-columns:repeat(3,1fr);gap:14px}
.player{border:1px solid var(--line);border-radius:8px;padding:12px;border-top:4px solid}
.player.mix{border-top-color:#8c939d}.player.master{border-top-color:#e8590c}
.player.reference{border-top-color:#1971c2}
.player .tag{font-weight:700;font-size:20px;margin-right:8px}
audio{width:100%}
table.m{border-collapse:collapse;width:100%;font-size:14px}
table.m th,table.m td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:right}
table.m th:first-child,table.m td:first-child{text-align:left}
img{max-width:100%;height:auto;display:block;margin:6px auto}
footer{color:var(--mute);font-size:12.5px;padding:8px 0 30px}
@media (max-width:800px){.players{grid-template-columns:1fr}}
"""

# pressing play on one player pauses the others
_JS = """
(function(){var ps=[].slice.call(document.querySelectorAll('audio'));
ps.forEach(function(p){p.addEventListener('play',function(){ps.forEach(function(q){
if(q!==p){q.pause();}});});});})();
"""


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _flac(x: np.ndarray, sample_rate: int) -> bytes:
    """(channels, n) audio as a 16-bit FLAC file in memory (stereo stays stereo: width is
    part of a master)."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1.0, 1.0).T.astype(np.float32), int(sample_rate), format="FLAC",
             subtype="PCM_16")
    return buf.getvalue()


def _match(clips: list[np.ndarray], sample_rate: int) -> tuple[list[np.ndarray], float]:
    """Clips scaled to one integrated loudness (LUFS): -16 or lower, so no sample peak passes
    -1 dBFS."""
    lufs = [integrated_lufs(c, sample_rate) for c in clips]
    peaks = [20.0 * math.log10(float(np.max(np.abs(c))) + 1e-12) for c in clips]
    target = min([-16.0] + [-1.0 - (p - lv) for p, lv in zip(peaks, lufs)])
    return [c * 10.0 ** ((target - lv) / 20.0) for c, lv in zip(clips, lufs)], target


def _players(rate: int, audio: dict[str, np.ndarray]) -> str:
    """A/B/C players: the same window of mix and master, the reference's loudest, matched."""
    start, stop = A.excerpt_window(audio["mix"].mean(axis=0), rate, _PLAYER_S)
    rs, re_ = A.excerpt_window(audio["reference"].mean(axis=0), rate, _PLAYER_S)
    clips = [audio["mix"][:, start:stop], audio["master"][:, start:stop],
             audio["reference"][:, rs:re_]]
    matched, lufs = _match([np.asarray(c, dtype=np.float64) for c in clips], rate)
    cards = []
    for (key, tag, what), clip in zip(_PLAYERS, matched):
        uri = A.data_uri(_flac(clip, rate), "audio/flac")
        cards.append(f'<div class="player {key}"><span class="tag">{tag}</span>'
                     f"<b>{_e(what)}</b><audio controls preload=\"metadata\" src=\"{uri}\">"
                     "</audio></div>")
    return (f'<p class="note">{_PLAYER_S:.0f} s of the loudest sections, all three matched to '
            f"{lufs:.1f} LUFS so that loudness does not decide which sounds better; A and B "
            f'are the same moment.</p><div class="players">{"".join(cards)}</div>')


def _eq_plot(doc: MasterReport) -> str:
    """The EQ curves applied (mid, side) over third octaves."""
    st = doc.settings
    if not st.get("eq_curve_hz") or not st.get("eq_mid_curve_db"):
        return '<p class="note">No EQ was applied (EQ not matched, or amount 0).</p>'
    hz = np.asarray(st["eq_curve_hz"])
    curves = {"output": np.asarray(st["eq_mid_curve_db"])}
    labels = {"output": "mid"}
    if st.get("eq_side_curve_db"):
        curves["target"] = np.asarray(st["eq_side_curve_db"])
        labels["target"] = "side"
    png = P.response_plot(hz, curves, labels, "EQ applied")
    return ('<p class="note">The EQ the master applied. Only balance differences that hold '
            "across sections of both tracks are matched: the rest is the reference's "
            "music, not its mastering.</p>"
            f'<img alt="EQ curves" src="{A.data_uri(png, "image/png")}">')


def _histograms(rate: int, audio: dict[str, np.ndarray]) -> str:
    """Short-term loudness and crest histograms of mix, master and reference."""
    keys = {"mix": "input", "master": "output", "reference": "target"}
    mid = {src: np.asarray(a, dtype=np.float64).mean(axis=0) for src, a in audio.items()}
    levels = {k: A.short_term_levels_db(mid[src], rate) for src, k in keys.items()}
    crest = {k: A.window_crest_db(mid[src], rate) for src, k in keys.items()}
    png = P.histogram_plot([levels, crest], ["short-term level (dB)", "crest factor (dB)"],
                           ["loudness", "crest"])
    return ('<p class="note">How often each short-term level and crest factor occurs over the '
            "analysed excerpts (input = mix, output = master, target = reference): "
            "compression narrows the level spread, limiting and clipping lower the crest.</p>"
            f'<img alt="loudness and crest histograms" src="{A.data_uri(png, "image/png")}">')


def _table(doc: MasterReport) -> str:
    rows = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>"
                   for row in summary_rows(doc))
    return ('<table class="m"><tr><th></th><th>mix</th><th>master</th><th>reference</th></tr>'
            f"{rows}</table>")


def render_master_html(doc: MasterReport, sample_rate: int, *, mix: np.ndarray,
                       mastered: np.ndarray, reference: np.ndarray) -> str:
    """The page for a run: (channels, n) excerpts of mix, master (same window) and reference."""
    from tonemorph import __version__

    audio = {"mix": mix, "master": mastered, "reference": reference}
    notes = "".join(f'<p class="warn">{_e(n)}</p>' for n in doc.notes)
    sections = [("listen", "Listen: A / B / C", _players(sample_rate, audio)),
                ("changes", "What changed", notes + _table(doc)),
                ("eq", "EQ applied", _eq_plot(doc)),
                ("loudness", "Loudness and dynamics", _histograms(sample_rate, audio))]
    body = "".join(f'<section id="{k}"><h2>{_e(t)}</h2>{b}</section>' for k, t, b in sections)
    blob = json.dumps(doc.to_dict(), allow_nan=False, separators=(",", ":")).replace("</",
                                                                                       "<\\/")
    track = doc.track
    # several references read "a.wav:0.50, b.wav:0.50": the title named a.wav:0.50 alone
    refs = doc.reference.split(", ")
    names = [Path(r if len(refs) == 1 else r.rpartition(":")[0]).name for r in refs]
    title = f"{Path(track.mix).name} mastered to {' + '.join(names)}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tonemorph master: {_e(title)}</title><style>{_CSS}</style></head><body>"
        '<header><div class="wrap"><h1>tonemorph mastering report</h1>'
        f'<div class="sub">{_e(title)} · target {doc.target_lufs:.1f} LUFS, ceiling '
        f"{doc.ceiling_dbtp:.1f} dBTP · {_fmt_amounts(doc)} · tonemorph {_e(__version__)}"
        f'</div></div></header><main class="wrap">{body}</main>'
        '<footer class="wrap">Everything on this page is inside this one file.</footer>'
        f'<script type="application/json" id="report-data">{blob}</script>'
        f"<script>{_JS}</script></body></html>\n")


def _fmt_amounts(doc: MasterReport) -> str:
    """"eq 0.5, dynamics 1.0, ..." or "amount 1.0"."""
    if not doc.amounts:
        return f"amount {doc.amount:.2f}"
    return ", ".join(f"{k} {v:.2f}" for k, v in doc.amounts.items() if math.isfinite(v))


def write_master_html(path: str | os.PathLike[str], doc: MasterReport, sample_rate: int, *,
                      mix: np.ndarray, mastered: np.ndarray, reference: np.ndarray,
                      overwrite: bool = True) -> Path:
    """Write `render_master_html` atomically; returns the path."""
    page = render_master_html(doc, sample_rate, mix=mix, mastered=mastered, reference=reference)
    return write_text_atomic(path, page, overwrite=overwrite)
