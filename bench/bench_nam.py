"""Throughput of the `.nam` runner per architecture on one core, beside the plain torch module.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python bench/bench_nam.py

x realtime = seconds of 48 kHz audio / wall seconds (best of 3). "runner" = what
`tonemorph apply model.nam` runs per channel (fused WaveNet path / compiled LSTM kernel,
65,536-sample blocks with state); "torch module" = the training module's forward over the
whole signal in one call under inference_mode. Writes bench/results/nam_throughput.md + json.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from tonemorph.dsp.excitation import guitar_phrases
from tonemorph.export.nam import load_nam, write_nam
from tonemorph.neural import make_model
from tonemorph.neural.runner import BlockProcessor, apply_model

RESULTS = Path(__file__).resolve().parent / "results"
SECONDS = 10.0
ARCHS = ("standard", "lite", "feather", "nano", "lstm")


def best_of(f, n: int = 3) -> float:
    """Fastest wall time (s) of n calls."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    torch.set_num_threads(1)
    x = guitar_phrases(SECONDS, 48000, peak_dbfs=-6.0, seed=1)
    x44 = guitar_phrases(SECONDS, 44100, peak_dbfs=-6.0, seed=1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ARCHS:
            path = Path(tmp) / f"{arch}.nam"
            write_nam(path, make_model(arch))
            m = load_nam(path)
            xt = torch.from_numpy(x)[None]
            BlockProcessor(m, 1).process(x[None, :4800])  # compile / warm caches

            def run_runner() -> None:
                p = BlockProcessor(m, 1)
                for i in range(0, len(x), 1 << 16):
                    p.process(x[None, i: i + (1 << 16)])

            def run_torch() -> None:
                with torch.inference_mode():
                    m(xt)

            t_run = best_of(run_runner)
            t_torch = best_of(run_torch, 2)
            t_44 = best_of(lambda: apply_model(m, 48000, x44, 44100), 2)
            rows.append({"arch": arch, "weights": int(m.num_weights()),
                         "runner_x": SECONDS / t_run, "torch_x": SECONDS / t_torch,
                         "runner_44k1_x": SECONDS / t_44})
            print(rows[-1], flush=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.machine()}, shared 2-core VM, one thread",
            "audio_s": SECONDS, "torch": torch.__version__}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "nam_throughput.json").write_text(json.dumps({"meta": meta, "rows": rows},
                                                            indent=1) + "\n")
    lines = [f"# `.nam` runner throughput ({meta['date']}, {meta['machine']})", "",
             f"{SECONDS:.0f} s of audio, best of 3; x realtime (higher is better).", "",
             "| arch | weights | runner, 48 kHz | runner, 44.1 kHz take (resampled) | "
             "torch module | runner / torch |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['arch']} | {r['weights']} | {r['runner_x']:.1f} | "
                     f"{r['runner_44k1_x']:.1f} | {r['torch_x']:.1f} | "
                     f"{r['runner_x'] / r['torch_x']:.1f}x |")
    (RESULTS / "nam_throughput.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
