"""Paired training engine: fit any (B, T) -> (B, T) torch module to an aligned input/target pair.

One engine for capture mode (a DI and its reamp through real gear) and for distillation (a
grey-box chain's own output as the target). Loss: pre-emphasised ESR + MR-STFT, as Neural Amp
Modeler trains; the best state on a held-out validation slice is kept.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from tonemorph.errors import AudioContentError, ParameterError
from tonemorph.io.paths import check_stop, stop_handled
from tonemorph.learn.optim import Adam
from tonemorph.losses.paired import (
    PRE_EMPHASIS_COEF,
    MRSTFTLoss,
    PairedLoss,
    esr,
    reference_power,
)
from tonemorph.progress import Progress

DEFAULT_STEPS = 500  # when neither a time nor a step budget is given
SEGMENT_SAMPLES = 8192  # shortest default scored segment (NAM trains on 16 x 8192)
SCORED_PER_STEP = 1 << 17  # scored samples per training step, as NAM's 16 x 8192
MAX_WARMUP_SHARE = 0.125  # longest warm-up, as a share of a segment's scored samples
VAL_FRACTION = 0.15  # tail of the pair held out for validation when none is passed
VAL_MAX_SAMPLES = 10 * 48000  # validation is run often; longer slices cost more than they tell
VAL_EVERY = 25  # steps between validations
PREDICT_CHUNK = 1 << 18  # samples per forward call when running a long signal (one call is
# cheaper than several for FFT-based modules; validation slices fit in one)
LR_FLOOR = 0.05  # the cosine schedule ends at this fraction of the initial learning rate
# gradient norms are clipped at CLIP_FACTOR x the median norm of the last CLIP_WINDOW steps:
# a few batches (the loudest, most distorted segments) give gradients 10-40x the median,
# and each such step undoes many others (standard WaveNet distillation, equal time:
# validation ESR 0.038 with clipping vs 0.081 without at 300 steps)
CLIP_FACTOR = 2.0
CLIP_WINDOW = 100


@dataclass
class PairedFit:
    """A trained module (best validation state loaded) and how training went.

    esr and mrstft are measured on the validation slice (plain ESR, no pre-emphasis).
    history holds (seconds since start, validation ESR) at every validation.
    """

    module: torch.nn.Module
    esr: float
    mrstft: float
    steps: int
    seconds: float
    history: list[tuple[float, float]] = field(default_factory=list)
    interrupted: bool = False
    score: float = math.nan  # the selection score of the kept state (see fit_module)


def _as_signal(a: np.ndarray, name: str) -> np.ndarray:
    """Check a 1-D finite float signal and return it as float32."""
    v = np.asarray(a, dtype=np.float32)
    if v.ndim != 1:
        raise ParameterError(f"{name} must be a 1-D signal (samples,), got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise AudioContentError(f"{name} contains NaN or Inf samples; clean it first")
    return v


def predict(module: torch.nn.Module, x: np.ndarray, warmup_samples: int = 0,
            chunk: int = PREDICT_CHUNK) -> np.ndarray:
    """Run a module over a long 1-D signal in chunks; output has x's length.

    Each chunk is preceded by `warmup_samples` of the signal before it (zeros at the start),
    so a module with that much memory gives the same output as one long call.
    """
    x = _as_signal(x, "x")
    w = int(warmup_samples)
    padded = np.concatenate([np.zeros(w, np.float32), x])
    out = np.empty(len(x), np.float32)
    with torch.no_grad():
        for i in range(0, len(x), chunk):
            seg = torch.from_numpy(padded[i: i + w + chunk])[None]
            y = module(seg)[0, w:].float().numpy()
            out[i: i + len(y)] = y
    return out


def _scores(module: torch.nn.Module, x: np.ndarray, y: np.ndarray, warm: int
            ) -> tuple[float, np.ndarray]:
    """Plain ESR of the module on (x, y) after `warm` samples, and its prediction."""
    pred = predict(module, x, warm)
    e = float(esr(torch.from_numpy(pred[warm:]).double(), torch.from_numpy(y[warm:]).double()))
    return e, pred


def _selection(e: float, pred: np.ndarray, y: np.ndarray, warm: int,
               mrstft_weight: float) -> float:
    """Validation score ESR + mrstft_weight * MR-STFT (lower is better; NaN-safe).

    ESR alone can be won by a quiet output where the waveform cannot be followed sample by
    sample (the ESR-optimal gain of an uncorrelated prediction is 0); MR-STFT cannot.
    """
    if mrstft_weight <= 0 or not math.isfinite(e):
        return e
    return e + mrstft_weight * _mrstft(pred[warm:], y[warm:])


def _mrstft(pred: np.ndarray, y: np.ndarray) -> float:
    """MR-STFT distance (the torch loss, no gradient) between two 1-D signals."""
    with torch.no_grad():
        return float(MRSTFTLoss()(torch.from_numpy(pred)[None], torch.from_numpy(y)[None]))


def _split(x: np.ndarray, y: np.ndarray, validation: tuple[np.ndarray, np.ndarray] | None,
           need: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training and validation signals: the passed validation pair, or the tail of (x, y)."""
    if validation is not None:
        xv, yv = (_as_signal(v, n) for v, n in zip(validation, ("validation x", "validation y")))
        if len(xv) != len(yv):
            raise ParameterError("validation input and target must have the same length")
        return x, y, xv[:VAL_MAX_SAMPLES], yv[:VAL_MAX_SAMPLES]
    n_val = min(int(len(x) * VAL_FRACTION), VAL_MAX_SAMPLES)
    if len(x) - n_val < need or n_val < need:
        raise AudioContentError(
            f"the pair is too short to train on ({len(x)} samples); it needs at least "
            f"{math.ceil(need / VAL_FRACTION)} samples: record a longer capture")
    return x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:]


