"""Latency detection before and after issue 14 ("paired capture refuses a genuine pair").

Every case is a DI and a target; `align_pair` (what `tonemorph learn --paired` calls) of each
version of `tonemorph.dsp.align` either lines them up (the CLI goes on: exit 0) or refuses
(AudioContentError: the CLI prints one line and exits 2). Versions: the one the issue was filed
against (commit d3a1c62), the first rework (30e065f, unchanged until this round), and the
working tree.

Genuine pairs: three DIs (the bundled FluidSynth takes, the synthetic `guitar_line`) through
third-party chains run offline: guitarix LV2 amps and pedals (`lv2apply`), guitarix cabinet
IRs, sox, inversions, plus an added interface delay. The true latency is that delay plus where
the chain's own response to a small click starts (1 % of its peak); its peak is shown too. A
lag is right when it lies in [start - 0.5 ms, peak + 0.5 ms] of the chain, moved by the delay.
Unrelated pairs (other music, another take of one riff, noise) must be refused.

    .venv/bin/python bench/bench_align.py           # ~5 min on 2 cores
Results: bench/results/align.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

import lv2host  # noqa: E402
from chains import CHAINS as CASE_CHAINS  # noqa: E402
from chains import GX, Cab, Chain, Lv2, Stage  # noqa: E402
from signals import guitar_line, riff_take, white_noise  # noqa: E402

from tonemorph.errors import TonemorphError  # noqa: E402

SR = 48000
TOL_MS = 0.5
# the version the issue was filed against, the one before this round of work, the working tree
VERSIONS = {"issue (d3a1c62)": "d3a1c62", "before (30e065f)": "30e065f", "now": None}

lv2host.LV2_HOST = "lv2apply"  # lilv's own host: the plugins as any user would run them


class Invert(Stage):
    """Polarity inversion (a mic or an amp stage wired the other way round)."""

    def apply(self, x: np.ndarray) -> np.ndarray:
        return -x

    def describe(self) -> dict[str, str]:
        return {"type": "invert"}


CHAINS: dict[str, list] = {
    "gx chump crunch > JMP 2203 cab": CASE_CHAINS["amp_crunch"].stages,
    "gx chump full gain > JMP 2203 cab": [
        Lv2(GX + "gx_redeye#chump", {"Gain": 1.0, "Tone": 0.55, "Volume": 0.5}),
        Cab("Marshall JMP 2203  Jose Arredondo mod", gain_db=6.0)],
    "gx ts9 > metal head > 5150 cab": CASE_CHAINS["heavy_drive_cab"].stages,
    "gx fuzz face > Kaos Sludge cab": CASE_CHAINS["fuzz_cab"].stages,
    "gx muff > Mesa Mark V cab, inverted": [
        Lv2(GX + "gx_muff_#_muff_", {"TONE": 0.6, "VOLUME": 0.5}),
        Cab("Mesa Boogie Mark V", gain_db=5.0), Invert()],
    "gx ts9 > muff > w20 > compressor": [
        Lv2(GX + "gxts9#ts9sim", {"fslider0_": 4.0}), Lv2(GX + "gx_muff_#_muff_", {}),
        Lv2(GX + "gx_w20#w20", {"gain": 1.0}),
        Lv2(GX + "gx_compressor#_compressor",
            {"RATIO": 20.0, "THRESHOLD": -40.0, "ATTACK": 0.001})],
    "gx jcm800 pre +20 dB > Vypyr 15 cab (0.46 s IR)": [
        Lv2(GX + "gx_jcm800pre_#_jcm800pre_", {"GAIN": 20.0}),
        Cab("Peavey Vypyr 15", gain_db=0.0)],
    "gx w20 gain full": [Lv2(GX + "gx_w20#w20", {"gain": 1.0})],
    "gx ds1 > studio pre > multiband comp": [
        Lv2(GX + "gx_bossds1_#_bossds1_", {"DRIVE": 1.0}),
        Lv2(GX + "gx_studiopre#studiopre", {"volume": 1.0}),
        Lv2(GX + "gx_mbcompressor_#_mbcompressor_", {})],
    "gx alembic pushed > w20": [Lv2(GX + "gx_alembic#alembic", {"input": 1.0}),
                                 Lv2(GX + "gx_w20#w20", {"gain": 1.0})],
    "gx hornet fuzz > compressor, inverted": [
        Lv2(GX + "gx_hornet_#_hornet_", {"FUZZ": 1.0}),
        Lv2(GX + "gx_compressor#_compressor", {"RATIO": 10.0, "THRESHOLD": -30.0}),
        Invert()],
    "sox compand > overdrive > EQ": CASE_CHAINS["compand_overdrive"].stages,
    "sox EQ > Engl cab (linear)": CASE_CHAINS["linear_eq_cab"].stages,
}


def run_chain(stages: list, x: np.ndarray) -> np.ndarray:
    """x (mono, SR) through the stages, with the bench chains' silent pre-roll; float64."""
    return Chain("bench", "", stages).process(x.astype(np.float32)).astype(np.float64)


