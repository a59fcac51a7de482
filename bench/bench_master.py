"""Reference mastering beside Matchering 2.0.6, in one run, on CC-licensed music from Debian.

Material (decoded with sox to 44.1 kHz 16-bit WAV): ``singularity-music`` (Max McCracken,
CC BY-SA 3.0) and ``hyperrogue-music`` (Shawn Parrotte, CC BY-SA 3.0). The premaster is always a
different piece from the reference, turned down and tilted (sox), so level, balance and density
all have to move. References:

- ``clean``: the released track as shipped;
- ``clean_other_artist``: another composer's released track;
- ``compressed``: the first reference through sox ``contrast 60`` (sox's loudness compressor),
  normalised to -0.3 dBFS;
- ``saturated``: that compression, +8 dB into sox ``overdrive 10``, normalised: a loud,
  clipped master. (LSP Compressor Stereo run through ``lv2apply`` oscillated at Nyquist on
  this material, so sox does both.)

Each tool runs in its own subprocess (wall time and peak RSS from ``os.wait4``). Scores
(`tonemorph.metrics` / `tonemorph.dsp.loudness`): LUFS error against the reference, true peak
(4x), level-binned spectral error (unpaired, each signal binned by its own loudness quartiles)
and crest-factor error. A 5-minute stereo 44.1 kHz premaster is timed for both tools.

    .venv/bin/pip install -c constraints.txt -e ".[bench,bench-gpl]"
    sudo apt-get install sox singularity-music hyperrogue-music
    flock /tmp/tonemorph-heavy.lock .venv/bin/python bench/bench_master.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from measure import MATCHERING_CLI, run_measured

from tonemorph.dsp.loudness import crest_factor_db, integrated_lufs, true_peak_dbtp
from tonemorph.metrics import level_binned_error_db

SINGULARITY = Path("/usr/share/games/singularity/music")
HYPERROGUE = Path("/usr/share/hyperrogue/music")
SOURCES = {
    # name: (file, package, author, license)
    "ref_a": (SINGULARITY / "A New Journey.ogg", "singularity-music", "Max McCracken",
              "CC BY-SA 3.0"),
    "pre_b": (SINGULARITY / "Aberrations.ogg", "singularity-music", "Max McCracken",
              "CC BY-SA 3.0"),
    "ref_c": (HYPERROGUE / "hr3-graveyard.ogg", "hyperrogue-music", "Shawn Parrotte",
              "CC BY-SA 3.0"),
}
EXCERPT = (60.0, 60.0)  # start, length (s) of the scored excerpts
LONG_S = 300.0
RATE = 44100


def sh(cmd: list[str]) -> None:
    """Run a command, failing loudly."""
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def decode(src: Path, dst: Path, start: float, length: float, *effects: str) -> Path:
    """sox: decode an excerpt to 44.1 kHz 16-bit stereo WAV, with optional sox effects."""
    if not dst.exists():
        sh(["sox", str(src), "-b", "16", str(dst), "rate", str(RATE), "channels", "2",
            "trim", str(start), str(length), *effects])
    return dst


def compress(src: Path, dst: Path) -> Path:
    """sox ``contrast 60`` (its loudness compressor), then gain to -0.3 dBFS."""
    if not dst.exists():
        sh(["sox", str(src), "-b", "16", str(dst), "contrast", "60", "gain", "-n", "-0.3"])
    return dst


def saturate(src: Path, dst: Path) -> Path:
    """That compression, +8 dB into sox ``overdrive 10``, normalised: a loud, clipped master."""
    if not dst.exists():
        sh(["sox", str(src), "-b", "16", str(dst), "contrast", "60", "gain", "8", "overdrive",
            "10", "0", "gain", "-n", "-0.1"])
    return dst


def make_cases(cases: Path) -> dict[str, dict[str, Path]]:
    """Premasters and references for every case (excerpts and the 5-minute premaster)."""
    cases.mkdir(parents=True, exist_ok=True)
    start, length = EXCERPT
    premaster_fx = ("gain", "-9", "bass", "-4", "treble", "+3")
    pre = decode(SOURCES["pre_b"][0], cases / "premaster.wav", start, length, *premaster_fx)
    ref_a = decode(SOURCES["ref_a"][0], cases / "ref_clean.wav", start, length)
    ref_c = decode(SOURCES["ref_c"][0], cases / "ref_clean_c.wav", start, length)
    out = {
        "clean": {"mix": pre, "ref": ref_a},
        "clean_other_artist": {"mix": pre, "ref": ref_c},
        "compressed": {"mix": pre, "ref": compress(ref_a, cases / "ref_compressed.wav")},
        "saturated": {"mix": pre, "ref": saturate(ref_a, cases / "ref_saturated.wav")},
    }
    long_pre = decode(SOURCES["pre_b"][0], cases / "premaster_5min.wav", 0, LONG_S,
                      *premaster_fx)
    long_ref = decode(SOURCES["ref_a"][0], cases / "ref_5min.wav", 0, LONG_S)
    out["long_5min"] = {"mix": long_pre, "ref": long_ref}
    return out


def run_tools(mix: Path, ref: Path, out_dir: Path, tag: str) -> dict[str, dict]:
    """Both tools on one case; returns {tool: {"path", "wall_s", "peak_rss_mb"}}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    res = {}
    tm_out = out_dir / f"{tag}_tonemorph.wav"
    tm = run_measured([sys.executable, "-m", "tonemorph.cli", "master", str(mix), "--reference",
                       str(ref), "-o", str(tm_out), "--force",
                       "--report", str(out_dir / f"{tag}_tonemorph.json")])
    res["tonemorph"] = {"path": tm_out, **tm}
    mg_out = out_dir / f"{tag}_matchering.wav"
    mgm = run_measured([sys.executable, "-c", MATCHERING_CLI, str(mix), str(ref), str(mg_out)])
    res["matchering"] = {"path": mg_out, **mgm}
    return res