def segment_plan(warmup_samples: int, available: int | None = None) -> tuple[int, int]:
    """(segment_samples, batch_size) for SCORED_PER_STEP scored samples per training step.

    Segments grow from SEGMENT_SAMPLES until the unscored warm-up is at most MAX_WARMUP_SHARE
    of them: a NAM WaveNet's 4,092-sample warm-up costs 11 % of the work with 4 x 32768,
    not 33 % with 16 x 8192, at the same scored samples (measured 0.54 vs 0.87 s per
    standard step on one core). `available`: training samples, which a segment must fit in.
    """
    warm = max(int(warmup_samples), 0)
    seg = SEGMENT_SAMPLES
    while warm > MAX_WARMUP_SHARE * seg and seg < SCORED_PER_STEP:
        seg *= 2
    if available is not None:
        while seg > SEGMENT_SAMPLES and warm + seg > available:
            seg //= 2
    return seg, max(1, SCORED_PER_STEP // seg)


def _cosine_lr(lr: float, frac: float) -> float:
    """Learning rate at fraction `frac` (0..1) of the budget: cosine from lr to LR_FLOOR * lr."""
    frac = min(max(frac, 0.0), 1.0)
    return lr * (LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * frac)))


def fit_module(module: torch.nn.Module, x: np.ndarray, y: np.ndarray, sample_rate: int, *,
               seconds: float | None = None, steps: int | None = None, seed: int = 0,
               lr: float = 4e-3, pre_emphasis: float | None = PRE_EMPHASIS_COEF,
               mrstft_weight: float = 0.01, segment_samples: int | None = None,
               batch_size: int | None = None, warmup_samples: int | None = None,
               validation: tuple[np.ndarray, np.ndarray] | None = None,
               val_every: int = VAL_EVERY, select_mrstft_weight: float = 0.0,
               plain_weight: float = 0.0, progress: Progress | None = None) -> PairedFit:
    """Train `module` so module(x) matches y sample by sample (Adam, cosine schedule).

    x, y: aligned 1-D float32 signals of one length at `sample_rate` (Hz). Budget: `seconds`
    of wall time, or `steps` (the run is deterministic for a seed with a step budget).
    Each step scores `batch_size` random segments of `segment_samples` (default: see
    `segment_plan`), each preceded by `warmup_samples` (default: the module's
    `warmup_samples` attribute, else 0) of context that is run but not scored. The loss is
    the pre-emphasised squared error over the training target's power (+ `plain_weight` x
    the plain one, + MR-STFT); gradient norms are clipped at CLIP_FACTOR x their recent
    median. Validation: `validation` (x, y) or the last VAL_FRACTION of the pair (which is
    then not trained on). The kept state is the one with the lowest validation ESR +
    `select_mrstft_weight` * MR-STFT (0: plain ESR). Ctrl-C stops training and keeps the
    best state.
    """
    x, y = _as_signal(x, "x"), _as_signal(y, "y")
    if len(x) != len(y):
        raise ParameterError(f"x and y must be aligned and of one length, got {len(x)} and "
                             f"{len(y)} samples; align them first (tonemorph.dsp.align)")
    if sample_rate <= 0:
        raise ParameterError(f"sample_rate must be positive (Hz), got {sample_rate}")
    if (seconds is not None and seconds <= 0) or (steps is not None and steps <= 0):
        raise ParameterError("seconds and steps must be positive when given")
    if select_mrstft_weight < 0:
        raise ParameterError(f"select_mrstft_weight must be >= 0, got {select_mrstft_weight}")
    if seconds is None and steps is None:
        steps = DEFAULT_STEPS
    warm = int(getattr(module, "warmup_samples", 0) if warmup_samples is None else warmup_samples)
    if segment_samples is None or batch_size is None:
        plan = segment_plan(warm, len(x) if validation is not None
                            else int(len(x) * (1 - VAL_FRACTION)))
        segment_samples = plan[0] if segment_samples is None else segment_samples
        batch_size = plan[1] if batch_size is None else batch_size
    if segment_samples < 64 or batch_size < 1 or val_every < 1:
        raise ParameterError("segment_samples must be >= 64, batch_size and val_every >= 1")
    seg_len = warm + segment_samples
    xt, yt, xv, yv = _split(x, y, validation, seg_len)
    if len(xt) < seg_len:
        raise AudioContentError(f"the training audio ({len(xt)} samples) is shorter than one "
                                f"segment ({seg_len} samples); record a longer capture")
    if float(np.sum(yv[warm:].astype(np.float64) ** 2)) <= 0.0:
        raise AudioContentError("the validation target is silent; use a capture that has sound "
                                "in its last part, or pass a validation pair")
    power = reference_power(yt, pre_emphasis)
    if not power > 0.0:
        raise AudioContentError("the training target is silent; check the reamp file")

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    # the ESR's denominator is the whole training target's power, not each batch's: a batch
    # of quiet segments would otherwise weigh as much as a loud one (see ESRLoss)
    plain_weight = plain_weight if pre_emphasis is not None else 0.0
    loss_fn = PairedLoss(pre_emphasis, mrstft_weight, reference_power=power,
                         plain_weight=plain_weight,
                         plain_reference_power=reference_power(yt, None) if plain_weight
                         else None)
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ParameterError("the module has no trainable parameters")
    opt = Adam(params, lr=lr)
    t0 = time.monotonic()
    module.train()

    best_esr, best_pred = _scores(module, xv, yv, warm)
    best_score = _selection(best_esr, best_pred, yv, warm, select_mrstft_weight)
    best_state = copy.deepcopy(module.state_dict())
    history = [(time.monotonic() - t0, best_esr)]
    step, interrupted = 0, False
    max_start = len(xt) - seg_len
    norms: list[float] = []

    def budget_used() -> float:
        return step / steps if steps is not None else (time.monotonic() - t0) / seconds

    def report() -> None:
        if progress is None:
            return
        if steps is not None:
            progress("train", step, steps, best_esr)
        else:  # a time budget: the bar counts seconds, and says so (the summary counts steps)
            progress("train, s", min(int(time.monotonic() - t0), int(seconds)), int(seconds),
                     best_esr)

    try:
        while budget_used() < 1.0:
            check_stop()
            opt.lr = _cosine_lr(lr, budget_used())
            starts = rng.integers(0, max_start + 1, batch_size)
            xb = torch.from_numpy(np.stack([xt[s: s + seg_len] for s in starts]))
            yb = torch.from_numpy(np.stack([yt[s + warm: s + seg_len] for s in starts]))
            opt.zero_grad()
            loss = loss_fn(module(xb)[:, warm:].float(), yb)
            step += 1
            if torch.isfinite(loss):
                loss.backward()
                limit = CLIP_FACTOR * float(np.median(norms)) if norms else math.inf
                norm = float(torch.nn.utils.clip_grad_norm_(params, limit))
                if math.isfinite(norm):
                    norms = (norms + [norm])[-CLIP_WINDOW:]
                    opt.step()
            if step % val_every == 0 or budget_used() >= 1.0:
                module.eval()
                v, pred = _scores(module, xv, yv, warm)
                module.train()
                history.append((time.monotonic() - t0, v))
                sc = _selection(v, pred, yv, warm, select_mrstft_weight)
                if sc < best_score:
                    best_esr, best_score, best_pred = v, sc, pred
                    best_state = copy.deepcopy(module.state_dict())
                elif not math.isfinite(v):
                    # diverged: go back to the best state and keep going from there
                    module.load_state_dict(best_state)
            report()
    except KeyboardInterrupt:
        interrupted = True
        stop_handled()
    module.load_state_dict(best_state)
    module.eval()
    mr = _mrstft(best_pred[warm:], yv[warm:])
    return PairedFit(module, best_esr, mr, step, time.monotonic() - t0, history, interrupted,
                     best_score)


__all__ = ["PairedFit", "fit_module", "predict", "segment_plan", "SCORED_PER_STEP",
           "SEGMENT_SAMPLES", "VAL_MAX_SAMPLES"]
