"""Capture mode: learn gear from a DI and its reamp (aligned first), as a grey-box tone chain
(`fit_paired_chain`) or a neural network (`capture_module`), with the engine of `learn.train`.
"""
from __future__ import annotations

import math
import time
import warnings

import numpy as np
import scipy.signal
import torch

from tonemorph.chain.chain import STAGES, ChainConfig, ToneChain
from tonemorph.dsp.align import MAX_LAG_MS, Alignment, align_pair
from tonemorph.errors import AudioContentError
from tonemorph.learn.fit import INIT_FFT, INPUT_LEVEL_DB, QUALITY_PRESETS, normalise_input
from tonemorph.learn.train import (
    SEGMENT_SAMPLES,
    VAL_FRACTION,
    VAL_MAX_SAMPLES,
    PairedFit,
    _as_signal,
    _scores,
    _selection,
    fit_module,
    predict,
    segment_plan,
)
from tonemorph.losses.paired import (
    esr,
)
from tonemorph.metrics import mrstft_distance
from tonemorph.model import Tone
from tonemorph.progress import Progress

# --------------------------------------------------------------------------- grey-box capture

GREYBOX_SECONDS = 40.0  # default wall-time budget of a grey-box capture
GREYBOX_LR = 0.02  # Adam on the chain's raw (sigmoid-mapped) parameters
GREYBOX_WARMUP_S = 0.1  # context before each segment: cabinet, EQ tails and envelopes settle
GREYBOX_SEGMENT = 8192  # with the warm-up this fills the chain's 32768-point FFTs
GREYBOX_BATCH = 4
GREYBOX_VAL_SAMPLES = 3 * 48000  # the chain runs slower than a neural net: validate on less
DYNAMICS_START_RATIO = 1.2  # sag / compressor ratio of the drive starts
TRAIN_STARTS = 2  # drive starts trained briefly after the closed-form ranking
START_SHARE = 0.3  # share of the budget spent on those; the rest refines the best
TEST_FRACTION = 0.1  # tail of the aligned pair never trained on nor used to pick a state
ANCHOR_SECONDS = 6.0  # audio used for the closed-form cabinet and level starts
# MR-STFT weight in the grey-box's training loss and in its choice of start and state: with
# heavy gain the waveform cannot be followed sample by sample and ESR alone prefers a quiet
# output (the bench's paired oracle came out 25 LU too quiet on an amp crunch with 0.01)
GREYBOX_MRSTFT_WEIGHT = 1.0


def _least_squares_gain_db(out: np.ndarray, y: np.ndarray) -> float:
    """Gain (dB) g minimising ||y - g out||^2, as a magnitude (polarity is handled apart)."""
    num = float(np.dot(out.astype(np.float64), y.astype(np.float64)))
    den = float(np.dot(out.astype(np.float64), out.astype(np.float64)))
    if den <= 0 or num <= 0:
        return 0.0
    return 20 * math.log10(num / den)


def _rms_match_gain_db(out: np.ndarray, y: np.ndarray) -> float:
    """Gain (dB) that gives `out` the RMS of `y` (0 when either is silent).

    Not the least-squares gain: that one shrinks with the correlation, down to silence for an
    output that is right in spectrum but not sample by sample (heavy distortion).
    """
    p_out = float(np.mean(out.astype(np.float64) ** 2))
    p_y = float(np.mean(y.astype(np.float64) ** 2))
    if p_out <= 0 or p_y <= 0:
        return 0.0
    return 10 * math.log10(p_y / p_out)


