"""Write the small demo recordings shipped in ``src/tonemorph/data``.

* ``demo_input.flac``  - a plain clean-guitar take (~30 s): a generated monophonic MIDI line
  rendered with FluidSynth + FluidR3_GM (MIT licensed sound font), program 27.
* ``demo_target.flac`` - a tone example (~30 s) playing DIFFERENT notes, processed by a nonlinear
  chain: sox ``compand`` -> sox ``overdrive`` -> a cabinet-like EQ written here with scipy biquads.
* ``demo_holdout_input.flac`` / ``demo_holdout_truth.flac`` (optional, ~15 s each) - a third line
  and the same chain applied to it, so the demo can score on held-out material. Written only if
  all four files stay under 2 MB.

No GPL material is used for the shipped audio (no guitarix plugins or impulse responses).
Deterministic (fixed seeds). Needs ``fluidsynth``, ``fluid-soundfont-gm``, ``sox`` and the
``bench`` extra (``mido``).

Usage::

    python tools/make_demo_audio.py [--out src/tonemorph/data]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np
import soundfile as sf
from scipy.signal import sosfilt

ROOT = Path(__file__).resolve().parents[1]


def _bench_modules() -> tuple[ModuleType, ModuleType, ModuleType]:
    """Import the bench helpers shared here: ``audio_util``, ``chains`` and ``performances``."""
    sys.path.insert(0, str(ROOT / "bench"))
    import audio_util
    import chains
    import performances

    return audio_util, chains, performances


audio_util, chains, performances = _bench_modules()
SR: int = audio_util.SR

PROGRAM = 27  # GM Electric Guitar (clean), 0-based
SEEDS = {"input": 20240601, "target": 20240602, "holdout": 20240603}
DURATIONS = {"input": 30.0, "target": 30.0, "holdout": 15.0}
MAIN_LIMIT = 1.6e6  # bytes, demo_input + demo_target
TOTAL_LIMIT = 2.0e6  # bytes, with the optional hold-out pair

# Cabinet-like EQ (RBJ biquads): (kind, frequency Hz, Q, gain dB)
CAB_EQ: list[tuple[str, float, float, float]] = [
    ("highpass", 90.0, 0.8, 0.0),
    ("peak", 140.0, 1.0, 3.0),
    ("peak", 500.0, 1.2, -5.0),
    ("peak", 2300.0, 1.4, 5.0),
    ("lowpass", 4800.0, 0.9, 0.0),
    ("lowpass", 5200.0, 0.6, 0.0),
    ("peak", 7000.0, 1.0, -6.0),
]
COMPAND = ["compand", "0.003,0.25", "6:-70,-70,-45,-35,-25,-22,0,-12", "0", "-20"]
OVERDRIVE = ["overdrive", "22", "30"]
OUTPUT_GAIN_DB = 3.0


def biquad(kind: str, freq: float, q: float, gain_db: float) -> np.ndarray:
    """One RBJ-cookbook biquad as a second-order section ``[b0 b1 b2 1 a1 a2]``."""
    w0 = 2 * np.pi * freq / SR
    alpha = np.sin(w0) / (2 * q)
    cos = np.cos(w0)
    if kind == "lowpass":
        b = [(1 - cos) / 2, 1 - cos, (1 - cos) / 2]
        a = [1 + alpha, -2 * cos, 1 - alpha]
    elif kind == "highpass":
        b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
        a = [1 + alpha, -2 * cos, 1 - alpha]
    elif kind == "peak":
        amp = 10 ** (gain_db / 40)
        b = [1 + alpha * amp, -2 * cos, 1 - alpha * amp]
        a = [1 + alpha / amp, -2 * cos, 1 - alpha / amp]
    else:
        raise ValueError(f"unknown biquad kind {kind!r}")
    return np.array(b + a, dtype=np.float64) / a[0]


def cab_eq(x: np.ndarray) -> np.ndarray:
    """Apply the cabinet-like EQ (causal IIR filtering)."""
    sos = np.stack([biquad(*band) for band in CAB_EQ])
    return sosfilt(sos, x.astype(np.float64)).astype(np.float32)


def target_chain(x: np.ndarray) -> np.ndarray:
    """Drive + cab + compression: compand -> overdrive (sox) -> cabinet EQ -> output gain."""
    pad = SR // 2  # silent pre-roll so the compander starts settled; trimmed afterwards
    y = np.concatenate([np.zeros(pad, np.float32), x.astype(np.float32)])
    y = chains.Gain(-12.0).apply(y)  # headroom inside sox (fixed point)
    y = chains.Sox(COMPAND + OVERDRIVE + ["gain", "-6"]).apply(y)
    y = cab_eq(y)
    y = chains.Gain(OUTPUT_GAIN_DB).apply(y)
    return y[pad:]


def take(name: str, work: Path) -> np.ndarray:
    """Render the clean take ``name`` (input / target / holdout), peak -3 dBFS."""
    notes, bpm = performances.generate_line(SEEDS[name], DURATIONS[name])
    mid = work / f"{name}.mid"
    performances.write_midi(notes, bpm, PROGRAM, mid, SEEDS[name])
    return audio_util.normalise_peak(performances.render_midi(mid, DURATIONS[name]))


def write_flac(path: Path, x: np.ndarray) -> int:
    """Write 16-bit mono FLAC at 48 kHz (max compression); return the size in bytes."""
    if np.max(np.abs(x)) > 1.0:
        raise RuntimeError(f"{path.name} would clip (peak {audio_util.peak_db(x):.2f} dBFS)")
    sf.write(str(path), x, SR, format="FLAC", subtype="PCM_16", compression_level=1.0)
    return path.stat().st_size


LICENSE_TEXT = """# Demo audio: origin and license