def read(path: Path) -> tuple[np.ndarray, int]:
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    return np.ascontiguousarray(x.T), rate


def score(out: Path, ref: Path) -> dict[str, float]:
    """LUFS error (LU), true peak (dBTP), level-binned spectral error (dB), crest error (dB)."""
    y, rate = read(out)
    r, rate_r = read(ref)
    if rate_r != rate:
        raise RuntimeError(f"{out.name} is {rate} Hz, the reference {rate_r} Hz")
    return {
        "lufs": integrated_lufs(y, rate),
        "lufs_err": integrated_lufs(y, rate) - integrated_lufs(r, rate),
        "true_peak_dbtp": true_peak_dbtp(y, rate),
        "level_binned_db": level_binned_error_db(y, r, rate, paired=False),
        "crest_err_db": crest_factor_db(y, rate) - crest_factor_db(r, rate),
        "rate": rate,
    }


def table(results: dict) -> str:
    """Markdown tables of the scores and of the 5-minute timing."""
    lines = ["| case | ref LUFS | tool | LUFS | LUFS err | true peak dBTP | level-binned dB "
             "| crest err dB | wall s (60 s) |", "|---|---|---|---|---|---|---|---|---|"]
    for case, r in results["cases"].items():
        for tool in ("tonemorph", "matchering"):
            s = r[tool]
            lines.append(
                f"| {case} | {r['ref_lufs']:.1f} | {tool} | {s['lufs']:.2f} | "
                f"{s['lufs_err']:+.2f} | {s['true_peak_dbtp']:.2f} | {s['level_binned_db']:.2f} "
                f"| {s['crest_err_db']:+.2f} | {s['wall_s']:.1f} |")
    lines += ["", "| 5-minute stereo 44.1 kHz | wall s | peak RSS MB | LUFS err | true peak dBTP |",
              "|---|---|---|---|---|"]
    long = results["long_5min"]
    for tool in ("tonemorph", "matchering"):
        s = long[tool]
        lines.append(f"| {tool} | {s['wall_s']:.1f} | {s['peak_rss_mb']:.0f} | "
                     f"{s['lufs_err']:+.2f} | {s['true_peak_dbtp']:.2f} |")
    ratio_t = long["tonemorph"]["wall_s"] / long["matchering"]["wall_s"]
    ratio_m = long["tonemorph"]["peak_rss_mb"] / long["matchering"]["peak_rss_mb"]
    lines.append(f"| ratio tonemorph / matchering | {ratio_t:.2f} | {ratio_m:.2f} | | |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=Path, default=ROOT / "bench" / "cases" / "master")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "master")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--only", nargs="*", help="run only these cases")
    ap.add_argument("--merge", action="store_true",
                    help="update the cases run into an existing master.json (runs one case "
                         "at a time on a busy machine)")
    ap.add_argument("--prepare", action="store_true", help="only make the case files")
    args = ap.parse_args()
    if shutil.which("sox") is None:
        print("sox not found: sudo apt-get install sox", file=sys.stderr)
        return 2
    for name, (path, pkg, _, _) in SOURCES.items():
        if not path.exists():
            print(f"{path} missing: sudo apt-get install {pkg}", file=sys.stderr)
            return 2
    cases = make_cases(args.cases)
    if args.prepare:
        return 0
    results: dict = {"cases": {}, "sources": {
        k: {"file": str(v[0]), "package": v[1], "author": v[2], "license": v[3]}
        for k, v in SOURCES.items()},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()}}
    old = args.results / "master.json"
    if args.merge and old.exists():
        previous = json.loads(old.read_text())
        results["cases"] = previous.get("cases", {})
        if "long_5min" in previous:
            results["long_5min"] = previous["long_5min"]
    for case, files in cases.items():
        if args.only and case not in args.only:
            continue
        print(f"[{case}]", flush=True)
        ran = run_tools(files["mix"], files["ref"], args.out, case)
        ref_lufs = integrated_lufs(read(files["ref"])[0], RATE)
        entry = {"ref_lufs": ref_lufs, "mix": files["mix"].name, "ref": files["ref"].name}
        for tool, r in ran.items():
            entry[tool] = {**score(r["path"], files["ref"]), "wall_s": r["wall_s"],
                           "peak_rss_mb": r["peak_rss_mb"]}
            print(f"  {tool:10s} {entry[tool]}", flush=True)
        if case == "long_5min":
            results["long_5min"] = entry
        else:
            results["cases"][case] = entry
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "master.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    if "long_5min" in results and results["cases"]:
        md = ["# Reference mastering: tonemorph beside Matchering 2.0.6", "",
              "Generated by `bench/bench_master.py`: per case both tools run side by side, "
              "each in its own subprocess (cases run one invocation at a time with `--merge` "
              "on a 2-core machine shared with other jobs, so wall times carry that load).",
              "", table(results), "",
              "Music: " + "; ".join(f"{v['file'].split('/')[-1]} ({v['author']}, {v['license']}, "
                                    f"Debian package {v['package']})"
                                    for v in results["sources"].values()), ""]
        (args.results / "master.md").write_text("\n".join(md))
        print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
