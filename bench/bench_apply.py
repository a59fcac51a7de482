"""Apply throughput of the fast path on one core: x realtime for 60 s of 44.1 kHz mono audio.

Compares, in one run, the full default chain with a linear chain (EQ + cab) and the torch path
of the same chain, in process (imports and JIT compilation excluded).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python bench/bench_apply.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from signals import guitar_line  # noqa: E402

from tonemorph.chain.chain import ChainConfig, ToneChain  # noqa: E402
from tonemorph.model import Tone  # noqa: E402

SECONDS = 60.0
SR = 44100


def _tone(stages: tuple[str, ...]) -> Tone:
    chain = ToneChain(ChainConfig(stages=stages))
    v = chain.neutral_values()
    v.update({"drive.drive_db": 24.0, "drive.bias": 0.2, "sag.ratio": 2.0, "comp.ratio": 3.0,
              "sag.threshold_db": -30.0, "comp.threshold_db": -25.0, "pre_eq.mid_db": 6.0})
    if "cab" in stages:
        v["cab.band_db"] = list(np.random.default_rng(0).uniform(-10, 10, chain.cfg.cab_bands))
    chain.set_values({k: x for k, x in v.items() if k in chain.values()})
    return Tone.from_chain(chain, 0.0, {})


def best_of(fn, repeats: int = 3) -> float:
    """Fastest of `repeats` wall-clock runs, seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    torch.set_num_threads(1)
    x = guitar_line(SECONDS, SR, seed=7)[0] * 0.5
    rows = []
    for name, stages in (("default chain", ChainConfig().stages),
                         ("linear (eq + cab)", ("pre_eq", "post_eq", "cab"))):
        tone = _tone(stages)
        tone.apply(x[: SR], SR)  # compile
        t = best_of(lambda: tone.apply(x, SR))
        rows.append((f"tonemorph apply, {name}", SECONDS / t))
    chain = _tone(ChainConfig().stages).torch_chain()
    x48 = torch.from_numpy(guitar_line(SECONDS, 48000, seed=7)[0] * 0.5)[None]
    with torch.no_grad():
        t = best_of(lambda: chain(x48), repeats=1)
    rows.append(("torch path (same chain, 48 kHz, no resampling)", SECONDS / t))
    print(f"| method ({SECONDS:.0f} s, {SR} Hz mono, one core) | x realtime |")
    print("|---|---|")
    for name, xr in rows:
        print(f"| {name} | {xr:.0f} |")


if __name__ == "__main__":
    main()
