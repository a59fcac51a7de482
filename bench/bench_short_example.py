"""A short example against a long take: learn from a 15 s part of the example chain(A) and the
whole take B, score on the held-out take C against the truth chain(C).

A player's example is often a short clip, their own take longer. The learner then compares its
linear and nonlinear chains on the stretch of the take as long as the example played most like
it (`learn/fit.py`, SECTIONS_FROM); this bench measures what that choice gives end to end, with
a static match-EQ fitted on the same pair beside it. Run it once per code version (`--jsonl`)
and give the earlier run's records as `--compare` for a before / after table.

About 70 s a run on 2 cores (the learner at default).

    python bench/bench_short_example.py [--cases bench/cases/quick] [--jsonl runs.jsonl]
        [--compare before.jsonl] [--md bench/results/short_example.md] [SPEC ...]

SPEC is source/chain:part (part k: seconds 15k to 15(k+1) of the example), or source/chain:tk
for the whole example against part k of the take (a much longer example).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from audio_util import (
    SR,
    add_cases_option,
    case_manifest,
    emit_table,
    read_jsonl,
    read_mono,
    runs_kept,
    table_option,
)
from chains import ALL_CHAINS
from suite import score_output

import tonemorph
from tonemorph.dsp.matcheq import fit_match_eq
from tonemorph.model import timbre_ratio

HERE = Path(__file__).resolve().parent
PART_S = 15.0
# the clean chain on every source (where a kept compressor is the error to catch), then
# chains with drive or dynamics; the last two are held out of all tuning
SPECS = (
    *(f"fr3_clean/linear_eq_cab:{k}" for k in range(4)),
    *(f"fr3_jazz/linear_eq_cab:{k}" for k in range(4)),
    "sonicpi_real/linear_eq_cab:0", "sonicpi_real/linear_eq_cab:3",
    "fr3_epiano/linear_eq_cab:0", "fr3_bass/linear_eq_cab:0",
    "fr3_clean/amp_crunch:2", "fr3_clean/sag_preamp_cab:1", "fr3_clean/comp_dist_cab:3",
    "fr3_jazz/heavy_drive_cab:0", "fr3_bass/heavy_comp_cab:0", "fr3_jazz/heavy_comp_cab:0",
    "fr3_clean/fuzz_cab:0", "fr3_clean/compand_overdrive:0",
    # the other way round: the whole example against 15 s of the take
    "fr3_clean/linear_eq_cab:t1", "fr3_clean/linear_eq_cab:t3", "fr3_jazz/linear_eq_cab:t0",
    "fr3_jazz/linear_eq_cab:t2", "fr3_bass/heavy_comp_cab:t0",
)
# every chain kept out of tuning: the two of the suite and the fresh sets of bench/chains.py
HELD_OUT = tuple(name for name, chain in ALL_CHAINS.items() if chain.heldout)
DYNAMICS = ("sag", "comp")


def run_spec(cases: Path, spec: str, seed: int) -> dict:
    """Learn from part k of A and all of B (part tk: all of A, part k of B); the held-out
    scores of it and of a match-EQ fitted on the same pair."""
    name, part = spec.rsplit(":", 1)
    d = cases / name
    a, b = read_mono(d / "A_target.wav"), read_mono(d / "B_input.wav")
    c, truth = read_mono(d / "C_input.wav"), read_mono(d / "C_truth.wav")
    n = int(PART_S * SR)
    if part.startswith("t"):  # the other way round: the whole example, part of the take
        k = int(part[1:])
        b = b[k * n: (k + 1) * n]
    else:
        a = a[int(part) * n: (int(part) + 1) * n]
    t0 = time.monotonic()
    tone = tonemorph.learn_tone((b, SR), (a, SR), quality="default", seed=seed)
    learn_s = time.monotonic() - t0
    tr = tone.training
    kept = [s for s in DYNAMICS
            if s in tone.config.stages and s not in tr.get("simplified", [])]
    s = score_output(tone.apply(c, SR), truth, c)
    eq = score_output(fit_match_eq(b, a, SR)(c), truth, c)  # the same pair
    return {"spec": spec, "seed": seed, "chosen": tr["chosen"],
            "dynamics kept": kept if tr["chosen"] == "nonlinear" else [],
            "selection": tr["selection"], "learn_s": round(learn_s, 1),
            "tonemorph": {k: s[k] for k in ("mrstft", "level_binned_soft_db", "lufs_err",
                                             "crest_err_db")},
            "matcheq": {k: eq[k] for k in ("mrstft", "level_binned_soft_db")},
            "commit": COMMIT}


def _commit() -> str:
    """The code's commit (short hash) and whether its tree was changed, or '?' (read once,
    when the code is imported: later commits do not change the code this run uses)."""
    try:
        src = Path(tonemorph.__file__).resolve().parent
        h = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, check=True).stdout.strip()
        return h + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


COMMIT = _commit()


def _ratio(sel: dict) -> str:
    """The nonlinear over the linear timbre score (`timbre_ratio`), or "-"."""
    r = timbre_ratio(sel)
    return "-" if r is None else f"{r:.2f}"


def markdown(runs: list[dict], before: dict[str, dict]) -> str:
    """One row per run (with the earlier run's choice and MR-STFT where given), then means."""
    commits = sorted({r["commit"] for r in runs})
    lines = [
        "# A short example against a long take",
        "",
        f"Generated by `bench/bench_short_example.py` (code {', '.join(commits)}"
        + (f"; before: {', '.join(sorted({r['commit'] for r in before.values()}))}"
           if before else "") + "). The example is a 15 s part of chain(A) (part k: seconds "
        "15k-15(k+1)), the take all 60 s of B (part `tk`: the whole example against that "
        "part of the take); learned at default, seed 0; scored on the "
        "held-out take C against chain(C). Match-EQ: a static match fitted on the same pair. "
        "Timbre: the nonlinear chain's timbre score (with its dynamics) over the linear one's, "
        "on the stretch judged (which, of the take or the example, cut as long as the other); "
        "gap: the linear chain's level gap there (dB). Held-out "
        "chains (never tuned on) marked `(h)`.",
        "",
        "| case:part | chosen | dynamics kept | stretch | timbre | gap dB | MR-STFT | soft dB "
        "| LUFS err | crest err dB | match-EQ MR-STFT | soft dB |"
        + (" before: chosen | MR-STFT |" if before else ""),
        "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if before else ""),
    ]
    for r in runs:
        sel, t, e = r["selection"], r["tonemorph"], r["matcheq"]
        held = " (h)" if r["spec"].split("/")[1].split(":")[0] in HELD_OUT else ""
        cut = [k for k in ("take", "example") if f"stretches of the {k}" in sel]
        stretch = (f"{cut[0]} {int(sel['stretch judged']) + 1}/"
                   f"{int(sel[f'stretches of the {cut[0]}'])}" if cut else "all")
        gap = sel.get("linear level gap dB")
        row = (f"| {r['spec']}{held} | {r['chosen']} | {', '.join(r['dynamics kept']) or '-'} "
               f"| {stretch} | {_ratio(sel) if sel else '-'} | "
               f"{'-' if gap is None else f'{gap:.1f}'} | {t['mrstft']:.3f} | "
               f"{t['level_binned_soft_db']:.2f} | {t['lufs_err']:+.2f} | "
               f"{t['crest_err_db']:+.2f} | {e['mrstft']:.3f} | {e['level_binned_soft_db']:.2f} |")
        if before:
            b = before.get(r["spec"])
            row += (f" {b['chosen']}, {', '.join(b['dynamics kept']) or '-'} | "
                    f"{b['tonemorph']['mrstft']:.3f} |" if b else " - | - |")
        lines.append(row)
    lines += ["", "| chains | runs | MR-STFT | match-EQ | dynamics kept"
              + (" | before: MR-STFT | dynamics kept |" if before else " |"),
              "|---|---|---|---|---|" + ("---|---|" if before else "")]
    groups = {"clean EQ + cab": lambda c: c == "linear_eq_cab",
              "other tuning chains": lambda c: c != "linear_eq_cab" and c not in HELD_OUT,
              "held-out chains": lambda c: c in HELD_OUT}
    for name, pick in groups.items():
        sel = [r for r in runs if pick(r["spec"].split("/")[1].split(":")[0])]
        if not sel:
            continue
        row = (f"| {name} | {len(sel)} | {np.mean([r['tonemorph']['mrstft'] for r in sel]):.3f}"
               f" | {np.mean([r['matcheq']['mrstft'] for r in sel]):.3f} | "
               f"{sum(bool(r['dynamics kept']) for r in sel)} |")
        old = [before[r["spec"]] for r in sel if r["spec"] in before]
        if before and len(old) == len(sel):
            row += (f" {np.mean([b['tonemorph']['mrstft'] for b in old]):.3f} | "
                    f"{sum(bool(b['dynamics kept']) for b in old)} |")
        elif before:
            row += " - | - |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cases_option(ap)
    ap.add_argument("specs", nargs="*", default=list(SPECS), help="source/chain:part")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jsonl", type=Path, help="append each run's record here (and reuse "
                    "the records already there for the same spec and seed)")
    ap.add_argument("--compare", type=Path, help="records of an earlier run (its --jsonl)")
    table_option(ap, "short_example.md")
    args = ap.parse_args(argv)
    if case_manifest(args.cases) is None:
        return 2
    runs = []
    for r in runs_kept(args.jsonl, "spec", args.specs, args.seed,
                       lambda spec: run_spec(args.cases, spec, args.seed)):
        runs.append(r)
        print(r["spec"], r["chosen"], r["dynamics kept"], round(r["tonemorph"]["mrstft"], 3),
              flush=True)
    before = ({r["spec"]: r for r in read_jsonl(args.compare) if r["seed"] == args.seed}
              if args.compare else {})
    emit_table(args.md, markdown(runs, before))
    return 0


if __name__ == "__main__":
    sys.exit(main())
