"""Distillation: turn a learned grey-box tone (`.tmodel`) into a neural model (NAM WaveNet or
LSTM, AIDA-X RNN) by training it on the chain's own output for a rich excitation.

The excitation (`tonemorph.dsp.excitation.distill_excitation`) plays the bundled guitar takes,
synthetic phrases and chords, sweeps and noise at levels from -45 to 0 dBFS. The target is the
chain at 48 kHz with its latency (oversampling, the peak limit's look-ahead) kept for a WaveNet
(causal: the model cannot look ahead) and removed for a recurrent model (see `target_advance`).
Training is `tonemorph.learn.train.fit_module`; the reported ESR is measured on a held-out
guitar take no training step or model selection has seen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from tonemorph.dsp.excitation import distill_excitation, guitar_phrases
from tonemorph.dsp.units import db_to_gain
from tonemorph.errors import ParameterError
from tonemorph.metrics import esr, esr_grade
from tonemorph.model import Tone
from tonemorph.progress import Progress

DISTILL_RATE = 48000  # NAM models run at 48 kHz
HOLDOUT_TAKE = "demo_holdout_input.flac"
TRAIN_TAKES = ("demo_input.flac", "demo_target.flac")
VALIDATION_SECONDS = 4.0  # per level; selects the best state during training
DEFAULT_SECONDS = 600.0
LONG_FRACTION = 0.5  # a release longer than this share of the receptive field is "long"


@dataclass
class DistillResult:
    """A distilled module and its quality: held-out ESR (plain, no pre-emphasis) and history."""

    module: torch.nn.Module
    esr: float
    grade: str
    validation_esr: float
    steps: int
    seconds: float
    history: list[tuple[float, float]] = field(default_factory=list)
    long_time_constants: list[str] = field(default_factory=list)
    interrupted: bool = False


def demo_takes() -> list[np.ndarray]:
    """The bundled guitar takes used as excitation, mono float32 at 48 kHz."""
    from tonemorph.demo import demo_audio

    out = []
    for name in TRAIN_TAKES:
        a, sr = demo_audio(name)
        out.append(_to_rate(a.mean(0), sr, DISTILL_RATE))
    return out


def holdout_take() -> np.ndarray:
    """The held-out guitar take (never trained on), mono float32 at 48 kHz."""
    from tonemorph.demo import demo_audio

    a, sr = demo_audio(HOLDOUT_TAKE)
    return _to_rate(a.mean(0), sr, DISTILL_RATE)


def _to_rate(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    if sr == target:
        return np.ascontiguousarray(x, np.float32)
    import soxr

    return soxr.resample(x, sr, target, quality="HQ").astype(np.float32)


def render_chain(tone: Tone, x: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """The tone's output for mono x at 48 kHz, latency kept (causal), float32."""
    fc = tone.fast_chain(sample_rate=DISTILL_RATE)
    parts = [fc.process(x[i: i + block]) for i in range(0, len(x), block)]
    return np.concatenate(parts or [np.zeros(0, np.float32)]).astype(np.float32)


def tone_without(tone: Tone, stages: tuple[str, ...] | list[str]) -> Tone:
    """The same tone with some stages removed (e.g. 'cab', to export amp and IR separately)."""
    from dataclasses import replace

    from tonemorph.chain.chain import param_specs

    unknown = [s for s in stages if s not in tone.config.stages]
    if unknown:
        raise ParameterError(f"the tone has no stage(s) {unknown}; it has "
                             f"{list(tone.config.stages)}")
    cfg = replace(tone.config, stages=tuple(s for s in tone.config.stages if s not in stages))
    keep = {s.name for s in param_specs(cfg)}
    return Tone(cfg, {k: v for k, v in tone.parameters.items() if k in keep},
                tone.input_gain_db, dict(tone.training))


def long_time_constants(tone: Tone, receptive_field: int, sample_rate: int = DISTILL_RATE
                        ) -> list[str]:
    """Dynamics stages whose attack/release (ms) outlast what a model of that receptive field
    (samples) sees; empty when none. A recurrent model (LSTM) can follow them."""
    if receptive_field <= 1:
        return []
    window_ms = 1000.0 * receptive_field / sample_rate
    notes = []
    p = tone.parameters
    for stage in ("sag", "comp"):
        if stage not in tone.config.stages or float(p.get(f"{stage}.ratio", 1.0)) < 1.05:
            continue
        for kind in ("attack_ms", "release_ms"):
            v = float(p.get(f"{stage}.{kind}", 0.0))
            if v > LONG_FRACTION * window_ms:
                notes.append(f"{stage} {kind.split('_')[0]} {v:.0f} ms")
    return notes