def _anchor_cab_paired(chain: ToneChain, x: torch.Tensor, y: np.ndarray, warm: int) -> None:
    """Set the cab curve to the measured transfer from the chain's pre-cab output to y.

    With a pair the static match is the H1 estimate cross-spectrum / auto-spectrum (Welch),
    which keeps only what is coherent with the input, unlike a ratio of power spectra (which
    also counts distortion products as cabinet). Averaged in each band's log-frequency cell;
    zero mean over 100 Hz-8 kHz, the output gain takes the level.
    """
    if "cab" not in chain.cfg.stages:
        return
    sr = chain.cfg.sample_rate
    vals = chain.values()
    vals["cab.band_db"] = [0.0] * chain.cfg.cab_bands
    chain.set_values(vals)
    with torch.no_grad():
        u = chain(x)[0].double().numpy()[warm:]
    t = y[warm:].astype(np.float64)
    f, p_uy = scipy.signal.csd(u, t, fs=sr, nperseg=INIT_FFT)
    _, p_uu = scipy.signal.welch(u, fs=sr, nperseg=INIT_FFT)
    power = np.abs(p_uy) ** 2 / np.maximum(p_uu, 1e-30) ** 2
    band_hz = chain.cfg.band_hz()
    edges = np.concatenate([[band_hz[0] / 1.1], np.sqrt(band_hz[1:] * band_hz[:-1]),
                            [band_hz[-1] * 1.1]])
    log_f = np.log(np.maximum(f, 1.0))
    curve = 10 * np.log10(power + 1e-30)
    bands = np.empty(len(band_hz))
    for i in range(len(band_hz)):
        cell = (f >= edges[i]) & (f < edges[i + 1])
        bands[i] = (10 * np.log10(power[cell].mean() + 1e-30) if cell.any()
                    else float(np.interp(np.log(band_hz[i]), log_f, curve)))
    mid = (band_hz > 100) & (band_hz < 8000)
    bands -= float(np.mean(bands[mid]))
    rng = next(s for s in chain.specs if s.name == "cab.band_db").range
    vals["cab.band_db"] = [rng.clamp(float(b)) for b in bands]
    chain.set_values(vals)


def _start_chain(cfg: ChainConfig, drive_db: float | None, x_anchor: np.ndarray,
                 y_anchor: np.ndarray, warm: int) -> ToneChain:
    """A chain at one drive start, cab set to the static spectrum ratio, RMS level matched."""
    chain = ToneChain(cfg)
    vals = chain.neutral_values()
    if drive_db is not None:
        vals["drive.drive_db"] = drive_db
    loud_db = 10 * math.log10(float(np.percentile(y_anchor.astype(np.float64) ** 2, 99)) + 1e-12)
    # dynamics start barely engaged (at ratio 1 or above the signal they get no gradient);
    # the clean start (no drive) keeps them off: it stands for a linear capture
    for stage, thr in (("sag", INPUT_LEVEL_DB - 6.0), ("comp", loud_db - 16.0)):
        if stage in cfg.stages and drive_db is not None:
            vals[f"{stage}.threshold_db"] = thr
            vals[f"{stage}.ratio"] = DYNAMICS_START_RATIO
    chain.set_values(vals)
    xa = torch.from_numpy(x_anchor)[None]
    _anchor_cab_paired(chain, xa, y_anchor, warm)
    _set_level(chain, x_anchor, y_anchor, warm)
    return chain


def _gain_change_db(chain: ToneChain, delta_db: float) -> float:
    """What a move of the output gain by `delta_db` (dB) becomes after its range's clamp."""
    now_db = float(chain.values()["out_gain_db"])
    rng = next(sp for sp in chain.specs if sp.name == "out_gain_db").range
    return rng.clamp(now_db + delta_db) - now_db


def _shift_out_gain(chain: ToneChain, delta_db: float) -> float:
    """Move the output gain by `delta_db` (dB, clamped to its range); returns the move made."""
    change = _gain_change_db(chain, delta_db)
    vals = chain.values()
    vals["out_gain_db"] = float(vals["out_gain_db"]) + change
    chain.set_values(vals)
    return change


def _set_level(chain: ToneChain, x: np.ndarray, y: np.ndarray, warm: int) -> None:
    """Set the output gain in closed form: the least-squares or the RMS-matching one on (x, y).

    Whichever has the lower selection score (ESR + MR-STFT) is kept. The least-squares gain
    is ESR-optimal but shrinks with the correlation (to silence for an output right in
    spectrum but not sample by sample, as with heavy distortion); the RMS match keeps the
    loudness.
    """
    _, pred = _scores(chain, x, y, warm)
    options = {"least squares": _least_squares_gain_db(pred[warm:], y[warm:]),
               "rms": _rms_match_gain_db(pred[warm:], y[warm:])}
    scores = {}
    for name, g in options.items():
        # the chain is linear in its output gain: score the scaled prediction, no rerun
        p = (pred * 10 ** (_gain_change_db(chain, g) / 20)).astype(np.float32)
        e_g = float(esr(torch.from_numpy(p[warm:]).double(), torch.from_numpy(y[warm:]).double()))
        scores[name] = _selection(e_g, p, y, warm, GREYBOX_MRSTFT_WEIGHT)
    _shift_out_gain(chain, options[min(scores, key=scores.__getitem__)])


