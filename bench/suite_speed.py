"""Learning speed under load: wall time, CPU time and peak memory of `learn_tone`, idle and
with one CPU-bound process beside it, measured in one run (issue 15).

Each learn runs in a fresh process (so peak memory is its own); the busy neighbour is a
`while True: pass` loop started just before and killed just after. Runs are interleaved
(idle, busy, idle, busy, ...) so that slow drifts of a shared machine fall on both sides; the
load average before each run is recorded, because other work on the machine is load too.

    python bench/suite_speed.py                       # fast + default on the amp_crunch case
    python bench/suite_speed.py --qualities default --repeats 2 --tag after

Writes ``<out>/learn_speed<tag>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_CASE = HERE / "cases" / "quick" / "fr3_clean" / "amp_crunch"
BUSY_LOOP = "while True:\n    pass\n"

# Runs in the child: learn from the case's B_input toward A_target, print one JSON line.
CHILD = r"""
import json, resource, sys, time
import soundfile as sf
import tonemorph
case, quality = sys.argv[1], sys.argv[2]
x, sr = sf.read(case + "/B_input.wav", dtype="float32", always_2d=True)
y, sr_y = sf.read(case + "/A_target.wav", dtype="float32", always_2d=True)
learn = getattr(tonemorph, "learn_tone", None) or tonemorph.learn
t0, c0 = time.monotonic(), time.process_time()
tone = learn((x.T, sr), (y.T, sr_y), quality=quality, seed=0)
print(json.dumps({"wall_s": time.monotonic() - t0, "cpu_s": time.process_time() - c0,
                  "peak_mem_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "chosen": tone.training.get("chosen"), "steps": tone.training.get("steps"),
                  "input_s": x.shape[0] / sr, "target_s": y.shape[0] / sr_y}))
"""


def run_learn(case: Path, quality: str, busy: bool, timeout_s: float) -> dict[str, Any]:
    """One learn in a fresh process, optionally beside a CPU-bound loop; its measurements."""
    neighbour = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
    try:
        load = os.getloadavg()[0]
        res = subprocess.run([sys.executable, "-c", CHILD, str(case), quality],
                             capture_output=True, text=True, timeout=timeout_s, check=False)
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    if res.returncode != 0:
        raise RuntimeError(f"learn failed ({res.returncode}): {res.stderr[-2000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out.update(quality=quality, busy=busy, load_avg_1min_before=round(load, 2))
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per quality: median idle and busy wall/CPU time, peak memory and the busy/idle ratio."""
    import statistics as st

    out: dict[str, dict[str, float]] = {}
    for q in dict.fromkeys(r["quality"] for r in runs):
        idle = [r for r in runs if r["quality"] == q and not r["busy"]]
        busy = [r for r in runs if r["quality"] == q and r["busy"]]
        row = {"idle_wall_s": st.median(r["wall_s"] for r in idle),
               "idle_cpu_s": st.median(r["cpu_s"] for r in idle),
               "peak_mem_mb": max(r["peak_mem_mb"] for r in idle + busy)}
        if busy:
            row["busy_wall_s"] = st.median(r["wall_s"] for r in busy)
            row["busy_over_idle"] = row["busy_wall_s"] / row["idle_wall_s"]
        out[q] = {k: round(v, 2) for k, v in row.items()}
    return out


def markdown(result: dict[str, Any]) -> str:
    """The summary as a markdown table, with the conditions it was measured under."""
    lines = [f"# learn speed ({result['tag'] or 'current'}), {result['date']}", "",
             (f"case `{result['case']}`, {result['cpus']} CPUs, threads env "
             f"`{result['threads_env']}`; 1-min load average before each run: "
             f"{', '.join(str(r['load_avg_1min_before']) for r in result['runs'])}"), "",
             "| quality | idle wall s | idle CPU s | busy wall s | busy / idle | peak MB |",
             "|---|---|---|---|---|---|"]
    for q, r in result["summary"].items():
        lines.append(f"| {q} | {r['idle_wall_s']} | {r['idle_cpu_s']} | "
                     f"{r.get('busy_wall_s', '-')} | {r.get('busy_over_idle', '-')} | "
                     f"{r['peak_mem_mb']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line entry."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", type=Path, default=DEFAULT_CASE,
                    help="case folder with B_input.wav and A_target.wav (bench/cases.py)")
    ap.add_argument("--qualities", nargs="+", default=["fast", "default"])
    ap.add_argument("--repeats", type=int, default=1, help="idle/busy pairs per quality")
    ap.add_argument("--no-busy", action="store_true", help="idle runs only")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per learn")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    if not (args.case / "B_input.wav").exists():
        print(f"no case at {args.case}: run python bench/cases.py --out bench/cases/quick",
              file=sys.stderr)
        return 2
    runs = []
    for q in args.qualities:
        for _ in range(args.repeats):
            for busy in ((False,) if args.no_busy else (False, True)):
                r = run_learn(args.case, q, busy, args.timeout)
                print(f"{q:8s} {'busy' if busy else 'idle'}: wall {r['wall_s']:.1f} s, CPU "
                      f"{r['cpu_s']:.1f} s, peak {r['peak_mem_mb']:.0f} MB, load before "
                      f"{r['load_avg_1min_before']}", flush=True)
                runs.append(r)
    result = {"tag": args.tag, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "case": str(args.case.relative_to(HERE.parent) if args.case.is_relative_to(
                  HERE.parent) else args.case), "cpus": os.cpu_count(),
              "threads_env": os.environ.get("TONEMORPH_THREADS", "unset"),
              "runs": runs, "summary": summarise(runs)}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"learn_speed{'_' + args.tag if args.tag else ''}"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
