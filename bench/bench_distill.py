"""Distillation bench: the demo tone (a .tmodel) distilled into NAM WaveNet presets and an LSTM
on one core, each with a wall-time budget; ESR on a held-out guitar take and ESR vs time.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_distill.py --archs standard lite lstm \
        --minutes 25 12 8

Writes bench/results/distill.md, distill.json, distill_esr_vs_time.png and the .nam files
under bench/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

import tonemorph
import tonemorph.chain.chain
from tonemorph.demo import demo_audio
from tonemorph.export.nam import build_model, nam_metadata, read_nam, write_nam
from tonemorph.learn.distill import (
    distill,
    holdout_take,
    long_time_constants,
    render_chain,
    target_advance,
)
from tonemorph.metrics import esr
from tonemorph.neural import make_model
from tonemorph.neural.runner import BlockProcessor

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
OUT = ROOT / "out"


def demo_tone(path: Path) -> tonemorph.Tone:
    """The demo tone: loaded from `path`, or learned from the bundled takes (quality fast)."""
    if path.exists():
        return tonemorph.load(path)
    x, sr = demo_audio("demo_input.flac")
    y, sr_y = demo_audio("demo_target.flac")
    tone = tonemorph.learn_tone((x, sr), (y, sr_y), quality="fast")
    tone.save(path)
    return tone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tmodel", type=Path, default=OUT / "demo_tone.tmodel")
    ap.add_argument("--archs", nargs="+", default=["standard", "lite", "lstm"])
    ap.add_argument("--minutes", nargs="+", type=float, default=[25.0, 12.0, 8.0])
    ap.add_argument("--tag", default="distill")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads while training (the bar: 2 cores; use 1 on a shared "
                         "machine, where 2 threads wait on each other)")
    ap.add_argument("--drop-stages", nargs="*", default=[],
                    help="distil the tone without these stages (e.g. sag comp: no long "
                         "time constants)")
    ap.add_argument("--update", action="store_true",
                    help="keep the other architectures' rows of an earlier run of this tag "
                         "(rerun one architecture)")
    args = ap.parse_args()
    if len(args.minutes) != len(args.archs):
        raise SystemExit("give one --minutes value per --archs entry")
    OUT.mkdir(exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    tone = demo_tone(args.tmodel)
    if args.drop_stages:
        from dataclasses import replace

        stages = tuple(s for s in tone.config.stages if s not in args.drop_stages)
        keep = {s.name for s in tonemorph.chain.chain.param_specs(
            replace(tone.config, stages=stages))}
        tone = tonemorph.Tone(replace(tone.config, stages=stages),
                              {k: v for k, v in tone.parameters.items() if k in keep},
                              tone.input_gain_db, tone.training)
    xh = holdout_take()
    yh = render_chain(tone, xh)
    rows = []
    for arch, minutes in zip(args.archs, args.minutes):
        t0 = time.monotonic()
        last = [0.0]

        def progress(tag: str, done: int, total: int, loss: float) -> None:
            if time.monotonic() - last[0] > 60:
                last[0] = time.monotonic()
                print(f"  {arch} {tag} {done}/{total} best val ESR {loss:.4f}", flush=True)

        r = distill(tone, make_model(arch), seconds=minutes * 60, threads=args.threads,
                    progress=progress)
        path = OUT / f"demo_{arch}.nam"
        write_nam(path, r.module, nam_metadata(name=f"demo {arch}", esr=r.esr))
        back = build_model(read_nam(path))
        # a recurrent model learns the chain without its latency (`target_advance`)
        adv = target_advance(tone, back)
        pred = BlockProcessor(back, 1).process(xh[None])[0]
        e_file = esr(pred[: len(xh) - adv], yh[adv:])
        row = {"arch": arch, "weights": int(back.num_weights()), "budget_min": minutes,
               "steps": r.steps, "wall_s": round(time.monotonic() - t0, 1),
               "train_s": round(r.history[-1][0], 1) if r.history else None,
               "holdout_esr": r.esr, "exported_file_esr": e_file, "grade": r.grade,
               "validation_esr": r.validation_esr, "target_advance_samples": adv,
               "history": [(round(s, 1), v) for s, v in r.history],
               "long_time_constants": long_time_constants(tone, back.receptive_field)}
        print(json.dumps({k: v for k, v in row.items() if k != "history"}), flush=True)
        rows.append(row)
    earlier = RESULTS / f"{args.tag}.json"
    if args.update and earlier.exists():
        kept = [r for r in json.loads(earlier.read_text())["rows"]
                if r["arch"] not in args.archs]
        rows = kept + rows
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, "
                       f"torch {args.threads} thread(s)", "tone": str(args.tmodel.name),
            "stages": list(tone.config.stages), "dropped": args.drop_stages,
            "tonemorph": tonemorph.__version__}
    (RESULTS / f"{args.tag}.json").write_text(json.dumps({"meta": meta, "rows": rows},
                                                         indent=1) + "\n")
    dropped = f", without {' and '.join(args.drop_stages)}" if args.drop_stages else ""
    lines = [f"# Distillation: demo tone{dropped} -> neural models ({meta['date']})", "",
             f"Tone `{meta['tone']}` (stages {', '.join(meta['stages'])}); {meta['machine']}. "
             "ESR = sum((chain - model)^2) / sum(chain^2) on the held-out demo take "
             "(8 s, never trained on or used for model selection), 48 kHz, the chain's "
             "latency kept for a WaveNet (removed for an LSTM, which cannot hold a pure delay: "
             "`target_advance`). 'file' = ESR of the exported .nam read back.", "",
             "| arch | weights | budget min | steps | held-out ESR | file ESR | NAM grade | "
             "validation ESR at 25/50/100 % of time |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        h = r["history"]
        pts = []
        for frac in (0.25, 0.5, 1.0):
            t_lim = frac * h[-1][0]
            best = min((v for s, v in h if s <= t_lim), default=float("nan"))
            pts.append(f"{best:.4f} ({t_lim / 60:.0f} min)")
        lines.append(f"| {r['arch']} | {r['weights']} | {r['budget_min']:.0f} | {r['steps']} | "
                     f"{r['holdout_esr']:.4f} | {r['exported_file_esr']:.4f} | {r['grade']} | "
                     f"{' / '.join(pts)} |")
    notes = rows[0]["long_time_constants"] if rows else []
    if notes:
        lines += ["", f"Long time constants in this tone ({', '.join(notes)}): beyond the "
                  "4,093 samples (85 ms) a WaveNet sees."]
    (RESULTS / f"{args.tag}.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4))
        for r in rows:
            h = np.array(r["history"], dtype=float)
            ax.semilogy(h[:, 0] / 60, np.minimum.accumulate(h[:, 1]), label=r["arch"])
        for bound in (0.01, 0.035, 0.1):
            ax.axhline(bound, color="grey", lw=0.5, ls="--")
        ax.set_xlabel(f"training time, min ({args.threads} torch thread(s))")
        ax.set_ylabel("best validation ESR")
        ax.legend()
        fig.tight_layout()
        fig.savefig(RESULTS / f"{args.tag}_esr_vs_time.png", dpi=100)
    except ImportError:
        pass


if __name__ == "__main__":
    main()