def _match_rms(chain: ToneChain, x: np.ndarray, y: np.ndarray, warm: int) -> float:
    """Move the output gain so chain(x) has the RMS of y; returns the change (dB).

    Sample-wise training still pulls the level down where the waveform cannot be followed
    (its ESR term); where it can, the RMS-matching gain is within a hair of the least-squares
    one (1 / correlation), so this costs a clean capture next to nothing.
    """
    _, pred = _scores(chain, x, y, warm)
    return _shift_out_gain(chain, _rms_match_gain_db(pred[warm:], y[warm:]))


def fit_paired_chain(x: np.ndarray, y: np.ndarray, sample_rate: int, *,
                     stages: tuple[str, ...] = STAGES, seconds: float | None = None,
                     steps: int | None = None, seed: int = 0,
                     max_lag_ms: float = MAX_LAG_MS, progress: Progress | None = None) -> Tone:
    """Grey-box capture: fit the tone chain sample-wise to a DI x and its reamp y (1-D, Hz).

    The latency is found and removed first (refusing unrelated files), the input level is
    normalised as in unpaired learning, the cabinet starts from the static spectrum ratio and
    several drive starts are trained briefly before the best is refined. Budget: `seconds`
    of wall time (default GREYBOX_SECONDS) or `steps` (deterministic for a seed). The last
    TEST_FRACTION of the pair is held out; its ESR and MR-STFT go into `Tone.training`.
    """
    if seconds is None and steps is None:
        seconds = GREYBOX_SECONDS
    t0 = time.monotonic()
    x, y = _as_signal(x, "input"), _as_signal(y, "target")
    xa, ya, al = align_pair(x, y, sample_rate, max_lag_ms=max_lag_ms)
    warn_clock_drift(al)
    cfg = ChainConfig(stages=tuple(stages), sample_rate=sample_rate)
    in_gain_db = normalise_input(xa)
    warm = int(GREYBOX_WARMUP_S * sample_rate)
    x_tr, y_tr, val, (x_te, y_te), (x_an, y_an) = _greybox_data(
        xa, ya, al.polarity, in_gain_db, cfg, sample_rate)
    # None: the drive left neutral (clean, nearly linear), beside the unpaired learner's starts
    starts: tuple[float | None, ...] = ((None, *QUALITY_PRESETS["default"]["starts"])
                                        if "drive" in cfg.stages else (None,))
    common = {"seed": seed, "lr": GREYBOX_LR, "segment_samples": GREYBOX_SEGMENT,
              "batch_size": GREYBOX_BATCH, "warmup_samples": warm, "validation": val,
              "mrstft_weight": GREYBOX_MRSTFT_WEIGHT,
              "select_mrstft_weight": GREYBOX_MRSTFT_WEIGHT}
    candidates: dict[str, float] = {}
    # every drive start is anchored in closed form and judged on the validation slice (ESR +
    # MR-STFT, as the states in training); the TRAIN_STARTS best are trained briefly, and the
    # best of those is refined
    anchored = []
    for d in starts:
        chain = _start_chain(cfg, d, x_an, y_an, warm)
        v, pred = _scores(chain, val[0], val[1], warm)
        v = _selection(v, pred, val[1], warm, GREYBOX_MRSTFT_WEIGHT)
        tag = f"drive {d:+.0f} dB" if d is not None else "clean"
        candidates[f"{tag} anchored"] = round(v, 6)
        anchored.append((v, tag, chain))
    anchored.sort(key=lambda item: item[0])
    trained = anchored[:TRAIN_STARTS] if len(anchored) > 1 else []
    best: PairedFit | None = None
    done_steps = 0
    interrupted = False
    for _, tag, chain in trained:
        fit = fit_module(chain, x_tr, y_tr, sample_rate,
                         seconds=None if seconds is None else
                         START_SHARE * seconds / len(trained),
                         steps=None if steps is None else
                         max(1, int(START_SHARE * steps / len(trained))),
                         val_every=20, progress=_tagged(progress, tag), **common)
        done_steps += fit.steps
        candidates[tag] = round(fit.score, 6)
        if best is None or fit.score < best.score:
            best = fit
        if fit.interrupted:
            interrupted = True
            break
    chain = best.module if best is not None else anchored[0][2]
    history = list(best.history) if best else []
    rest_s = None if seconds is None else max(seconds - (time.monotonic() - t0), 1.0)
    rest_steps = None if steps is None else steps - done_steps
    if not interrupted and (rest_steps is None or rest_steps > 0):
        fit = fit_module(chain, x_tr, y_tr, sample_rate, seconds=rest_s, steps=rest_steps,
                         progress=_tagged(progress, "refine"), **common)
        done_steps += fit.steps
        interrupted = fit.interrupted
        history += fit.history
        chain = fit.module
    # the loudness of the held-out validation slice, matched in closed form
    level_db = _match_rms(chain, val[0], val[1], warm)
    test_esr, pred = _scores(chain, x_te, y_te, warm)
    test_mr = mrstft_distance(pred[warm:], y_te[warm:], sample_rate)
    n_test = len(x_te)
    training = {
        "mode": "paired", "arch": "greybox", **alignment_record(al),
        "esr": round(test_esr, 6), "mrstft": round(test_mr, 6),
        "held_out_seconds": round(n_test / sample_rate, 3),
        "candidates": candidates, "steps": done_steps,
        "seconds": round(time.monotonic() - t0, 2), "seed": seed,
        "stages_requested": list(stages), "interrupted": interrupted,
        "output_level_change_db": round(level_db, 3),
        "history": [[round(t, 2), round(e, 6)] for t, e in history],
    }
    return Tone.from_chain(chain, in_gain_db, training)


