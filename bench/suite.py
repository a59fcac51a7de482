"""Benchmark suite: every method side by side on third-party chains (DESIGN.md sections 5-6).

Per case (one source instrument x one third-party chain): target = chain(performance A), the
user's input = performance B, and every method is scored on held-out performance C against
chain(C) (latency aligned, no loudness normalisation). Methods, in one run: identity, static
match-EQ, Matchering 2.0.6 (optional GPL extra), tonemorph at each quality, and a paired oracle
fitted on (B, chain(B)). Two chains are kept out of all tuning and reported separately.

    python bench/suite.py --mode quick                  # default quality, one source, all chains
    python bench/suite.py --mode full                   # all sources, all qualities
    python bench/suite.py --mode quick --compare bench/results/suite_quick.json

Writes ``<out>/suite_<mode>.json``, PNG plots next to it and the tables in ``bench/results.md``
(``--md``). ``--compare OLD.json`` prints what got better or worse per case and metric.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cases as cases_mod
import methods as M
import suite_report
from audio_util import read_mono, write_text
from chains import ALL_CHAINS, CHAINS
from suite_report import GAP_MIN_MARGIN, gap_closed  # noqa: F401  (re-exported)

SUITE_VERSION = 1
SR = M.SR
QUALITIES = ("fast", "default")  # "best" learns as "default" (learn/fit.py QUALITY_PRESETS)

MODES: dict[str, dict[str, Any]] = {
    # quick: one source type, default quality, all chains (<= 20 min on 2 cores)
    "quick": {"sources": ["fr3_clean"], "qualities": ["default"], "duration_s": 60.0,
              "oracle_s": 40.0},
    "full": {"sources": list(cases_mod.SOURCES), "qualities": list(QUALITIES),
             "duration_s": 60.0, "oracle_s": 60.0},
}
# Cases run in this order (every kind early, so an interrupted run's partial JSON is useful).
CHAIN_ORDER = ["linear_eq_cab", "amp_crunch", "fuzz_cab", "heavy_comp_cab", "heavy_drive_cab",
               "compand_overdrive", "sag_preamp_cab", "comp_dist_cab"]

# Metric -> which way is better. "abs": smaller magnitude is better (signed errors).
METRIC_DIRECTIONS: dict[str, str] = {
    "mrstft": "lower", "mrstft_best_gain": "lower", "logmel_db": "lower",
    "level_binned_db": "lower", "level_binned_soft_db": "lower", "level_binned_loud_db": "lower",
    "lufs_err": "abs", "crest_err_db": "abs",
    "pitch_median_cents": "lower", "pitch_pct_within_50": "higher", "gap_closed": "higher",
    "learn_s": "lower", "learn_cpu_s": "lower", "apply_x_realtime": "higher",
    "peak_mem_mb": "lower",
}
SMOKE_PRESET = {"n_segments": 2, "segment_s": 0.6, "starts": (12.0,), "start_steps": 2, "steps": 4}
COMPARE_REL_TOL = 0.03  # changes smaller than 3 % (or 0.05 absolute for signed dB/LU) are "same"
COST_REL_TOL = 0.25  # wall times and memory on a shared machine: only large changes count
COST_METRICS = ("learn_s", "learn_cpu_s", "apply_x_realtime", "peak_mem_mb")


# ----------------------------------------------------------------------------- scoring


def score_output(out: np.ndarray, truth: np.ndarray, inp: np.ndarray) -> dict[str, float]:
    """DESIGN §5 metrics of one output against the truth, plus pitch vs the input."""
    from tonemorph.demo import level_bin_errors_db
    from tonemorph.metrics import pitch_cents_error, score

    s = score(out, truth, SR)
    # the quietest and loudest quarter of the truth's frames: soft playing is where a learned
    # drive or compressor most often goes wrong
    bins = level_bin_errors_db(out, truth, SR)
    s["level_binned_soft_db"], s["level_binned_loud_db"] = float(bins[0]), float(bins[-1])
    if float(np.max(np.abs(out))) > 0:
        p = pitch_cents_error(out, inp, SR)
        s["pitch_median_cents"] = p["median_abs_cents"]
        s["pitch_pct_within_50"] = p["pct_within_50"]
        s["pitch_tracker_self_agreement"] = p["tracker_self_agreement"]
    return {k: float(v) for k, v in s.items()}


def _spectra(x: np.ndarray) -> list[list[float]]:
    from tonemorph.metrics import level_binned_spectra

    return np.round(level_binned_spectra(x, SR, n_bins=4)[1], 2).tolist()


# ----------------------------------------------------------------------------- one case


def load_case(info: dict[str, Any]) -> dict[str, np.ndarray]:
    """The six files of a case as float32 mono 48 kHz arrays."""
    return {k: read_mono(p) for k, p in info["files"].items()}


DRAW_METRICS = ("mrstft", "level_binned_db", "level_binned_soft_db", "crest_err_db", "lufs_err")


def draw_scale(d: int) -> float:
    """Input scale of learner draw d: 1, then 1 + 1e-6, 1 - 1e-6, 1 + 2e-6, 1 - 2e-6, ..."""
    if d == 0:
        return 1.0
    step = (d + 1) // 2 * 1e-6
    return 1.0 + step if d % 2 else 1.0 - step


def run_case(info: dict[str, Any], qualities: Sequence[str], oracle_s: float,
             use_matchering: bool, seed: int = 0, log=print, draws: int = 1,
             draw_seeds: bool = False) -> dict[str, Any]:
    """Run every method on one case; returns its JSON record.

    With ``draws`` > 1 each tonemorph quality is learned again from the input scaled by
    `draw_scale` (d = 1 .. draws - 1), or with ``draw_seeds`` at seed + d (other training
    segments and loss projections); the method's own record stays draw 0, and its ``draws``
    list holds the main metrics of every draw.
    """
    case = load_case(info)
    chain = ALL_CHAINS[info["chain"]]
    rec: dict[str, Any] = {
        "id": info["id"], "source": info["source"], "chain": info["chain"],
        "kind": chain.kind, "linear": chain.linear, "heldout": chain.heldout,
        "duration_s": round(len(case["C_input"]) / SR, 2), "methods": {}, "spectra": {},
    }
    runs: dict[str, M.MethodRun] = {}
    runs["identity"] = M.run_identity(case)
    runs["matcheq"] = M.run_matcheq(case)
    if use_matchering:
        runs["matchering"] = M.run_matchering(case)
    for q in qualities:
        t0 = time.monotonic()
        runs[f"tonemorph_{q}"] = M.run_tonemorph(case, q, seed)
        log(f"    tonemorph {q}: {time.monotonic() - t0:.0f} s "
            f"({runs[f'tonemorph_{q}'].info.get('chosen')})")
    init = runs[f"tonemorph_{qualities[-1]}"].info["tone"]
    t0 = time.monotonic()
    runs["oracle"] = M.run_oracle(case, init, oracle_s, seed,
                                  steps=4 if "smoke" in qualities else None)
    log(f"    oracle: {time.monotonic() - t0:.0f} s ({runs['oracle'].info.get('backend')})")
    for name, run in runs.items():
        m = score_output(run.out_c, case["C_truth"], case["C_input"])
        m.update(learn_s=run.learn_s, learn_cpu_s=run.learn_cpu_s,
                 apply_x_realtime=run.apply_x_realtime, peak_mem_mb=run.peak_mem_mb)
        extra = {k: v for k, v in run.info.items() if k != "tone"}
        rec["methods"][name] = {"metrics": m, "info": _jsonable(extra)}
    for q in qualities if draws > 1 else ():
        main = rec["methods"][f"tonemorph_{q}"]
        main["draws"] = [{"input_scale": 1.0, "seed": seed, "chosen": main["info"].get("chosen"),
                          **{k: main["metrics"][k] for k in DRAW_METRICS}}]
        for d in range(1, draws):
            scale, seed_d = (1.0, seed + d) if draw_seeds else (draw_scale(d), seed)
            run = M.run_tonemorph(case, q, seed_d, input_scale=scale)
            m = score_output(run.out_c, case["C_truth"], case["C_input"])
            main["draws"].append({"input_scale": scale, "seed": seed_d,
                                  "chosen": run.info.get("chosen"),
                                  **{k: m[k] for k in DRAW_METRICS}})
        log(f"    tonemorph {q} draws: "
            + " ".join(f"{r['mrstft']:.3f}" for r in main["draws"]))
    me = rec["methods"]["matcheq"]["metrics"]["mrstft"]
    orc = rec["methods"]["oracle"]["metrics"]["mrstft"]
    for name, r in rec["methods"].items():
        r["metrics"]["gap_closed"] = (math.nan if chain.linear
                                      else gap_closed(me, r["metrics"]["mrstft"], orc))
    shown = ["matcheq", f"tonemorph_{qualities[-1]}", "oracle"]
    rec["spectra"] = {"input": _spectra(case["C_input"]), "truth": _spectra(case["C_truth"]),
                      "target": _spectra(case["A_target"]),
                      **{k: _spectra(runs[k].out_c) for k in shown}}
    return rec


def _jsonable(obj: Any) -> Any:
    """Replace numpy scalars and non-finite floats so json.dumps writes strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj


