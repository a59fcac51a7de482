"""Tables (markdown) and plots (PNG) of one benchmark-suite run (the JSON ``suite.py`` writes)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

LABELS = {
    "identity": "identity", "matcheq": "match-EQ", "matchering": "Matchering 2.0.6",
    "tonemorph_fast": "tonemorph fast", "tonemorph_default": "tonemorph default",
    "tonemorph_best": "tonemorph best", "oracle": "paired oracle",
}


GAP_MIN_MARGIN = 0.05  # the oracle must beat the match-EQ by 5 % for "gap closed" to be defined


def gap_closed(matcheq: float, method: float, oracle: float,
               min_margin: float = GAP_MIN_MARGIN) -> float:
    """(match-EQ - method) / (match-EQ - oracle); NaN unless the oracle beats the match-EQ.

    Inputs are distances (lower is better). 1 means the method reached the paired oracle, 0 no
    better than the match-EQ, negative worse than it, above 1 better than the oracle. Defined
    only when the oracle is at least ``min_margin`` (fraction of the match-EQ's distance)
    better, so a near-zero denominator cannot blow the ratio up.
    """
    if not all(math.isfinite(v) for v in (matcheq, method, oracle)):
        return math.nan
    if oracle >= matcheq * (1.0 - min_margin):
        return math.nan
    return (matcheq - method) / (matcheq - oracle)


def _gap(case: dict[str, Any], method: str) -> float:
    """Gap closed of ``method`` in one case (NaN on linear chains), from its MR-STFT values."""
    if case["linear"]:
        return math.nan
    mr = {m: case["methods"][m]["metrics"]["mrstft"] for m in ("matcheq", "oracle", method)}
    return gap_closed(mr["matcheq"], mr[method], mr["oracle"])


def _label(method: str) -> str:
    return LABELS.get(method, method)


def _f(v: Any, fmt: str = ".3f") -> str:
    """Format a number, '-' for missing / NaN."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, fmt)


def _mean(vals: Sequence[Any]) -> float:
    xs = [float(v) for v in vals if v is not None and math.isfinite(float(v))]
    return float(np.mean(xs)) if xs else math.nan


def _tonemorph_main(run: dict[str, Any]) -> str:
    """The tonemorph quality the headline ratio uses (default when present)."""
    qs = run["settings"]["qualities"]
    return "tonemorph_default" if "default" in qs else f"tonemorph_{qs[-1]}"


def mrstft_table(run: dict[str, Any], case_ids: Sequence[str]) -> str:
    """All methods side by side: MR-STFT on held-out take C, a mean row, the headline ratio."""
    meths = run["methods"]
    tm = _tonemorph_main(run)
    head = ("| case | kind | " + " | ".join(_label(m) for m in meths)
            + f" | {_label(tm)} / match-EQ |")
    lines = [head, "|" + "---|" * (len(meths) + 3)]
    for cid in case_ids:
        c = run["cases"][cid]
        vals = {m: c["methods"].get(m, {}).get("metrics", {}).get("mrstft") for m in meths}
        best = min((v for k, v in vals.items() if v is not None and k != "oracle"),
                   default=None)
        cells = [(f"**{_f(v)}**" if v == best else _f(v)) for v in vals.values()]
        ratio = (vals[tm] / vals["matcheq"]) if vals.get(tm) and vals.get("matcheq") else None
        lines.append(f"| {cid} | {c['kind']} | " + " | ".join(cells) + f" | {_f(ratio, '.2f')} |")
    means = {m: _mean([run["cases"][cid]["methods"].get(m, {}).get("metrics", {})
                       .get("mrstft") for cid in case_ids]) for m in meths}
    ratios = [run["cases"][cid]["methods"][tm]["metrics"]["mrstft"]
              / run["cases"][cid]["methods"]["matcheq"]["metrics"]["mrstft"]
              for cid in case_ids]
    lines.append("| **mean** | | " + " | ".join(_f(v) for v in means.values())
                 + f" | {_f(_mean(ratios), '.2f')} |")
    return "\n".join(lines)


def gap_table(run: dict[str, Any], case_ids: Sequence[str]) -> str:
    """Gap closed (match-EQ -> oracle) per nonlinear case where the oracle beats the match-EQ."""
    meths = [m for m in run["methods"] if m not in ("identity", "matcheq", "oracle")]
    lines = ["| case | match-EQ | oracle | " + " | ".join(_label(m) for m in meths) + " |",
             "|" + "---|" * (len(meths) + 3)]
    rows = 0
    for cid in case_ids:
        c = run["cases"][cid]
        if c["linear"]:
            continue
        me = c["methods"]["matcheq"]["metrics"]["mrstft"]
        orc = c["methods"]["oracle"]["metrics"]["mrstft"]
        if not orc < me * (1.0 - GAP_MIN_MARGIN):
            lines.append(f"| {cid} | {_f(me)} | {_f(orc)} | "
                         + " | ".join("(oracle not 5 % better)" for _ in meths) + " |")
            continue
        rows += 1
        lines.append(f"| {cid} | {_f(me)} | {_f(orc)} | " + " | ".join(
            _f(_gap(c, m), ".2f") for m in meths) + " |")
    if rows:
        lines.append("| **mean** | | | " + " | ".join(_f(_mean(
            [_gap(run["cases"][cid], m) for cid in case_ids]), ".2f") for m in meths) + " |")
    return "\n".join(lines)


METRIC_COLUMNS = [
    ("mrstft", "MR-STFT", ".3f", False), ("logmel_db", "log-mel dB", ".2f", False),
    ("level_binned_db", "level-binned dB", ".2f", False),
    ("lufs_err", "\\|LUFS err\\| LU", ".2f", True),
    ("crest_err_db", "\\|crest err\\| dB", ".2f", True),
    ("pitch_median_cents", "pitch median cents", ".2f", False),
    ("pitch_pct_within_50", "pitch % within 50 c", ".1f", False),
    ("learn_s", "learn s", ".1f", False), ("learn_cpu_s", "learn CPU s", ".1f", False),
    ("apply_x_realtime", "apply x realtime", ".0f", False),
    ("peak_mem_mb", "peak mem MiB", ".0f", False),
]


def metrics_table(run: dict[str, Any], case_ids: Sequence[str]) -> str:
    """Every DESIGN §5 metric per method, mean over the given cases (|x| for signed errors)."""
    lines = ["| method | " + " | ".join(c[1] for c in METRIC_COLUMNS) + " |",
             "|" + "---|" * (len(METRIC_COLUMNS) + 1)]
    for m in run["methods"]:
        cells = []
        for key, _, fmt, use_abs in METRIC_COLUMNS:
            vals = [run["cases"][cid]["methods"][m]["metrics"].get(key) for cid in case_ids]
            if use_abs:
                vals = [abs(v) if v is not None else None for v in vals]
            cells.append(_f(_mean(vals), fmt))
        lines.append(f"| {_label(m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chosen_blocks(info: dict[str, Any]) -> str:
    """What the selector kept: "linear", or "nonlinear:" and each level-dependent block that
    is not at its neutral setting (`tonemorph.model.level_blocks`)."""
    from tonemorph.model import level_blocks

    chosen = info.get("chosen") or "-"
    params = info.get("params") or {}
    if chosen != "nonlinear" or not params:
        return chosen
    kept = level_blocks(params)
    return "nonlinear: " + (", ".join(kept) if kept else "no level-dependent block")


def detail_table(run: dict[str, Any], case_ids: Sequence[str]) -> str:
    """Per case: log-mel, level-binned, LUFS and crest errors of match-EQ / tonemorph / oracle."""
    tm = _tonemorph_main(run)
    ms = ["matcheq", tm, "oracle"]
    lines = ["| case | log-mel dB (ME / TM / OR) | level-binned dB | LUFS err LU | crest err dB "
             "| pitch median cents (TM) | tracker self-agreement % | chosen (blocks kept) |",
             "|---|---|---|---|---|---|---|---|"]
    for cid in case_ids:
        c = run["cases"][cid]

        def trio(key: str, fmt: str, c=c) -> str:
            return " / ".join(_f(c["methods"][m]["metrics"].get(key), fmt) for m in ms)

        t = c["methods"][tm]
        lines.append(f"| {cid} | {trio('logmel_db', '.2f')} | {trio('level_binned_db', '.2f')}"
                     f" | {trio('lufs_err', '+.1f')} | {trio('crest_err_db', '+.1f')} | "
                     f"{_f(t['metrics'].get('pitch_median_cents'), '.2f')} | "
                     f"{_f(t['metrics'].get('pitch_tracker_self_agreement'), '.1f')} | "
                     f"{chosen_blocks(t['info'])} |")
    return "\n".join(lines)


def _oracle_note(run: dict[str, Any], case_ids: Sequence[str]) -> str:
    """Say plainly how often the paired 'upper bound' lost to the unpaired learner."""
    tm = _tonemorph_main(run)
    lost = [cid for cid in case_ids if run["cases"][cid]["methods"]["oracle"]["metrics"]["mrstft"]
            > run["cases"][cid]["methods"][tm]["metrics"]["mrstft"]]
    if not lost:
        return f"The paired oracle beat {_label(tm)} on every case."
    return (f"Note: the paired oracle ({run['settings']['oracle_s']:.0f} s budget) was worse than "
            f"{_label(tm)} on {len(lost)} of {len(case_ids)} cases ({', '.join(lost)}): at this "
            "budget it is not an upper bound, and gap closed above 1 means the method beat it.")


def draws_table(run: dict[str, Any], case_ids: Sequence[str]) -> str:
    """MR-STFT of every learner draw per case, their mean and spread, and the nonlinear tuning
    means over draws against the match-EQ and the oracle (empty without draws)."""
    tm = _tonemorph_main(run)
    rows = [(cid, run["cases"][cid]) for cid in case_ids
            if run["cases"][cid]["methods"][tm].get("draws")]
    if not rows:
        return ""
    n = len(rows[0][1]["methods"][tm]["draws"])
    first = rows[0][1]["methods"][tm]["draws"]
    seeds = [d.get("seed", run.get("seed", 0)) for d in first]
    if len(set(seeds)) > 1:
        how = (f"at seeds {', '.join(str(s) for s in seeds)} (each seed draws other training "
               "segments and loss projections)")
    else:
        scales = ", ".join(f"{d['input_scale']:.6f}" for d in first)
        how = (f"from the input scaled by {scales} (inaudible; it changes the rounding the fit "
               "starts from)")
    lines = [f"{_label(tm)} learned {n} times per case {how}. The tables above show "
             "the first draw.", "",
             "| case | held out | MR-STFT per draw | mean | (max - min) / mean | crest err dB "
             "per draw | chosen per draw |", "|---|---|---|---|---|---|---|"]
    for cid, c in rows:
        ds = c["methods"][tm]["draws"]
        v = [d["mrstft"] for d in ds]
        lines.append(f"| {cid} | {'yes' if c['heldout'] else ''} | "
                     f"{' / '.join(_f(x) for x in v)} | {_f(_mean(v))} | "
                     f"{(max(v) - min(v)) / _mean(v):.0%} | "
                     f"{' / '.join(_f(d['crest_err_db'], '+.1f') for d in ds)} | "
                     f"{' / '.join(str(d.get('chosen')) for d in ds)} |")
    for held, title in ((False, "tuning"), (True, "held-out")):
        nl = [c for _, c in rows if not c["linear"] and c["heldout"] == held]
        if not nl:
            continue
        tm_mean = _mean([_mean([d["mrstft"] for d in c["methods"][tm]["draws"]]) for c in nl])
        first = _mean([c["methods"][tm]["metrics"]["mrstft"] for c in nl])
        me = _mean([c["methods"]["matcheq"]["metrics"]["mrstft"] for c in nl])
        orc = _mean([c["methods"]["oracle"]["metrics"]["mrstft"] for c in nl])
        crest = _mean([_mean([abs(d["crest_err_db"]) for d in c["methods"][tm]["draws"]])
                       for c in nl])
        lines += ["", f"Nonlinear {title} chains ({len(nl)}): mean MR-STFT over draws "
                  f"{_f(tm_mean)} (first draw {_f(first)}), {tm_mean / orc:.2f}x the paired "
                  f"oracle, {tm_mean / me:.2f}x the match-EQ; mean |crest error| over draws "
                  f"{crest:.2f} dB."]
    return "\n".join(lines)


def markdown(run: dict[str, Any], json_path: Path, plots: dict[str, Path],
             base: Path) -> str:
    """The whole results page of one run."""
    ids = list(run["cases"])
    tuned = [c for c in ids if not run["cases"][c]["heldout"]]
    held = [c for c in ids if run["cases"][c]["heldout"]]
    s = run["settings"]
    rel = lambda p: os.path.relpath(p, base)
    out = [
        f"# Benchmark suite results ({run['mode']} mode)",
        "",
        f"Run {run['date']} at commit `{run['git_commit']}` on {run['machine']['cpus']} CPUs; "
        f"{len(ids)} cases ({', '.join(s['sources'])} x {len(s['chains'])} chains), "
        f"{s['duration_s']:.0f} s performances, tonemorph qualities {', '.join(s['qualities'])}, "
        f"oracle budget {s['oracle_s']:.0f} s per case; whole run "
        f"{_f(run.get('run_seconds', math.nan) / 60, '.1f')} min"
        f"{' (interrupted: partial run)' if 'run_seconds' not in run else ''}. "
        f"JSON: `{rel(json_path)}`.",
        "",
        "Protocol: target = chain(A), input = B, everything scored on held-out take C against "
        "chain(C) (latency aligned, no loudness normalisation). Match-EQ is fitted on (B, "
        "chain(A)) and applied to C; Matchering processes C itself against chain(A) (it has no "
        "reusable model); the paired oracle is fitted on (B, chain(B)) "
        f"({run['oracle_backend']}). Matchering: {run['matchering']}.",
        "",
        "## MR-STFT on the held-out take, chains used in tuning",
        "",
        "Lower is better; bold = best non-oracle method.",
        "",
        mrstft_table(run, tuned) if tuned else "(none in this run)",
        "",
        "## MR-STFT on the held-out take, held-out chains (never used in tuning)",
        "",
        mrstft_table(run, held) if held else "(none in this run)",
        "",
        "## Gap closed on nonlinear chains",
        "",
        "(match-EQ - method) / (match-EQ - oracle) in MR-STFT: 1 = as good as the paired "
        "oracle, 0 = no better than the match-EQ, > 1 = better than the oracle. Defined where "
        f"the oracle beats the match-EQ by at least {GAP_MIN_MARGIN:.0%}.",
        "",
        gap_table(run, ids),
        "",
        _oracle_note(run, ids),
        "",
        "## All metrics, mean over chains used in tuning",
        "",
        metrics_table(run, tuned) if tuned else "(none in this run)",
        "",
        "## All metrics, mean over held-out chains",
        "",
        metrics_table(run, held) if held else "(none in this run)",
        "",
        "## Per case (match-EQ / tonemorph / oracle)",
        "",
        detail_table(run, ids),
        "",
        *(["## The learner's own noise (draws)", "", draws_table(run, ids), ""]
          if draws_table(run, ids) else []),
        "## Plots",
        "",
    ]
    for name, p in plots.items():
        out += [f"- {name}: `{rel(p)}`"]
    out += ["", "Case settings, performances and licenses: `bench/cases.py` (manifest.json in the "
            "case folder).", ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_mrstft(run: dict[str, Any], path: Path) -> None:
    """Grouped bars: MR-STFT per case and method (held-out chains hatched)."""
    plt = _plt()
    ids = list(run["cases"])
    meths = run["methods"]
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(ids)), 4.2))
    width = 0.8 / len(meths)
    for j, m in enumerate(meths):
        vals = [run["cases"][c]["methods"][m]["metrics"]["mrstft"] for c in ids]
        ax.bar(np.arange(len(ids)) + (j - len(meths) / 2 + 0.5) * width, vals, width,
               label=_label(m))
    for i, c in enumerate(ids):
        if run["cases"][c]["heldout"]:
            ax.axvspan(i - 0.45, i + 0.45, color="0.9", zorder=-1)
    ax.set_xticks(np.arange(len(ids)))
    ax.set_xticklabels([c.split("/")[-1] + ("\n(held out)" if run["cases"][c]["heldout"]
                                            else "") for c in ids], fontsize=8)
    ax.set_ylabel("MR-STFT on held-out take (lower is better)")
    ax.legend(fontsize=7, ncol=4)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_gap(run: dict[str, Any], path: Path) -> None:
    """Bars: gap closed per nonlinear case for the non-baseline methods."""
    plt = _plt()
    ids = [c for c in run["cases"] if not run["cases"][c]["linear"]]
    meths = [m for m in run["methods"] if m not in ("identity", "matcheq", "oracle")]
    fig, ax = plt.subplots(figsize=(max(8, 1.2 * len(ids)), 3.8))
    width = 0.8 / max(len(meths), 1)
    for j, m in enumerate(meths):
        vals = [_gap(run["cases"][c], m) for c in ids]
        ax.bar(np.arange(len(ids)) + (j - len(meths) / 2 + 0.5) * width, vals, width,
               label=_label(m))
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(ids)))
    ax.set_xticklabels([c.split("/")[-1] for c in ids], fontsize=8)
    ax.set_ylabel("gap closed (0 = match-EQ, 1 = oracle)")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_spectra(run: dict[str, Any], path: Path) -> None:
    """Level-binned spectra (4 loudness bins) of input, truth, target and methods per case."""
    plt = _plt()
    from tonemorph.metrics import level_binned_spectra

    mel_hz = level_binned_spectra(np.random.default_rng(0).standard_normal((1, 48000))
                                  .astype(np.float32), 48000)[0]
    ids = list(run["cases"])
    fig, axes = plt.subplots(len(ids), 4, figsize=(16, 2.5 * len(ids)), squeeze=False,
                             sharex=True)
    styles = {"input": ":", "truth": "-", "target": "-.", "matcheq": "--", "oracle": (0, (1, 1))}
    for row, cid in enumerate(ids):
        sp = run["cases"][cid]["spectra"]
        for b in range(4):
            ax = axes[row, b]
            for name, curves in sp.items():
                y = np.array([np.nan if v is None else v for v in curves[b]], dtype=float)
                ax.semilogx(mel_hz, y, linestyle=styles.get(name, "-"), lw=1.0,
                            label=_label(name))
            ax.set_title(f"{cid.split('/')[-1]}: level bin {b + 1}/4", fontsize=8)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("Hz")
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def plot_cost(run: dict[str, Any], path: Path) -> None:
    """Scatter: mean MR-STFT vs mean learn time per method (the time/quality trade-off)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    ids = list(run["cases"])
    for m in run["methods"]:
        t = _mean([run["cases"][c]["methods"][m]["metrics"]["learn_s"] for c in ids])
        q = _mean([run["cases"][c]["methods"][m]["metrics"]["mrstft"] for c in ids])
        ax.scatter(max(t, 1e-2), q, s=40)
        ax.annotate(_label(m), (max(t, 1e-2), q), fontsize=8, xytext=(4, 4),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("mean learn wall time, s (log)")
    ax.set_ylabel("mean MR-STFT on held-out take")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_all(run: dict[str, Any], out_dir: Path, stem: str) -> dict[str, Path]:
    """Write every plot; returns {what it shows: path}."""
    plots = {
        "MR-STFT per case and method": out_dir / f"{stem}_mrstft.png",
        "gap closed per nonlinear case": out_dir / f"{stem}_gap.png",
        "level-binned spectra per case": out_dir / f"{stem}_spectra.png",
        "learn time vs quality": out_dir / f"{stem}_cost.png",
    }
    fns = [plot_mrstft, plot_gap, plot_spectra, plot_cost]
    for fn, p in zip(fns, plots.values(), strict=True):
        fn(run, p)
    return plots
