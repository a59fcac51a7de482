"""Core evaluation: unpaired learning on third-party chains vs identity and static match-EQ.

Protocol per case (DESIGN.md §5): performances A, B, C of one instrument with different notes;
target = chain(A), input = B (clean). The learned tone is applied to B and to held-out C and
scored against chain(B) and chain(C) (latency aligned, no loudness normalisation).

    python bench/eval_core.py --cases bench/cases --source fr3_clean --quality default
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import tonemorph
from tonemorph.dsp.matcheq import apply_match_eq, fit_match_eq
from tonemorph.io import read_audio
from tonemorph.metrics import level_binned_spectra, pitch_cents_error, score

HERE = Path(__file__).resolve().parent
NONLINEAR_TOL = 0.0


def run_case(case_dir: Path, quality: str, seed: int, stages: str | None) -> dict:
    """Learn on one case and score every method on B (seen input) and C (held out)."""
    rd = lambda n: read_audio(case_dir / n, role=n)[0]  # noqa: E731
    sr = read_audio(case_dir / "A_target.wav")[1]
    a_t, b_in, b_tr, c_in, c_tr = (rd(n) for n in ("A_target.wav", "B_input.wav",
                                                    "B_truth.wav", "C_input.wav",
                                                    "C_truth.wav"))
    t0 = time.monotonic()
    tone = tonemorph.learn_tone((b_in, sr), (a_t, sr), quality=quality, seed=seed, stages=stages)
    learn_s = time.monotonic() - t0
    t1 = time.monotonic()
    out_c = tone.apply(c_in, sr)
    apply_x = (c_in.shape[1] / sr) / (time.monotonic() - t1)
    out_b = tone.apply(b_in, sr)
    res: dict = {"learn_s": learn_s, "apply_x_realtime": apply_x, "chosen": tone.training["chosen"],
                 "params": {k: v for k, v in tone.parameters.items() if not isinstance(v, list)}}
    me_model = fit_match_eq(b_in, a_t, sr)
    for split, inp, truth, out in (("B", b_in, b_tr, out_b), ("C", c_in, c_tr, out_c)):
        res[split] = {"identity": score(inp, truth, sr),
                      "matcheq": score(me_model(inp), truth, sr),
                      "matcheq_self": score(apply_match_eq(inp, a_t, sr), truth, sr),
                      "tonemorph": score(out, truth, sr)}
    res["pitch_C"] = pitch_cents_error(out_c, c_in, sr)
    res["spectra_C"] = {name: level_binned_spectra(sig, sr, n_bins=4)[1].tolist()
                        for name, sig in (("input", c_in), ("output", out_c), ("truth", c_tr),
                                          ("target", a_t))}
    return res


def table(results: dict, split: str = "C") -> str:
    """Markdown table of MR-STFT and other metrics per chain and method."""
    lines = ["| chain | kind | identity | match-EQ | match-EQ fit on C | tonemorph | ratio | "
             "LUFS err (ME / TM) | crest err (ME / TM) | pitch med. cents | chosen | learn s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        s = r[split]
        ratio = s["tonemorph"]["mrstft"] / s["matcheq"]["mrstft"]
        lines.append(
            f"| {name} | {r['kind']} | {s['identity']['mrstft']:.3f} | {s['matcheq']['mrstft']:.3f}"
            f" | {s['matcheq_self']['mrstft']:.3f} | {s['tonemorph']['mrstft']:.3f}"
            f" | {ratio:.2f} | "
            f"{s['matcheq']['lufs_err']:+.1f} / {s['tonemorph']['lufs_err']:+.1f} | "
            f"{s['matcheq']['crest_err_db']:+.1f} / {s['tonemorph']['crest_err_db']:+.1f} | "
            f"{r['pitch_C']['median_abs_cents']:.2f} | {r['chosen']} | {r['learn_s']:.0f} |")
    return "\n".join(lines)


def plot_spectra(results: dict, path: Path) -> None:
    """Level-binned spectra (4 loudness bins) of input, output, truth and target per chain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tonemorph.metrics import level_binned_spectra as _lbs

    mel_hz = _lbs(np.random.default_rng(0).standard_normal((1, 48000)).astype(np.float32),
                  48000)[0]
    n = len(results)
    fig, axes = plt.subplots(n, 4, figsize=(16, 2.6 * n), squeeze=False, sharex=True)
    for row, (name, r) in enumerate(results.items()):
        for b in range(4):
            ax = axes[row, b]
            for sig, style in (("input", ":"), ("truth", "-"), ("output", "--"),
                               ("target", "-.")):
                ax.semilogx(mel_hz, r["spectra_C"][sig][b], style, label=sig)
            ax.set_title(f"{name}: level bin {b + 1}/4", fontsize=8)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("Hz")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation and write results JSON, a markdown table and a plot."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=Path, default=HERE / "cases")
    p.add_argument("--source", default="fr3_clean")
    p.add_argument("--chains", default=None, help="comma list (default: all in the manifest)")
    p.add_argument("--quality", default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stages", default=None)
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    manifest = json.loads((args.cases / "manifest.json").read_text())
    chains = args.chains.split(",") if args.chains else list(manifest["chains"])
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for ch in chains:
        info = manifest["chains"][ch]
        kind = "linear" if ch.startswith("linear") else "nonlinear"
        print(f"== {args.source}/{ch} ({kind}{', held out' if info.get('heldout') else ''})",
              flush=True)
        r = run_case(args.cases / args.source / ch, args.quality, args.seed, args.stages)
        r["kind"] = kind + (" (held out)" if info.get("heldout") else "")
        results[ch] = r
        s = r["C"]
        print(f"   C: identity {s['identity']['mrstft']:.3f}  match-EQ {s['matcheq']['mrstft']:.3f}"
              f" (fit on C {s['matcheq_self']['mrstft']:.3f})"
              f"  tonemorph {s['tonemorph']['mrstft']:.3f}  ({r['chosen']}, "
              f"{r['learn_s']:.0f} s, apply {r['apply_x_realtime']:.0f}x)", flush=True)
    tag = f"{args.source}_{args.quality}"
    (args.out / f"core_{tag}.json").write_text(json.dumps(results, indent=1))
    md = table(results)
    (args.out / f"core_{tag}.md").write_text(md + "\n")
    print(md)
    plot_spectra(results, args.out / f"core_{tag}_spectra.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