# ----------------------------------------------------------------------------- compare


def _is_better(metric: str, old: float, new: float) -> int:
    """+1 better, -1 worse, 0 about the same (see COMPARE_REL_TOL)."""
    direction = METRIC_DIRECTIONS.get(metric, "lower")
    if direction == "abs":
        old, new = abs(old), abs(new)
        if abs(new - old) <= max(0.05, COMPARE_REL_TOL * old):
            return 0
        return 1 if new < old else -1
    tol = COST_REL_TOL if metric in COST_METRICS else COMPARE_REL_TOL
    if abs(new - old) <= tol * max(abs(old), 1e-12):
        return 0
    return (1 if new < old else -1) if direction == "lower" else (1 if new > old else -1)


def compare_runs(old: dict[str, Any], new: dict[str, Any],
                 metrics: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Per case, method and metric present in both runs: old and new values and the verdict.

    Verdict is "better", "worse" or "same"; cases or methods missing from one run are skipped.
    """
    rows = []
    keys = list(metrics) if metrics else list(METRIC_DIRECTIONS)
    for cid, new_case in new["cases"].items():
        old_case = old.get("cases", {}).get(cid)
        if not old_case:
            continue
        for meth, nm in new_case["methods"].items():
            om = old_case["methods"].get(meth)
            if not om:
                continue
            for k in keys:
                a, b = om["metrics"].get(k), nm["metrics"].get(k)
                if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
                    continue
                verdict = {1: "better", -1: "worse", 0: "same"}[_is_better(k, a, b)]
                rows.append({"case": cid, "method": meth, "metric": k, "old": a, "new": b,
                             "verdict": verdict})
    return rows


def print_comparison(rows: list[dict[str, Any]], show_same: bool = False) -> None:
    """Print what got better or worse, then a count per method."""
    print(f"{'case':34s} {'method':18s} {'metric':22s} {'old':>10s} {'new':>10s}  verdict")
    for r in rows:
        if r["verdict"] == "same" and not show_same:
            continue
        print(f"{r['case']:34s} {r['method']:18s} {r['metric']:22s} {r['old']:10.3f} "
              f"{r['new']:10.3f}  {r['verdict']}")
    per: dict[str, dict[str, int]] = {}
    for r in rows:
        per.setdefault(r["method"], {"better": 0, "worse": 0, "same": 0})[r["verdict"]] += 1
    for meth, c in per.items():
        print(f"{meth}: {c['better']} better, {c['worse']} worse, {c['same']} same")


# ----------------------------------------------------------------------------- main


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def register_smoke_quality() -> None:
    """Add a "smoke" learning preset (a few steps): checks the pipeline, says nothing of quality."""
    from tonemorph.learn.fit import QUALITY_PRESETS

    QUALITY_PRESETS.setdefault("smoke", SMOKE_PRESET)


def _worker_init() -> None:
    """One compute thread per worker process: parallel cases, no oversubscribed thread pools."""
    import numba
    import torch

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    # the unpaired learner runs its drive starts on this many threads: one per case here
    os.environ["TONEMORPH_THREADS"] = "1"


def _case_job(info: dict[str, Any], qualities: Sequence[str], oracle_s: float, use_mg: bool,
              seed: int, draws: int = 1, draw_seeds: bool = False) -> dict[str, Any]:
    """Run one case and time it (the unit of work of the worker processes)."""
    t0 = time.monotonic()
    if "smoke" in qualities:
        register_smoke_quality()
    held = " (held out)" if info["heldout"] else ""
    log = lambda m: print(f"[{info['id']}] {m}", flush=True)
    log(f"start{held}")
    rec = run_case(info, qualities, oracle_s, use_mg, seed, log=log, draws=draws,
                   draw_seeds=draw_seeds)
    rec["case_s"] = round(time.monotonic() - t0, 1)
    log("C MR-STFT: " + "  ".join(f"{k} {v['metrics']['mrstft']:.3f}"
                                  for k, v in rec["methods"].items())
        + f"  [{rec['case_s']:.0f} s]")
    return _jsonable(rec)


def run_suite(mode: str, cases_dir: Path, sources: Sequence[str] | None = None,
              chains: Sequence[str] | None = None, qualities: Sequence[str] | None = None,
              duration_s: float | None = None, oracle_s: float | None = None,
              use_matchering: bool = True, seed: int = 0, jobs: int = 2,
              partial_path: Path | None = None,
              resume: dict[str, Any] | None = None, draws: int = 1,
              draw_seeds: bool = False) -> dict[str, Any]:
    """Build (or reuse) the cases of ``mode`` and run every method on each; the run's JSON.

    ``jobs`` cases run at once, each in its own process with one compute thread (learn wall
    times are then single-threaded times); ``jobs=1`` runs in this process with default threads.
    After each case the run so far is written to ``partial_path``; ``resume`` (the cases of
    such a file) skips the cases it already holds. ``draws``, ``draw_seeds``: learner draws
    per case (`run_case`).
    """
    cfg = dict(MODES[mode])
    cfg["sources"] = list(sources or cfg["sources"])
    cfg["qualities"] = list(qualities or cfg["qualities"])
    cfg["duration_s"] = float(duration_s or cfg["duration_s"])
    cfg["oracle_s"] = float(oracle_s or cfg["oracle_s"])
    cfg["draws"] = int(draws)
    cfg["draw_seeds"] = bool(draw_seeds)
    cfg["chains"] = list(chains or sorted(
        CHAINS, key=lambda c: CHAIN_ORDER.index(c) if c in CHAIN_ORDER else 99))
    mg_note = M.matchering_available()
    use_mg = use_matchering and mg_note is None
    t_start = time.monotonic()
    case_infos = cases_mod.build_cases(cases_dir, sources=cfg["sources"], chains=cfg["chains"],
                                       duration_s=cfg["duration_s"], verbose=False)
    build_s = time.monotonic() - t_start
    print(f"{len(case_infos)} cases ready in {build_s:.0f} s", flush=True)
    run: dict[str, Any] = {
        "suite_version": SUITE_VERSION, "mode": mode, "settings": cfg, "seed": seed,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(), "machine": {"cpus": os.cpu_count(),
                                                 "platform": platform.platform()},
        "oracle_backend": M.paired_backend(),
        "matchering": "used" if use_mg else (mg_note or "disabled (--no-matchering)"),
        "methods": (["identity", "matcheq"] + (["matchering"] if use_mg else [])
                    + [f"tonemorph_{q}" for q in cfg["qualities"]] + ["oracle"]),
        "case_build_s": round(build_s, 1), "cases": {},
    }
    run["jobs"] = jobs
    args = (cfg["qualities"], cfg["oracle_s"], use_mg, seed, cfg["draws"], cfg["draw_seeds"])
    done = {cid: rec for cid, rec in (resume or {}).items()
            if cid in {i["id"] for i in case_infos}}
    todo = [info for info in case_infos if info["id"] not in done]
    run["resumed_cases"] = sorted(done)
    if done:
        print(f"resuming: {len(done)} cases taken from the partial run", flush=True)

    def finished(rec: dict[str, Any]) -> None:
        done[rec["id"]] = rec
        if partial_path is not None:
            write_text(partial_path, json.dumps({**run, "cases": done}, indent=1))

    if jobs <= 1:
        for info in todo:
            finished(_case_job(info, *args))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                 initializer=_worker_init) as pool:
            futures = [pool.submit(_case_job, info, *args) for info in todo]
            for f in as_completed(futures):
                finished(f.result())
    run["cases"] = {info["id"]: done[info["id"]] for info in case_infos}
    run["run_seconds"] = round(time.monotonic() - t_start, 1)
    return _jsonable(run)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=list(MODES), default="quick")
    ap.add_argument("--cases", type=Path, default=None, help="case folder (bench/cases/<mode>)")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="JSON + plots folder")
    ap.add_argument("--md", type=Path, default=HERE / "results.md", help="markdown tables")
    ap.add_argument("--sources", nargs="*", help=f"subset of {list(cases_mod.SOURCES)}")
    ap.add_argument("--chains", nargs="*",
                    help=f"subset of {list(CHAINS)} (the default), or extra chains "
                         f"{[c for c in ALL_CHAINS if c not in CHAINS]} (those named fresh* "
                         "are held out: never tune on them)")
    ap.add_argument("--qualities", nargs="*", choices=[*QUALITIES, "smoke"],
                    help="'smoke': a few learning steps, to check the pipeline only")
    ap.add_argument("--duration", type=float, help="seconds per performance")
    ap.add_argument("--oracle-seconds", type=float, help="paired oracle time budget per case")
    ap.add_argument("--no-matchering", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2,
                    help="cases run in parallel, one thread each (1: in process)")
    ap.add_argument("--draws", type=int, default=1,
                    help="learn each case this many times, the input scaled by 1 +- k*1e-6 "
                         "(the learner's own noise; the tables' tonemorph rows stay draw 0)")
    ap.add_argument("--draw-seeds", action="store_true",
                    help="draws at seeds seed+1, seed+2, ... instead of a scaled input: other "
                         "training segments and loss projections, the larger noise")
    ap.add_argument("--tag", default="", help="suffix of the output names")
    ap.add_argument("--compare", type=Path, help="an earlier run's JSON to compare against")
    ap.add_argument("--compare-only", type=Path,
                    help="compare this JSON with --compare without running anything")
    ap.add_argument("--resume", action="store_true",
                    help="reuse the finished cases of an interrupted run (<stem>.partial.json)")
    ap.add_argument("--render", type=Path,
                    help="rewrite the tables and plots of an earlier run's JSON, run nothing")
    args = ap.parse_args(argv)
    if args.draws < 1:
        ap.error(f"--draws must be >= 1, got {args.draws}")
    if args.render:
        run = json.loads(args.render.read_text())
        for case in run["cases"].values():  # derived values follow the current definition
            for m, r in case["methods"].items():
                r["metrics"]["gap_closed"] = suite_report._gap(case, m)
        write_text(args.render, json.dumps(_jsonable(run), indent=1))
        plots = suite_report.plot_all(run, args.render.parent, args.render.stem)
        write_text(args.md, suite_report.markdown(run, args.render, plots, base=args.md.parent))
        print(f"wrote {args.md} and {len(plots)} plots")
        return 0
    if args.compare_only:
        if not args.compare:
            ap.error("--compare-only needs --compare OLD.json")
        print_comparison(compare_runs(json.loads(args.compare.read_text()),
                                      json.loads(args.compare_only.read_text())))
        return 0
    old = json.loads(args.compare.read_text()) if args.compare else None
    cases_dir = args.cases or HERE / "cases" / args.mode
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"suite_{args.mode}{'_' + args.tag if args.tag else ''}"
    partial = args.out / f"{stem}.partial.json"
    resume = (json.loads(partial.read_text())["cases"] if args.resume and partial.exists()
              else None)
    run = run_suite(args.mode, cases_dir, args.sources, args.chains, args.qualities,
                    args.duration, args.oracle_seconds, not args.no_matchering, args.seed,
                    args.jobs, partial, resume, args.draws, args.draw_seeds)
    json_path = args.out / f"{stem}.json"
    write_text(json_path, json.dumps(run, indent=1))
    plots = suite_report.plot_all(run, args.out, stem)
    md = suite_report.markdown(run, json_path, plots, base=args.md.parent)
    write_text(args.md, md)
    partial.unlink(missing_ok=True)
    print(md)
    print(f"wrote {json_path}, {args.md} and {len(plots)} plots in {run['run_seconds']:.0f} s")
    if old is not None:
        print(f"\n== compared with {args.compare}")
        print_comparison(compare_runs(old, run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