def response_span(stages: list) -> tuple[int, int]:
    """Where the chain's response to a 1e-3 click starts (1 % of its peak) and peaks (samples),
    the click's response less the chain's response to silence."""
    click = np.zeros(SR // 2)
    click[SR // 4] = 1e-3
    h = np.abs(run_chain(stages, click) - run_chain(stages, np.zeros_like(click)))[SR // 4:]
    return int(np.argmax(h >= 0.01 * h.max())), int(np.argmax(h))


def delay(y: np.ndarray, d: int) -> np.ndarray:
    """y delayed by d samples (negative: its start cut)."""
    return np.concatenate([np.zeros(d), y]) if d >= 0 else y[-d:]


def dis() -> dict[str, np.ndarray]:
    """The DIs: the two bundled FluidSynth takes and the synthetic guitar line (float64)."""
    data = ROOT / "src" / "tonemorph" / "data"
    a, _ = sf.read(data / "demo_input.flac", dtype="float64", always_2d=True)
    b, _ = sf.read(data / "demo_holdout_input.flac", dtype="float64", always_2d=True)
    return {"fluid A": a.mean(axis=1)[: 10 * SR], "fluid B": b.mean(axis=1),
            "line": guitar_line(10.0, SR, seed=1)[0].astype(np.float64)}


@dataclass
class Case:
    """One pair: how to make it, and the right answer (None: must be refused)."""

    name: str
    make: Callable[[], tuple[np.ndarray, np.ndarray]]
    span: tuple[int, int] | None  # (start, peak) of the true lag in samples, delay included


def build_cases() -> list[Case]:
    """Genuine pairs (each chain on one DI, a different delay each) and unrelated pairs."""
    d = dis()
    delays = [1234, -480, 77, 30000, 5, 2400, -37, 9000, 611, 0, 1500, 48, 333]
    names = list(d)
    out = []
    for i, (chain, stages) in enumerate(CHAINS.items()):
        di_name, lag = names[i % len(names)], delays[i % len(delays)]
        x = d[di_name]
        start, peak = response_span(stages)
        out.append(Case(f"{di_name} → {chain}, +{lag} samples".replace("+-", "−"),
                        lambda x=x, s=stages, lag=lag: (x, delay(run_chain(s, x), lag)),
                        (start + lag, peak + lag)))
    crunch, metal = CHAINS["gx chump crunch > JMP 2203 cab"], CHAINS["gx ts9 > metal head > 5150 cab"]
    noise = white_noise(10.0, SR, seed=5)[0].astype(np.float64)
    other_line = guitar_line(10.0, SR, seed=2)[0].astype(np.float64)
    take1, take2 = (riff_take(10.0, SR, take=t)[0].astype(np.float64) for t in (1, 2))
    out += [
        Case("unrelated: fluid A vs fluid B through chump crunch > cab",
             lambda: (d["fluid A"][: 8 * SR], run_chain(crunch, d["fluid B"])), None),
        Case("unrelated: line vs another line through ts9 > metal head > cab",
             lambda: (d["line"], run_chain(metal, other_line)), None),
        Case("unrelated: two takes of one riff (10 ms timing) through chump crunch > cab",
             lambda: (take1, run_chain(crunch, take2)), None),
        Case("unrelated: two takes of one riff, clean", lambda: (take1, take2), None),
        Case("unrelated: fluid A vs white noise", lambda: (d["fluid A"], noise), None),
        Case("unrelated: line vs noise through fuzz face > cab",
             lambda: (d["line"], run_chain(CHAINS["gx fuzz face > Kaos Sludge cab"], noise)),
             None),
    ]
    return out


def load_version(rev: str | None) -> types.ModuleType:
    """tonemorph.dsp.align as of git revision `rev` (None: the working tree)."""
    if rev is None:
        import tonemorph.dsp.align as mod
        return mod
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:src/tonemorph/dsp/align.py"],
                         check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / f"align_{rev.replace('~', '_')}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = mod
    spec.loader.exec_module(mod)
    return mod


def outcome(mod: types.ModuleType, x: np.ndarray, y: np.ndarray, case: Case
            ) -> tuple[str, bool, float]:
    """Table cell (exit code and lag or message), whether it is right, seconds taken."""
    t = time.perf_counter()
    try:
        _, _, al = mod.align_pair(x, y, SR)
    except TonemorphError as e:  # what the CLI turns into one line and exit code 2
        msg = str(e)
        if "(" in msg and "parts agree" in msg:  # the refusal's numbers, not its advice
            msg = "not the same performance (" + msg.split("(", 1)[1].split(")")[0] + ")"
        return f"2: {msg}", case.span is None, time.perf_counter() - t
    dt = time.perf_counter() - t
    inv = " inv" if al.polarity < 0 else ""
    if case.span is None:
        return f"0: lag {al.lag_samples}{inv} (wrongly accepted)", False, dt
    tol = TOL_MS * 1e-3 * SR
    ok = case.span[0] - tol <= al.lag_samples <= case.span[1] + tol
    off = (f" ({al.lag_samples - case.span[1]:+d} past peak)" if al.lag_samples > case.span[1]
           else f" ({al.lag_samples - case.span[0]:+d} before start)"
           if al.lag_samples < case.span[0] else "")
    return f"0: lag {al.lag_samples}{inv}{off}", ok, dt


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE / "results" / "align.md")
    args = p.parse_args()
    mods = {label: load_version(rev) for label, rev in VERSIONS.items()}
    rows, score = [], {label: [0, 0] for label in mods}
    times: dict[str, list[float]] = {label: [] for label in mods}
    for case in build_cases():
        x, y = case.make()
        cells = []
        for label, mod in mods.items():
            cell, ok, dt = outcome(mod, x, y, case)
            score[label][0] += ok
            score[label][1] += 1
            times[label].append(dt)
            cells.append(("✓ " if ok else "✗ ") + cell)
        truth = "refuse" if case.span is None else f"{case.span[0]} … {case.span[1]}"
        rows.append(f"| {case.name} | {truth} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    head = ("| case | true lag: response start … peak (samples) | "
            + " | ".join(mods) + " |\n|" + "---|" * (2 + len(mods)))
    total = " | ".join(f"{score[k][0]}/{score[k][1]} right, median {np.median(times[k]):.1f} s"
                       for k in mods)
    text = (f"# Latency detection before and after issue 14\n\n"
            f"Made by `bench/bench_align.py` ({time.strftime('%Y-%m-%d')}). Each cell: the exit "
            f"code `learn --paired` gives at the alignment stage (0 lined up, 2 refused), then "
            f"the lag found (samples at {SR} Hz, `inv`: polarity inverted) or the refusal. "
            f"✓: refused where it must be, or a lag within {TOL_MS} ms of the chain's response "
            f"(start … peak, delay included).\n\n{head}\n" + "\n".join(rows)
            + f"\n| **total** | | {total} |\n")
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
