"""`tonemorph demo`: learn from the bundled example audio, apply, score against the truth.

The bundled target went through a compander, an overdrive and a cabinet EQ: a tone whose
brightness and dynamics depend on how hard a note is played. The held-out table therefore
shows, beside the overall distance, the error on the softest and the loudest quarter of the
notes and the loudness and crest-factor errors: what a static EQ cannot follow.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import numpy as np

from tonemorph.dsp.matcheq import apply_match_eq, fit_match_eq
from tonemorph.errors import OutputPathError
from tonemorph.io import check_outputs, os_reason, read_audio, write_audio
from tonemorph.metrics import align, frame_levels_db, level_binned_spectra, score
from tonemorph.progress import Progress

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


DEMO_REPORT = "report.html"
LISTEN = ("holdout_input", "holdout_output", "holdout_truth")  # the A/B/C worth hearing first


def demo_outputs(out_dir: str | Path) -> list[Path]:
    """Every file `run_demo` writes into out_dir."""
    out = Path(out_dir)
    return [out / "tone.tmodel", *(out / f"{name}.wav" for name in DEMO_AUDIO),
            out / DEMO_REPORT]


def level_bin_errors_db(est: np.ndarray, truth: np.ndarray, sample_rate: int,
                        n_bins: int = 4) -> np.ndarray:
    """Mean |dB| between log-mel spectra of est and truth per loudness bin, softest first.

    est is aligned to truth first; frames are grouped by the truth's frame levels (quantiles),
    so each bin compares the same moments of the performance.
    """
    e, r, _ = align(est, truth, sample_rate)
    n = min(e.shape[-1], r.shape[-1])
    e, r = e[..., :n], r[..., :n]
    levels = frame_levels_db(r, sample_rate)
    _, se, _ = level_binned_spectra(e, sample_rate, n_bins=n_bins, ref_levels=levels)
    _, st, _ = level_binned_spectra(r, sample_rate, n_bins=n_bins, ref_levels=levels)
    return np.nanmean(np.abs(se - st), axis=1)


def held_out_metrics(est: np.ndarray, truth: np.ndarray, sample_rate: int) -> dict[str, float]:
    """`tonemorph.metrics.score` plus the error on the softest and loudest quarter (dB)."""
    m = score(est, truth, sample_rate)
    bins = level_bin_errors_db(est, truth, sample_rate)
    m.update(soft_db=float(bins[0]), loud_db=float(bins[-1]))
    return m


def run_demo(out_dir: str | Path, *, quality: str = "default", force: bool = False,
             progress: Progress | None = None) -> dict:
    """Learn the demo tone, write input/target/output wavs and an HTML report to out_dir.

    Returns the held-out metrics per method, the chosen chain, the learning time, the tone,
    the paths to listen to (`listen`) and to open (`report`), and `notes` (e.g. why the wavs
    are float). Files already in out_dir are replaced only with `force` (checked before
    learning).
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
    from tonemorph.api import learn_tone  # here: bench and distill import this module's helpers

    tone = learn_tone((x, sr), (y, sr_y), quality=quality, progress=progress)
    learn_s = time.monotonic() - t0
    tone.save(out / "tone.tmodel", overwrite=force)
    out_train = tone.apply(x, sr)
    out_hold = tone.apply(hx, sr)
    matched = fit_match_eq(x, y, sr)(hx)  # fitted on the same data the tone learned from
    matched_self = apply_match_eq(hx, y, sr)  # re-fitted on the held-out take itself
    audio = (x, y, out_train, hx, out_hold, matched, ht)
    notes = []
    peaks = {name: float(np.max(np.abs(a))) if a.size else 0.0
             for name, a in zip(DEMO_AUDIO, audio, strict=True)}
    over = {name: v for name, v in peaks.items() if v > 1.0}
    # 24-bit files would clip those peaks; all seven stay one format, to compare alike
    subtype = "FLOAT" if over else "PCM_24"
    if over:
        notes.append("peaks above full scale (" + ", ".join(
            f"{n}.wav {20 * np.log10(v):+.1f} dBFS" for n, v in over.items())
            + "): the demo's wavs are written as 32-bit float, so nothing is clipped; turn "
            "your player down before listening")
    for name, a in zip(DEMO_AUDIO, audio, strict=True):
        write_audio(out / f"{name}.wav", a, sr, subtype=subtype, overwrite=force)
    # the report plays and analyses the held-out take: what the tone does to new playing
    from tonemorph.report import build_report

    report = build_report(tone, (hx, sr), (y, sr_y), out / DEMO_REPORT, force=force,
                          title="tonemorph demo: the learned tone on a held-out take")
    metrics = {"doing nothing": held_out_metrics(hx, ht, sr),
               "static match-EQ": held_out_metrics(matched, ht, sr),
               "match-EQ re-fit on take": held_out_metrics(matched_self, ht, sr),
               "tonemorph": held_out_metrics(out_hold, ht, sr)}
    return {"metrics": metrics, "chosen": tone.training["chosen"], "learn_seconds": learn_s,
            "tone": tone, "report": report.path,
            "listen": [out / f"{name}.wav" for name in LISTEN], "notes": notes}