def _greybox_data(xa: np.ndarray, ya: np.ndarray, polarity: int, in_gain_db: float,
                  cfg: ChainConfig, sample_rate: int) -> tuple:
    """The aligned pair (`align_pair`'s), level-normalised, split into train, validation, test
    and anchor parts.

    The target is delayed by the chain's oversampler latency (the torch chain has it; the
    streaming apply removes it) and made non-inverted (the chain keeps polarity). The test
    part is the tail; validation and anchor are the loudest windows of the rest (a quiet
    intro or outro would otherwise set the level and judge the drive where nothing clips),
    and training is what is left around the validation window, joined.
    """
    if polarity < 0:
        ya = -ya
    xs = (xa * 10 ** (in_gain_db / 20)).astype(np.float32)
    lat = cfg.latency_samples
    yd = np.concatenate([np.zeros(lat, np.float32), ya])[: len(ya)]
    warm = int(GREYBOX_WARMUP_S * sample_rate)
    n = len(xs)
    n_train, n_val, n_test = _three_way(n, warm + GREYBOX_SEGMENT, GREYBOX_VAL_SAMPLES,
                                        sample_rate)
    hop = max(1, sample_rate // 10)
    v0 = _loudest_start(yd[: n - n_test], n_val, hop)
    keep = np.r_[0:v0, v0 + n_val: n - n_test]
    x_tr, y_tr = xs[keep], yd[keep]
    n_anchor = min(n_train, int(ANCHOR_SECONDS * sample_rate))
    a0 = _loudest_start(y_tr, n_anchor, hop)
    anchor = slice(a0, a0 + n_anchor)
    val = slice(v0, v0 + n_val)
    return (x_tr, y_tr, (xs[val], yd[val]), (xs[n - n_test:], yd[n - n_test:]),
            (x_tr[anchor], y_tr[anchor]))


def _loudest_start(y: np.ndarray, length: int, hop: int) -> int:
    """Start (samples, a multiple of hop) of the `length`-sample window of y with most energy."""
    if length >= len(y):
        return 0
    c = np.concatenate([[0.0], np.cumsum(y.astype(np.float64) ** 2)])
    starts = np.arange(0, len(y) - length + 1, hop)
    return int(starts[np.argmax(c[starts + length] - c[starts])])


def _three_way(n: int, min_samples: int, val_cap: int, sample_rate: int
               ) -> tuple[int, int, int]:
    """Sample counts (train, validation, test) of an aligned pair of n samples, in that order."""
    n_test = int(n * TEST_FRACTION)
    n_val = min(int(n * VAL_FRACTION), val_cap)
    n_train = n - n_test - n_val
    if n_train < min_samples or n_val < min_samples or n_test < min_samples:
        raise AudioContentError(
            f"the aligned pair is only {n / sample_rate:.1f} s long; a paired capture needs at "
            f"least {min_samples / (TEST_FRACTION * sample_rate):.0f} s: record a longer one")
    return n_train, n_val, n_test


def alignment_record(al: Alignment) -> dict:
    """The latency detection's result as training metadata (samples, ms, quality)."""
    return {"latency_samples": al.lag_samples, "latency_ms": round(al.lag_ms, 3),
            "correlation_peak_samples": round(al.lag_exact, 3),
            "polarity_inverted": al.polarity < 0, "correlation": round(al.correlation, 4),
            "alignment_agreement": round(al.agreement, 3),
            **({"clock_drift_ppm": round(al.drift_ppm, 2)} if al.drift_ppm else {})}


def warn_clock_drift(al: Alignment) -> None:
    """Say that `align_pair` found the reamp on another clock than the DI and resampled it."""
    if al.drift_ppm:
        warnings.warn(f"the reamp's clock runs {al.drift_ppm:+.1f} ppm against the DI's "
                      "(recorded on another interface than the one that played it?): "
                      "resampled onto the DI's clock; record both on one interface for the "
                      "closest capture", stacklevel=3)


# weight of the plain (not pre-emphasised) ESR in neural capture, as NAM trains (MSE + pre-
# emphasised MSE): held-out ESR on amp_crunch after 150 s 0.132 with it, 0.195 without
CAPTURE_PLAIN_WEIGHT = 1.0


def capture_module(module: torch.nn.Module, x: np.ndarray, y: np.ndarray, sample_rate: int, *,
                   seconds: float | None = None, steps: int | None = None, seed: int = 0,
                   lr: float = 4e-3, max_lag_ms: float = MAX_LAG_MS,
                   progress: Progress | None = None) -> tuple[PairedFit, dict]:
    """Neural capture: align DI x and reamp y (1-D, Hz), train `module`, score a held-out tail.

    Levels are kept as recorded (the model must run at the player's DI level), and so is the
    polarity (a neural model learns an inversion). Returns the fit and training metadata
    (latency, held-out ESR and MR-STFT, steps, seconds, ESR history).
    """
    t0 = time.monotonic()
    xa, ya, al = align_pair(_as_signal(x, "input"), _as_signal(y, "target"), sample_rate,
                            max_lag_ms=max_lag_ms)
    warn_clock_drift(al)
    warm = int(getattr(module, "warmup_samples", 0))
    n_train, n_val, n_test = _three_way(len(xa), warm + SEGMENT_SAMPLES, VAL_MAX_SAMPLES,
                                        sample_rate)
    val = (xa[n_train: n_train + n_val], ya[n_train: n_train + n_val])
    x_te, y_te = xa[len(xa) - n_test:], ya[len(xa) - n_test:]
    fit = fit_module(module, xa[:n_train], ya[:n_train], sample_rate, seconds=seconds,
                     steps=steps, seed=seed, lr=lr, validation=val,
                     plain_weight=CAPTURE_PLAIN_WEIGHT, progress=progress)
    test_esr, pred = _scores(fit.module, x_te, y_te, warm)
    test_mr = mrstft_distance(pred[warm:], y_te[warm:], sample_rate)
    training = {
        "mode": "paired", **alignment_record(al),
        "esr": round(test_esr, 6), "mrstft": round(test_mr, 6),
        "validation_esr": round(fit.esr, 6),
        "held_out_seconds": round(n_test / sample_rate, 3), "steps": fit.steps,
        "seconds": round(time.monotonic() - t0, 2), "seed": seed,
        "interrupted": fit.interrupted,
        "history": [[round(t, 2), round(e, 6)] for t, e in fit.history],
    }
    return fit, training


def _tagged(progress: Progress | None, tag: str) -> Progress | None:
    """A progress callback that reports under `tag` instead of the engine's own."""
    if progress is None:
        return None
    return lambda _t, done, total, loss: progress(tag, done, total, loss)


__all__ = [
    "PairedFit",
    "alignment_record",
    "capture_module",
    "fit_module",
    "fit_paired_chain",
    "predict",
    "segment_plan",
]
