"""Reference mastering in real use: the reference is a *different* song (or section).

Each case: mix = a 20 s premaster clip of one piece (``--clip-s`` for longer ones), reference =
a clip of another piece (or another section of the same one); both go through the same
third-party mastering chain (EQ, compression, saturation, limiting); the truth is chain(mix).
Scored on the truth (DESIGN §5, `tonemorph.metrics.score`: aligned, no loudness normalisation):
MR-STFT, level-binned spectrum error, log-mel, LUFS error, crest error, and the output's true
peak. tonemorph, Matchering 2.0.6
and a static match-EQ (`tonemorph.dsp.matcheq.apply_match_eq`) run side by side in one run.

Chains (pedalboard, GPL, bench only; sox): three are used while tuning (``t_*``), two are held
out of all tuning (``h_*``) and reported separately. Each chain's true EQ curve (its linear
filters on an impulse) is plotted beside the EQ curve tonemorph applied, per case. ``--wide``
runs every pair through every tuning chain, two more among them: an open master (EQ and gentle
compression, peaks left below full scale) and a loud master turned down 8 dB (as a streaming
service plays it), the two kinds of reference whose peaks sit below the ceiling. ``--loud``
runs every pair through two loud masters (``t_hot``, ``t_hotter``: fast compression, 14 / 20
dB into a limiter on sample peaks, so their true peaks pass 0 dBTP), tuning chains too: a
reference whose loudness is out of reach under a -1 dBTP ceiling.

Music (CC BY-SA 3.0, Debian packages ``singularity-music``, ``hyperrogue-music``), decoded with
``sox``; premasters are normalised to -20 LUFS (a mix engineer's level, before mastering).

    sudo apt-get install sox singularity-music hyperrogue-music
    .venv/bin/pip install matchering==2.0.6 pedalboard
    .venv/bin/python bench/bench_master_pairs.py [--only t_ h_] [--tools tonemorph] [--wide]
        [--loud]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from measure import MATCHERING_CLI, run_measured

from tonemorph.dsp.loudness import integrated_lufs, true_peak_dbtp
from tonemorph.dsp.matcheq import apply_match_eq
from tonemorph.metrics import score

RATE = 44100
CLIP_S = 20.0
PREMASTER_LUFS = -20.0
SING = Path("/usr/share/games/singularity/music")
HYPER = Path("/usr/share/hyperrogue/music")
# piece: (file, package, author)
PIECES = {
    "aberrations": (SING / "Aberrations.ogg", "singularity-music", "Max McCracken"),
    "journey": (SING / "A New Journey.ogg", "singularity-music", "Max McCracken"),
    "nebula": (SING / "Nebula.ogg", "singularity-music", "Max McCracken"),
    "graveyard": (HYPER / "hr3-graveyard.ogg", "hyperrogue-music", "Shawn Parrotte"),
    "jungle": (HYPER / "hr3-jungle.ogg", "hyperrogue-music", "Shawn Parrotte"),
    "mountain": (HYPER / "hr-domina-mountain.ogg", "hyperrogue-music", "Lincoln Domina"),
    "palace": (HYPER / "hr-savino-palace.ogg", "hyperrogue-music", "Will Savino"),
}
# (mix piece, start s), (reference piece, start s): 10 pairs over 7 pieces, 4 composers;
# two are other sections of the same piece
PAIRS = [
    (("aberrations", 30), ("aberrations", 100)),
    (("aberrations", 30), ("journey", 60)),
    (("journey", 60), ("graveyard", 30)),
    (("graveyard", 30), ("jungle", 20)),
    (("jungle", 20), ("mountain", 30)),
    (("mountain", 30), ("palace", 20)),
    (("palace", 20), ("nebula", 60)),
    (("nebula", 60), ("aberrations", 30)),
    (("graveyard", 80), ("graveyard", 30)),
    (("mountain", 30), ("journey", 60)),
]
TUNING = ("t_gentle", "t_warm", "t_loud")
HELD_OUT = ("h_sox", "h_compfirst")
# tuning chains of the wide run only (`--wide`): masters that do not end at full scale
EXTRA_TUNING = ("t_open", "t_norm")
# loud masters, limited on sample peaks (true peaks over 0 dBTP), of the loud run (`--loud`)
LOUD = ("t_hot", "t_hotter")


@dataclass(frozen=True)
class Chain:
    """A third-party mastering chain: full processing and its linear EQ part alone."""

    name: str
    held_out: bool

    def boards(self):
        """(full pedalboard, EQ-only pedalboard) or (None, None) for sox chains."""
        import pedalboard as pb

        if self.name == "t_gentle":
            eq = [pb.LowShelfFilter(100.0, 2.0, 0.7), pb.HighShelfFilter(8000.0, 3.0, 0.7)]
            dyn = [pb.Gain(6.0), pb.Compressor(-18.0, 2.0, 10.0, 150.0), pb.Limiter(-1.0, 100.0)]
        elif self.name == "t_warm":
            eq = [pb.LowShelfFilter(120.0, 3.0, 0.7), pb.PeakFilter(3000.0, -2.0, 0.7),
                  pb.HighShelfFilter(10000.0, -2.0, 0.7)]
            dyn = [pb.Compressor(-22.0, 3.0, 15.0, 200.0), pb.Gain(4.0), pb.Distortion(4.0),
                   pb.Gain(2.0), pb.Limiter(-1.0, 80.0)]
        elif self.name == "t_loud":
            eq = [pb.HighpassFilter(30.0), pb.HighShelfFilter(5000.0, 4.0, 0.7),
                  pb.PeakFilter(400.0, -1.5, 1.0)]
            dyn = [pb.Compressor(-16.0, 4.0, 3.0, 80.0), pb.Gain(8.0), pb.Limiter(-0.5, 60.0)]
        elif self.name == "t_open":
            # an open master (acoustic, jazz, film): EQ and gentle compression, no limiter,
            # the peaks left where the music puts them, below full scale
            eq = [pb.HighpassFilter(25.0), pb.LowShelfFilter(150.0, 1.5, 0.7),
                  pb.HighShelfFilter(9000.0, 2.0, 0.7)]
            dyn = [pb.Compressor(-24.0, 1.8, 20.0, 250.0), pb.Gain(4.0)]
        elif self.name == "t_norm":
            # a loud master as a streaming service plays it: limited, then turned down 8 dB
            eq = [pb.HighShelfFilter(6000.0, 2.5, 0.7), pb.LowShelfFilter(90.0, 2.0, 0.7)]
            dyn = [pb.Compressor(-18.0, 3.0, 5.0, 120.0), pb.Gain(9.0), pb.Limiter(-0.3, 80.0),
                   pb.Gain(-8.0)]
        elif self.name in LOUD:
            # a modern loud master: fast compression, 14 / 20 dB into a sample-peak limiter
            eq = [pb.HighShelfFilter(7000.0, 2.0, 0.7)]
            dyn = [pb.Compressor(-20.0, 3.0, 5.0, 100.0),
                   pb.Gain(14.0 if self.name == "t_hot" else 20.0), pb.Limiter(-0.3, 50.0)]
        elif self.name == "h_compfirst":
            eq = [pb.PeakFilter(250.0, 2.5, 0.8), pb.HighShelfFilter(12000.0, 2.0, 0.7),
                  pb.LowShelfFilter(60.0, -2.0, 0.7)]
            comp = [pb.Compressor(-24.0, 2.5, 30.0, 300.0), pb.Gain(6.0)]
            return (pb.Pedalboard([*comp, *eq, pb.Clipping(-2.0), pb.Limiter(-1.0, 100.0)]),
                    pb.Pedalboard(eq))
        else:
            return None, None
        return pb.Pedalboard([*eq, *dyn]), pb.Pedalboard(eq)

    # sox: bass/treble shelves and a peaking band, compand with a steep top (limiting), gain
    SOX_EQ = ("bass", "+3", "90", "equalizer", "2500", "1.5q", "+2", "treble", "-3", "8000")
    SOX_DYN = ("compand", "0.005,0.15", "6:-70,-70,-30,-24,-12,-12,0,-6", "0", "-90",
               "gain", "2", "compand", "0.001,0.05", "-90,-90,-4,-4,0,-1.5", "0", "-90")

    def process(self, x: np.ndarray, tmp: Path) -> np.ndarray:
        """(2, n) float32 through the whole chain."""
        full, _ = self.boards()
        if full is not None:
            return full(x, RATE).astype(np.float32)
        return _sox(x, tmp, *self.SOX_EQ, *self.SOX_DYN)

    def eq_curve_db(self, freqs: np.ndarray, tmp: Path) -> np.ndarray:
        """Magnitude (dB) of the chain's linear EQ at freqs (Hz), from an impulse."""
        n = 1 << 16
        imp = np.zeros((2, n), np.float32)
        imp[:, 100] = 0.25
        _, eq = self.boards()
        y = eq(imp, RATE) if eq is not None else _sox(imp, tmp, *self.SOX_EQ)
        spec = np.abs(np.fft.rfft(y[0].astype(np.float64) / 0.25))
        f = np.fft.rfftfreq(n, 1.0 / RATE)
        return np.interp(freqs, f, 20 * np.log10(np.maximum(spec, 1e-9)))


