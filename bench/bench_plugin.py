"""The plugin's DSP core: CPU x realtime per core and equality with `tonemorph apply`.

    .venv/bin/python bench/bench_plugin.py

Builds the offline runner (`tonemorph.plugin.build(tools=True)`, build/plugin-bench), then
1. x realtime = seconds of 48 kHz mono audio / CPU seconds of the runner's process loop (best
   of 3, one thread: the plugin's audio callback on one core), default chain (every stage,
   tests/io/data/learned_fast.tmodel), host blocks 32, 64, 256, 1024; beside the `.nam`
   runner figures of bench/results/nam_throughput.md;
2. the equality table: relative RMS error of the plugin's output (latency removed) against
   `Tone.apply`, rate x block x knobs, stereo take.
Writes bench/results/plugin.md.
"""

from __future__ import annotations

import datetime as dt
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "plugin"))

from plugin_support import KNOBS, LATENCY, aligned_error, offline, reference, take

from tonemorph.plugin import build

RESULTS = ROOT / "bench" / "results"
TONE = ROOT / "tests" / "io" / "data" / "learned_fast.tmodel"
BENCH_BLOCKS = (32, 64, 256, 1024)
RATES = (44100, 48000, 96000)
EQ_BLOCKS = (1, 64, 65, 512, 4096)


def realtime(tool: Path, block: int, seconds: float = 30.0) -> float:
    """Best of 3: x realtime of the default chain, 48 kHz mono, host block `block`."""
    runs = [subprocess.run([str(tool), "--model", str(TONE), "--rate", "48000", "--block",
                            str(block), "--bench", str(seconds)], capture_output=True,
                           text=True, check=True) for _ in range(3)]
    return max(float(r.stdout.split()[0]) for r in runs)


def nam_rows() -> list[tuple[str, str]]:
    """(arch, x realtime at 48 kHz) of the `.nam` runner, from its own results file."""
    path = RESULTS / "nam_throughput.md"
    if not path.is_file():
        return []
    rows = re.findall(r"^\| (\w+) \| \d+ \| ([\d.]+) \|", path.read_text(), re.MULTILINE)
    return rows


def equality(tool: Path, tmp: Path) -> list[tuple[int, str, list[float]]]:
    out = []
    for rate in RATES:
        x = take(rate, 2, seconds=1.0)
        for name, knobs in KNOBS.items():
            ref = reference(TONE, x, rate, knobs)
            errs = [aligned_error(offline(tool, TONE, x, rate, b, knobs, tmp), ref, LATENCY)
                    for b in EQ_BLOCKS]
            out.append((rate, name, errs))
    return out


def main() -> None:
    result = build(ROOT / "build" / "plugin-bench", formats=(), tools=True)
    tool = result.tools["tm_offline"]
    speeds = {b: realtime(tool, b) for b in BENCH_BLOCKS}
    with tempfile.TemporaryDirectory() as tmp:
        table = equality(tool, Path(tmp))
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Plugin DSP core ({now}, {platform.machine()}, shared 2-core VM, one thread)",
             "",
             "## CPU x realtime per core (default chain: every stage; 48 kHz mono)",
             "",
             ("CPU time of the process loop, best of 3 over 30 s of audio; the goal is >= 300x "
              "at 64-sample blocks."),
             "",
             "| host block | x realtime |", "|---|---|"]
    lines += [f"| {b} | {speeds[b]:.0f} |" for b in BENCH_BLOCKS]
    nam = nam_rows()
    if nam:
        lines += ["", ("Beside the `.nam` WaveNet/LSTM runner (bench/results/nam_throughput.md, "
                       "48 kHz, 65,536-sample blocks, wall time):"), "",
                  "| `.nam` arch | x realtime |", "|---|---|"]
        lines += [f"| {a} | {v} |" for a, v in nam]
    lines += ["", ("## Equality with `tonemorph apply` (relative RMS error, stereo take, "
                   "latency removed; bound 1e-4)"), "",
              ("knobs: neutral = amount 100 %; pushed = drive +6, tone -3, level -2 dB; "
               "partial = amount 60 %, drive -4, tone +5, level +3 dB (compensation measured "
               "on the take, as the CLI does)."), "",
              "| rate | knobs | " + " | ".join(f"block {b}" for b in EQ_BLOCKS) + " |",
              "|---|---|" + "---|" * len(EQ_BLOCKS)]
    lines += [f"| {rate} | {name} | " + " | ".join(f"{e:.1e}" for e in errs) + " |"
              for rate, name, errs in table]
    worst = max(max(errs) for _, _, errs in table)
    lines += ["", f"Worst: {worst:.1e}."]
    (RESULTS / "plugin.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    if worst >= 1e-4 or not np.isfinite(worst):
        sys.exit("plugin output differs from tonemorph apply beyond 1e-4")


if __name__ == "__main__":
    main()
