"""Paired training: fit any (B, T) -> (B, T) torch module to an aligned input/target pair.

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
import scipy.signal
import torch

from tonemorph.chain.chain import STAGES, ChainConfig, ToneChain
from tonemorph.dsp.align import MAX_LAG_MS, Alignment, align_pair, apply_lag
from tonemorph.errors import AudioContentError, ParameterError
from tonemorph.io.paths import check_stop, stop_handled
from tonemorph.learn.fit import INIT_FFT, INPUT_LEVEL_DB, QUALITY_PRESETS, normalise_input
from tonemorph.losses.paired import (
    PRE_EMPHASIS_COEF,
    MRSTFTLoss,
    PairedLoss,
    esr,
    reference_power,
)
from tonemorph.metrics import mrstft_distance
from tonemorph.model import Tone
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
    opt = torch.optim.Adam(params, lr=lr)
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
        else:
            progress("train", min(int(time.monotonic() - t0), int(seconds)), int(seconds),
                     best_esr)

    try:
        while budget_used() < 1.0:
            check_stop()
            for g in opt.param_groups:
                g["lr"] = _cosine_lr(lr, budget_used())
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
    xa, _, al = align_pair(x, y, sample_rate, max_lag_ms=max_lag_ms)
    cfg = ChainConfig(stages=tuple(stages), sample_rate=sample_rate)
    in_gain_db = normalise_input(xa)
    warm = int(GREYBOX_WARMUP_S * sample_rate)
    x_tr, y_tr, val, (x_te, y_te), (x_an, y_an) = _greybox_data(
        x, y, al.lag_samples, al.polarity, in_gain_db, cfg, sample_rate)
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


def _greybox_data(x: np.ndarray, y: np.ndarray, lag: int, polarity: int, in_gain_db: float,
                  cfg: ChainConfig, sample_rate: int) -> tuple:
    """Aligned, level-normalised pair split into train, validation, test and anchor parts.

    The target is delayed by the chain's oversampler latency (the torch chain has it; the
    streaming apply removes it) and made non-inverted (the chain keeps polarity). The test
    part is the tail; validation and anchor are the loudest windows of the rest (a quiet
    intro or outro would otherwise set the level and judge the drive where nothing clips),
    and training is what is left around the validation window, joined.
    """
    xa, ya = apply_lag(x, y, lag)
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
            "alignment_agreement": round(al.agreement, 3)}


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