CHAINS = {n: Chain(n, n in HELD_OUT) for n in (*TUNING, *EXTRA_TUNING, *LOUD, *HELD_OUT)}


def _sox(x: np.ndarray, tmp: Path, *effects: str) -> np.ndarray:
    """Run sox effects on (channels, n) float32 audio (float WAV in and out)."""
    src, dst = tmp / "sox_in.wav", tmp / "sox_out.wav"
    sf.write(src, x.T, RATE, subtype="FLOAT")
    subprocess.run(["sox", "-D", str(src), "-e", "floating-point", str(dst), *effects],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    y, _ = sf.read(dst, dtype="float32", always_2d=True)
    return np.ascontiguousarray(y.T[:, : x.shape[1]])


def clip(piece: str, start: float, cache: Path, seconds: float = CLIP_S) -> np.ndarray:
    """A premaster clip (2, n) float32 of `seconds` (or to the piece's end), normalised to
    PREMASTER_LUFS."""
    dst = cache / (f"{piece}_{start:g}.wav" if seconds == CLIP_S
                   else f"{piece}_{start:g}_{seconds:g}s.wav")
    if not dst.exists():
        src = PIECES[piece][0]
        subprocess.run(["sox", str(src), "-e", "floating-point", "-b", "32", str(dst), "rate",
                        str(RATE), "channels", "2", "trim", str(start), str(seconds)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    x, _ = sf.read(dst, dtype="float32", always_2d=True)
    x = np.ascontiguousarray(x.T)
    return (x * 10 ** ((PREMASTER_LUFS - integrated_lufs(x, RATE)) / 20)).astype(np.float32)


def run_tonemorph(mix: Path, ref: Path) -> tuple[np.ndarray, dict]:
    """tonemorph's master in this process; (audio, settings summary)."""
    from tonemorph.master import master

    rep = master(mix, ref, None)
    return rep.track.audio, rep.settings


def run_matchering(mix: Path, ref: Path, tmp: Path) -> np.ndarray:
    """Matchering 2.0.6 (float output, its own limiter)."""
    import matchering as mg

    mg.log(lambda *a, **k: None)
    out = tmp / "mg.wav"
    mg.process(target=str(mix), reference=str(ref), results=[mg.Result(str(out), "FLOAT")])
    y, _ = sf.read(out, dtype="float32", always_2d=True)
    return np.ascontiguousarray(y.T)


def run_matcheq(mix: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Static match-EQ (long-term spectrum ratio, 1/6 octave, FIR) + active-RMS match."""
    return apply_match_eq(mix, ref, RATE).astype(np.float32)


THIRD_OCT_HZ = 1000.0 * 2.0 ** (np.arange(-15, 15) / 3.0)  # 31.5 Hz .. 16 kHz


def applied_curve(settings: dict) -> np.ndarray | None:
    """tonemorph's applied mid EQ at THIRD_OCT_HZ (dB), from its settings summary."""
    hz, db = settings.get("eq_curve_hz"), settings.get("eq_mid_curve_db")
    if not hz or not db:
        return None
    return np.interp(np.log(THIRD_OCT_HZ), np.log(hz), db)


def curve_error_db(applied: np.ndarray, true: np.ndarray) -> float:
    """Mean |applied - true| (dB) over 1/3 octaves 40 Hz..16 kHz, broadband offset removed."""
    band = (THIRD_OCT_HZ >= 40) & (THIRD_OCT_HZ <= 16500)
    d = applied[band] - true[band]
    return float(np.mean(np.abs(d - np.median(d))))


def run_case(name: str, chain: Chain, mix_spec, ref_spec, cache: Path, tools,
             clip_s: float = CLIP_S, ref_mp3: float | None = None) -> dict:
    """One (pair, chain) case: every tool, scored on the truth. With `ref_mp3`, every tool
    gets the reference as an MP3 of that libsndfile quality (0 best .. 1 smallest)."""
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        mix = clip(*mix_spec, cache, clip_s)
        ref_pre = clip(*ref_spec, cache, clip_s)
        truth = chain.process(mix, tmp)
        ref = chain.process(ref_pre, tmp)
        mix_p, ref_p = tmp / "mix.wav", tmp / "ref.wav"
        sf.write(mix_p, mix.T, RATE, subtype="FLOAT")
        sf.write(ref_p, ref.T, RATE, subtype="FLOAT")
        if ref_mp3 is not None:
            # what a user downloads: the codec's low-pass ends the reference's spectrum
            ref_p = tmp / "ref.mp3"
            sf.write(ref_p, ref.T, RATE, compression_level=ref_mp3)
            ref = np.ascontiguousarray(sf.read(ref_p, dtype="float32", always_2d=True)[0].T)
        true_curve = chain.eq_curve_db(THIRD_OCT_HZ, tmp)
        entry: dict = {"chain": chain.name, "held_out": chain.held_out,
                       "mix": f"{mix_spec[0]}@{mix_spec[1]}", "ref": f"{ref_spec[0]}@{ref_spec[1]}",
                       "truth_lufs": integrated_lufs(truth, RATE),
                       "ref_lufs": integrated_lufs(ref, RATE),
                       "true_curve_db": true_curve.tolist()}
        for tool in tools:
            t0 = time.monotonic()
            settings = None
            if tool == "tonemorph":
                y, settings = run_tonemorph(mix_p, ref_p)
            elif tool == "matchering":
                y = run_matchering(mix_p, ref_p, tmp)
            else:
                y = run_matcheq(mix, ref)
            wall = time.monotonic() - t0
            s = score(y, truth, RATE)
            s.update(true_peak_dbtp=true_peak_dbtp(y, RATE), wall_s=wall,
                     lufs_err_ref=integrated_lufs(y, RATE) - entry["ref_lufs"])
            if settings is not None:
                curve = applied_curve(settings)
                if curve is not None:
                    s["applied_curve_db"] = curve.tolist()
                    s["curve_err_db"] = curve_error_db(curve, true_curve)
            entry[tool] = s
    return entry


def cases(wide: bool = False, loud: bool = False) -> list[tuple[str, str, tuple, tuple]]:
    """(case name, chain, mix, ref): each pair with one tuning chain (rotating) and one
    held-out chain (alternating); `wide`: each pair with every tuning chain, the open and
    normalised masters included, and no held-out chain; `loud`: each pair with the loud
    masters only."""
    out = []
    for i, (m, r) in enumerate(PAIRS):
        if loud:
            chains: tuple[str, ...] = LOUD
        elif wide:
            chains = (*TUNING, *EXTRA_TUNING)
        else:
            chains = (TUNING[i % len(TUNING)], HELD_OUT[i % len(HELD_OUT)])
        for chain in chains:
            out.append((f"p{i}_{chain}", chain, m, r))
    return out


TOOLS = ("tonemorph", "matchering", "matcheq")
METRICS = (("mrstft", "MR-STFT", "{:.3f}"), ("level_binned_db", "level-binned dB", "{:.2f}"),
           ("logmel_db", "log-mel dB", "{:.2f}"), ("lufs_err", "LUFS err", "{:+.2f}"),
           ("crest_err_db", "crest err dB", "{:+.2f}"), ("true_peak_dbtp", "TP dBTP", "{:.2f}"))


def tables(results: dict) -> str:
    """Markdown: per-case rows per tool, then means, tuning and held-out chains apart."""
    lines = []
    for title, held in (("Tuning chains", False), ("Held-out chains (never tuned on)", True)):
        rows = {k: v for k, v in results["cases"].items() if v["held_out"] == held}
        if not rows:
            continue
        tools = [t for t in TOOLS if all(t in v for v in rows.values())]
        lines += [f"### {title}", "",
                  "| case | mix -> ref | tool | " + " | ".join(m[1] for m in METRICS)
                  + " | EQ curve err dB |", "|---" * (len(METRICS) + 4) + "|"]
        for case, v in rows.items():
            for t in tools:
                s = v[t]
                cells = [fmt.format(s[k]) for k, _, fmt in METRICS]
                ce = f"{s['curve_err_db']:.2f}" if "curve_err_db" in s else ""
                lines.append(f"| {case} | {v['mix']} -> {v['ref']} | {t} | "
                             + " | ".join(cells) + f" | {ce} |")
        lines += ["", "| mean | tool | MR-STFT | level-binned dB | log-mel dB | abs LUFS err "
                  "| abs crest err dB | max TP dBTP | MR-STFT < Matchering | LB < Matchering |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for t in tools:
            vals = list(rows.values())
            mr = np.mean([v[t]["mrstft"] for v in vals])
            lb = np.mean([v[t]["level_binned_db"] for v in vals])
            lm = np.mean([v[t]["logmel_db"] for v in vals])
            le = np.mean([abs(v[t]["lufs_err"]) for v in vals])
            ce = np.mean([abs(v[t]["crest_err_db"]) for v in vals])
            tp = max(v[t]["true_peak_dbtp"] for v in vals)
            wins = ""
            if "matchering" in tools and t != "matchering":
                w1 = sum(v[t]["mrstft"] < v["matchering"]["mrstft"] for v in vals)
                w2 = sum(v[t]["level_binned_db"] < v["matchering"]["level_binned_db"]
                         for v in vals)
                wins = f"| {w1}/{len(vals)} | {w2}/{len(vals)}"
            else:
                wins = "| | "
            lines.append(f"| {title.split()[0].lower()} | {t} | {mr:.3f} | {lb:.2f} | {lm:.2f} "
                         f"| {le:.2f} | {ce:.2f} | {tp:.2f} {wins} |")
        if "matchering" in tools and "tonemorph" in tools:
            vals = list(rows.values())
            r_mr = (np.mean([v["tonemorph"]["mrstft"] for v in vals])
                    / np.mean([v["matchering"]["mrstft"] for v in vals]))
            r_lb = (np.mean([v["tonemorph"]["level_binned_db"] for v in vals])
                    / np.mean([v["matchering"]["level_binned_db"] for v in vals]))
            lines.append(f"\ntonemorph / Matchering mean: MR-STFT {r_mr:.2f}x, level-binned "
                         f"{r_lb:.2f}x")
        lines.append("")
        lines += chain_means(rows, tools)
    return "\n".join(lines)


def chain_means(rows: dict, tools: list[str]) -> list[str]:
    """Markdown lines: means per chain and tool, where a group holds several cases a chain."""
    chains = sorted({v["chain"] for v in rows.values()})
    if len(rows) <= len(chains):
        return []
    lines = ["| chain | tool | MR-STFT | level-binned dB | abs LUFS err | abs crest err dB "
             "| signed crest err dB | max TP dBTP |", "|---|---|---|---|---|---|---|---|"]
    for chain in chains:
        vals = [v for v in rows.values() if v["chain"] == chain]
        for t in tools:
            col = {k: [v[t][k] for v in vals] for k in
                   ("mrstft", "level_binned_db", "lufs_err", "crest_err_db", "true_peak_dbtp")}
            lines.append(
                f"| {chain} | {t} | {np.mean(col['mrstft']):.3f} "
                f"| {np.mean(col['level_binned_db']):.2f} | {np.mean(np.abs(col['lufs_err'])):.2f} "
                f"| {np.mean(np.abs(col['crest_err_db'])):.2f} "
                f"| {np.mean(col['crest_err_db']):+.2f} | {max(col['true_peak_dbtp']):.2f} |")
    return [*lines, ""]


def plot_curves(results: dict, path: Path) -> None:
    """Applied (tonemorph) vs true chain EQ curve per case, one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [(k, v) for k, v in results["cases"].items()
             if "applied_curve_db" in v.get("tonemorph", {})]
    if not items:
        return
    cols = 4
    rows = (len(items) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), sharex=True,
                             sharey=True, squeeze=False)
    band = (THIRD_OCT_HZ >= 40) & (THIRD_OCT_HZ <= 16500)
    for ax, (k, v) in zip(axes.flat, items):
        true = np.asarray(v["true_curve_db"])
        app = np.asarray(v["tonemorph"]["applied_curve_db"])
        off = np.median(app[band] - true[band])  # loudness is matched apart: compare shapes
        ax.semilogx(THIRD_OCT_HZ, true, "k-", lw=2, label="chain's true EQ")
        ax.semilogx(THIRD_OCT_HZ, app - off, "C1-", label="tonemorph applied")
        ax.set_title(f"{k} ({v['tonemorph'].get('curve_err_db', float('nan')):.1f} dB)",
                     fontsize=8)
        ax.grid(alpha=0.3)
        ax.set_ylim(-12, 12)
    for ax in axes.flat[len(items):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.supxlabel("Hz")
    fig.supylabel("dB")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


SPEED_S = 300.0


def speed_files(cache: Path) -> tuple[Path, Path]:
    """The 5-minute stereo 44.1 kHz 16-bit premaster (two pieces joined, -8 dB) and its
    reference, made with sox into cache once."""
    cache.mkdir(parents=True, exist_ok=True)
    mix, ref = cache / "speed_mix_5min.wav", cache / "speed_ref.wav"
    if not mix.exists():
        subprocess.run(["sox", str(PIECES["aberrations"][0]), str(PIECES["journey"][0]), "-b",
                        "16", str(mix), "rate", str(RATE), "channels", "2", "trim", "0",
                        str(SPEED_S), "gain", "-8"], check=True)
    if not ref.exists():
        subprocess.run(["sox", str(PIECES["graveyard"][0]), "-b", "16", str(ref), "rate",
                        str(RATE), "channels", "2"], check=True)
    return mix, ref


def speed(cache: Path) -> dict:
    """5-minute stereo 44.1 kHz 16-bit premaster (two pieces joined), both tools, one run."""
    mix, ref = speed_files(cache)
    out: dict = {}
    with tempfile.TemporaryDirectory() as td:
        tm_cmd = [sys.executable, "-m", "tonemorph.cli", "master", str(mix), "--reference",
                  str(ref), "-o", str(Path(td) / "tm.wav"), "--force"]
        mg_cmd = [sys.executable, "-c", MATCHERING_CLI, str(mix), str(ref),
                  str(Path(td) / "mg.wav")]
        out["tonemorph"] = run_measured(tm_cmd)
        out["matchering"] = run_measured(mg_cmd)
        probe = ("import sys, runpy; sys.argv = ['tonemorph', 'master', %r, '--reference', %r, "
                 "'-o', %r, '--force'];\ntry:\n    runpy.run_module('tonemorph.cli', "
                 "run_name='__main__')\nexcept SystemExit:\n    pass\n"
                 "print('torch' in sys.modules)") % (str(mix), str(ref), str(Path(td) / "p.wav"))
        res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             check=False)
        out["tonemorph_imports_torch"] = res.stdout.strip().splitlines()[-1:] == ["True"]
    out["load"] = os.getloadavg()
    return out


def speed_table(sp: dict) -> str:
    """Markdown: wall time and peak memory of both tools on the 5-minute file."""
    t, m = sp["tonemorph"], sp["matchering"]
    return "\n".join([
        "| 5-minute stereo 44.1 kHz 16-bit | wall s | peak RSS MB |", "|---|---|---|",
        f"| tonemorph | {t['wall_s']:.1f} | {t['peak_rss_mb']:.0f} |",
        f"| Matchering 2.0.6 | {m['wall_s']:.1f} | {m['peak_rss_mb']:.0f} |",
        f"| Matchering / tonemorph | {m['wall_s'] / t['wall_s']:.2f}x faster | "
        f"{t['peak_rss_mb'] / m['peak_rss_mb']:.2f} of its memory |", "",
        f"tonemorph's master imported torch: {sp['tonemorph_imports_torch']}; load average "
        f"{sp['load'][0]:.1f} on a 2-core machine shared with other jobs (both tools in the "
        "same run, each in its own process).", ""])


def write_outputs(results: dict, where: Path, name: str) -> None:
    """The EQ plot and the markdown tables of a results document."""
    plot_curves(results, where / f"{name}_eq.png")
    md = [f"# Reference mastering, different-song pairs ({name})", "",
          "Generated by `bench/bench_master_pairs.py` in one run "
          f"({results['seconds']:.0f} s, load average {results['machine']['load'][0]:.1f} "
          f"on {results['machine']['cpus']} cores shared with other jobs). Mix and reference are "
          f"different {results.get('clip_s', CLIP_S):g} s clips (different pieces, or other "
          "sections of one piece) through the "
          "same third-party chain; scores are against the truth chain(mix). Applied vs true EQ "
          f"per case: `{name}_eq.png`.", "", tables(results),
          speed_table(results["speed"]) if "speed" in results else "",
          "Music (CC BY-SA 3.0): " + "; ".join(
              f"{Path(v['file']).name} ({v['author']}, Debian {v['package']})"
              for v in results["pieces"].values()), ""]
    (where / f"{name}.md").write_text("\n".join(md))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "cases" / "master_pairs")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--only", nargs="*", help="run only cases whose name contains one of these")
    ap.add_argument("--tools", nargs="*", default=list(TOOLS), choices=TOOLS)
    ap.add_argument("--name", default="master_pairs", help="results file stem")
    ap.add_argument("--render-only", action="store_true",
                    help="only rewrite the markdown and plot from the results JSON")
    ap.add_argument("--clip-s", type=float, default=CLIP_S,
                    help="clip length (s); longer than tonemorph's 20 s of excerpts tests the "
                         "fit on excerpts and the whole-track loudness")
    runs = ap.add_mutually_exclusive_group()
    runs.add_argument("--wide", action="store_true",
                      help="every pair with every tuning chain, the open (t_open) and "
                           "normalised (t_norm) masters included; no held-out chain "
                           "(results stem master_pairs_wide unless --name)")
    runs.add_argument("--loud", action="store_true",
                      help="every pair through two loud masters limited on sample peaks "
                           "(t_hot, t_hotter: true peaks over 0 dBTP), tuning chains "
                           "(results stem master_pairs_loud unless --name)")
    ap.add_argument("--ref-mp3", type=float, metavar="QUALITY",
                    help="give every tool the reference as an MP3 of this libsndfile quality "
                         "(0 best .. 1 smallest; 0.9 ends near 7 kHz); the truth is unchanged")
    ap.add_argument("--speed", action="store_true",
                    help="also time both tools on a 5-minute file (wall, peak memory)")
    ap.add_argument("--others-from", type=Path,
                    help="while iterating: take the tools not run from this earlier results "
                         "file (the published tables come from one run of all tools)")
    args = ap.parse_args()
    for name, (path, pkg, _) in PIECES.items():
        if not path.exists():
            print(f"{path} missing: sudo apt-get install {pkg}", file=sys.stderr)
            return 2
    if args.render_only:
        results = json.loads((args.results / f"{args.name}.json").read_text())
        write_outputs(results, args.results, args.name)
        return 0
    args.cache.mkdir(parents=True, exist_ok=True)
    results: dict = {"cases": {}, "clip_s": args.clip_s, "ref_mp3": args.ref_mp3,
                     "machine": {"python": platform.python_version(),
                                 "cpus": os.cpu_count(), "load": os.getloadavg()},
                     "pieces": {k: {"file": str(v[0]), "package": v[1], "author": v[2],
                                    "license": "CC BY-SA 3.0"} for k, v in PIECES.items()}}
    t0 = time.monotonic()
    if args.wide and args.name == "master_pairs":
        args.name = "master_pairs_wide"
    if args.loud and args.name == "master_pairs":
        args.name = "master_pairs_loud"
    for case, chain, m, r in cases(args.wide, args.loud):
        if args.only and not any(o in case for o in args.only):
            continue
        entry = run_case(case, CHAINS[chain], m, r, args.cache, args.tools, args.clip_s,
                         args.ref_mp3)
        if args.others_from is not None:
            old = json.loads(args.others_from.read_text())["cases"].get(case, {})
            entry.update({t: old[t] for t in TOOLS if t not in args.tools and t in old})
        results["cases"][case] = entry
        shown = [t for t in TOOLS if t in entry]
        print(case, " ".join(f"{t}: mr {entry[t]['mrstft']:.3f} lb "
                             f"{entry[t]['level_binned_db']:.2f} lufs {entry[t]['lufs_err']:+.2f}"
                             f" tp {entry[t]['true_peak_dbtp']:.2f}"
                             + (f" curve {entry[t]['curve_err_db']:.2f}"
                                if "curve_err_db" in entry[t] else "")
                             for t in shown), flush=True)
    results["seconds"] = time.monotonic() - t0
    if args.speed:
        results["speed"] = speed(args.cache)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{args.name}.json").write_text(json.dumps(results, indent=1) + "\n")
    write_outputs(results, args.results, args.name)
    print(tables(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
