"""`tonemorph demo`: learn from the bundled example audio, apply, score against the truth."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import numpy as np

from tonemorph.api import Progress, learn
from tonemorph.dsp.matcheq import apply_match_eq, fit_match_eq
from tonemorph.errors import OutputPathError
from tonemorph.io import check_outputs, os_reason, read_audio, write_audio
from tonemorph.metrics import score

DEMO_FILES = ("demo_input.flac", "demo_target.flac", "demo_holdout_input.flac",
              "demo_holdout_truth.flac")


def demo_audio(name: str) -> tuple[np.ndarray, int]:
    """One of the bundled demo recordings as (channels, samples) float32 and its rate."""
    path = resources.files("tonemorph") / "data" / name
    with resources.as_file(path) as p:
        audio, sr, _ = read_audio(p, role="demo audio")
    return audio, sr


DEMO_AUDIO = ("input", "target", "output", "holdout_input", "holdout_output",
              "holdout_matcheq", "holdout_truth")


def demo_outputs(out_dir: str | Path) -> list[Path]:
    """Every file `run_demo` writes into out_dir."""
    out = Path(out_dir)
    return [out / "tone.tmodel", *(out / f"{name}.wav" for name in DEMO_AUDIO)]


def run_demo(out_dir: str | Path, *, quality: str = "fast", force: bool = False,
             progress: Progress | None = None) -> dict:
    """Learn the demo tone, write input/target/output wavs to out_dir, return metrics.

    Files already in out_dir are replaced only with `force` (checked before learning).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"demo folder {out} is a file; choose another folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot create demo folder {out} ({os_reason(exc)}); choose "
                              "another folder") from exc
    check_outputs(demo_outputs(out), [], force=force)
    x, sr = demo_audio("demo_input.flac")
    y, sr_y = demo_audio("demo_target.flac")
    hx, _ = demo_audio("demo_holdout_input.flac")
    ht, _ = demo_audio("demo_holdout_truth.flac")
    t0 = time.monotonic()
    tone = learn((x, sr), (y, sr_y), quality=quality, progress=progress)
    learn_s = time.monotonic() - t0
    tone.save(out / "tone.tmodel", overwrite=force)
    out_train = tone.apply(x, sr)
    out_hold = tone.apply(hx, sr)
    matched = fit_match_eq(x, y, sr)(hx)  # fitted on the same data the tone learned from
    matched_self = apply_match_eq(hx, y, sr)  # re-fitted on the held-out take itself
    audio = (x, y, out_train, hx, out_hold, matched, ht)
    for name, a in zip(DEMO_AUDIO, audio, strict=True):
        write_audio(out / f"{name}.wav", a, sr, subtype="PCM_24", overwrite=force)
    metrics = {"identity": score(hx, ht, sr), "static match-EQ": score(matched, ht, sr),
               "match-EQ re-fit on take": score(matched_self, ht, sr),
               "tonemorph": score(out_hold, ht, sr)}
    return {"metrics": metrics, "chosen": tone.training["chosen"], "learn_seconds": learn_s,
            "tone": tone}