def target_advance(tone: Tone, module: torch.nn.Module) -> int:
    """Samples of the chain's latency taken out of the target for this model (0 or latency).

    A WaveNet reproduces the chain's latency (the shaper's 23 samples at 48 kHz, the peak
    limit's look-ahead 47 more) exactly: it sees its input's past. A recurrent model would
    have to hold that pure delay of a broadband signal in its state, which 24 units cannot
    (measured: LSTM 1 x 24 held-out ESR 0.94 after 600 steps with the latency, 0.25 after 200
    without), so it learns the chain without it, aligned as `tonemorph apply` plays the tone
    (which removes the latency too).
    """
    recurrent = int(getattr(module, "receptive_field", 1)) <= 1
    return tone.latency_at(DISTILL_RATE) if recurrent else 0


def _pair(tone: Tone, x: np.ndarray, advance: int) -> tuple[np.ndarray, np.ndarray]:
    """(input, target) for x: the chain's output, moved `advance` samples earlier."""
    y = render_chain(tone, x)
    if advance <= 0:
        return x, y
    return x[: len(x) - advance], y[advance:]


def _levels(x: np.ndarray, peaks_dbfs: tuple[float, ...]) -> np.ndarray:
    peak = float(np.max(np.abs(x))) or 1.0
    return np.concatenate([x * (db_to_gain(p) / peak) for p in peaks_dbfs]).astype(np.float32)


def distill(tone: Tone, module: torch.nn.Module, *, seconds: float | None = DEFAULT_SECONDS,
            steps: int | None = None, seed: int = 0, lr: float = 4e-3,
            excitation: np.ndarray | None = None, holdout: np.ndarray | None = None,
            threads: int | None = 1, segment_samples: int | None = None,
            batch_size: int | None = None, progress: Progress | None = None) -> DistillResult:
    """Train `module` (any (B, T) -> (B, T) model) to reproduce `tone` at 48 kHz.

    Budget: `seconds` of training wall time or `steps`; each step scores `batch_size`
    segments of `segment_samples` (default `tonemorph.learn.train.segment_plan`: 4 x 32768
    for a NAM WaveNet). `excitation`/`holdout` default to the
    bundled takes + synthetic material and the held-out demo take. Returns the module with the
    best validation state, its held-out ESR and NAM grade. `threads`: torch threads while
    training (see `tonemorph.neural.runner.torch_threads`).
    """
    from tonemorph.neural.runner import torch_threads

    with torch_threads(threads):
        return _distill(tone, module, seconds=seconds, steps=steps, seed=seed, lr=lr,
                        excitation=excitation, holdout=holdout,
                        segment_samples=segment_samples, batch_size=batch_size,
                        progress=progress)


def _distill(tone: Tone, module: torch.nn.Module, *, seconds: float | None,
             steps: int | None, seed: int, lr: float, excitation: np.ndarray | None,
             holdout: np.ndarray | None, segment_samples: int | None,
             batch_size: int | None, progress: Progress | None) -> DistillResult:
    from tonemorph.learn.train import fit_module, segment_plan
    from tonemorph.neural.runner import BlockProcessor

    if seconds is None and steps is None:
        raise ParameterError("give a time budget (seconds) or a number of steps")
    t0 = time.monotonic()
    if progress:
        progress("excitation", 0, 1, float("nan"))
    x = distill_excitation(DISTILL_RATE, demo_takes()) if excitation is None else (
        np.asarray(excitation, np.float32).reshape(-1))
    advance = target_advance(tone, module)
    x, y = _pair(tone, x, advance)
    xv, yv = _pair(tone, _levels(guitar_phrases(VALIDATION_SECONDS, DISTILL_RATE, seed=9173),
                                 (-18.0, -3.0)), advance)
    warm = int(getattr(module, "warmup_samples", 0))
    plan = segment_plan(warm, len(x))
    segment_samples = segment_samples or plan[0]
    batch_size = batch_size or plan[1]
    seg = min(segment_samples, max(len(x) // 4 - warm, 64))
    fit = fit_module(module, x, y, DISTILL_RATE, seconds=seconds, steps=steps, seed=seed, lr=lr,
                     segment_samples=seg, batch_size=batch_size, validation=(xv, yv),
                     progress=progress)
    model = fit.module.eval()
    if hasattr(model, "settle"):
        model.settle()
    xh = holdout_take() if holdout is None else np.asarray(holdout, np.float32).reshape(-1)
    xh, yh = _pair(tone, xh, advance)
    pred = BlockProcessor(model, 1).process(xh[None])[0]
    e = esr(pred, yh)
    notes = long_time_constants(tone, int(getattr(model, "receptive_field", 1)))
    return DistillResult(model, e, esr_grade(e), fit.esr, fit.steps, time.monotonic() - t0,
                         list(fit.history), notes, fit.interrupted)


__all__ = [
    "DISTILL_RATE",
    "DistillResult",
    "demo_takes",
    "distill",
    "holdout_take",
    "long_time_constants",
    "render_chain",
    "target_advance",
]