Files: `demo_input.flac`, `demo_target.flac` (and, when present, `demo_holdout_input.flac`,
`demo_holdout_truth.flac`). 48 kHz, mono, 16-bit FLAC. Made by `tools/make_demo_audio.py`
(deterministic; fixed seeds {seeds}).

## How they were made

* The notes are monophonic guitar lines generated at random by `tools/make_demo_audio.py`
  (code in `bench/performances.py`, part of this project). Each file plays different notes.
* They were rendered with FluidSynth using the **FluidR3_GM** sound font (Debian package
  `fluid-soundfont-gm`), program 27 "Electric Guitar (clean)", reverb and chorus off.
  FluidR3_GM is released under the MIT license (notice below).
* `demo_input.flac` and `demo_holdout_input.flac` are clean renderings (peak -3 dBFS).
* `demo_target.flac` and `demo_holdout_truth.flac` are renderings processed by a drive chain:
  SoX `{compand}` -> `{overdrive}` -> a cabinet-like EQ of RBJ biquads written in this project
  ({cab}). SoX was only used as a tool; no SoX code or data is contained in the audio.
* No guitarix plugins or impulse responses (GPL) were used for these files.

## License

The demo audio files are distributed under the MIT license, like tonemorph. They contain sounds
rendered from FluidR3_GM, whose notice follows.

> Copyright (c) 2000-2002, 2008 Frank Wen; Copyright (c) 2008 Toby Smithe
> ("I hereby release Fluid under the MIT license, as described in COPYING.")
>
> Permission is hereby granted, free of charge, to any person obtaining a copy of this software
> and associated documentation files (the "Software"), to deal in the Software without
> restriction, including without limitation the rights to use, copy, modify, merge, publish,
> distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
> Software is furnished to do so, subject to the following conditions:
>
> The above copyright notice and this permission notice shall be included in all copies or
> substantial portions of the Software.
>
> THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
> BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
> NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
> DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
> OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def main(argv: list[str] | None = None) -> int:
    """Render the demo files and print their levels and sizes."""
    ap = argparse.ArgumentParser(description="Write tonemorph's demo audio.")
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "tonemorph" / "data")
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tm_demo_") as tmp:
        work = Path(tmp)
        clean_in = take("input", work)
        target = target_chain(take("target", work))
        hold_in = take("holdout", work)
        hold_truth = target_chain(hold_in)
    for name, x in (("demo_input", clean_in), ("demo_target", target),
                    ("demo_holdout_input", hold_in), ("demo_holdout_truth", hold_truth)):
        if np.max(np.abs(x)) > 1.0:  # check everything before writing anything
            raise RuntimeError(f"{name} would clip (peak {audio_util.peak_db(x):.2f} dBFS)")
    sizes = {
        "demo_input.flac": write_flac(out / "demo_input.flac", clean_in),
        "demo_target.flac": write_flac(out / "demo_target.flac", target),
    }
    main_total = sum(sizes.values())
    if main_total >= MAIN_LIMIT:
        raise RuntimeError(f"demo files too large: {main_total} bytes >= {MAIN_LIMIT:.0f}")
    hold = {"demo_holdout_input.flac": hold_in, "demo_holdout_truth.flac": hold_truth}
    for name, x in hold.items():
        sizes[name] = write_flac(out / name, x)
    if sum(sizes.values()) >= TOTAL_LIMIT:  # optional pair does not fit: drop it
        for name in hold:
            (out / name).unlink()
            sizes.pop(name)
        print("hold-out pair skipped (total would exceed 2 MB)")
    cab = ", ".join(f"{k} {f:g} Hz Q {q:g}" + (f" {g:+g} dB" if k == "peak" else "")
                    for k, f, q, g in CAB_EQ)
    (out / "LICENSE_DEMO_AUDIO.md").write_text(LICENSE_TEXT.format(
        seeds=", ".join(f"{k}={v}" for k, v in SEEDS.items()), compand=" ".join(COMPAND),
        overdrive=" ".join(OVERDRIVE), cab=cab))
    levels = {"demo_input.flac": clean_in, "demo_target.flac": target,
              "demo_holdout_input.flac": hold_in, "demo_holdout_truth.flac": hold_truth}
    for name, size in sizes.items():
        x = levels[name]
        print(f"{name:26s} {len(x) / SR:5.1f} s  peak {audio_util.peak_db(x):6.1f} dBFS  "
              f"rms {audio_util.rms_db(x):6.1f} dBFS  {size / 1e3:7.1f} kB")
    print(f"total {sum(sizes.values()) / 1e6:.3f} MB "
          f"(input+target {main_total / 1e6:.3f} MB; gain of target chain at output "
          f"{audio_util.db_to_gain(OUTPUT_GAIN_DB):.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
