"""The methods the suite compares, each as ``fit(case) -> apply(take)`` with its costs measured.

Every method gets the same data a user would have: the clean take B and the tone example
chain(A). Only the paired oracle also sees chain(B) (it is the practical upper bound, not a
competitor). Each returns the processed held-out take C plus what it cost:

- ``learn_s``: wall time to fit (seconds), ``learn_cpu_s``: CPU time of this process while
  fitting (all its threads; on a shared machine the steadier number),
  ``apply_x_realtime``: C's duration / apply wall time,
- ``peak_mem_mb``: peak resident memory above the level before the method ran (MiB, from the
  kernel's high-water mark, reset through ``/proc/self/clear_refs``; NaN where not available).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soundfile as sf
import soxr
import torch

SR = 48000
ORACLE_WARMUP_S = 0.1  # context run before each scored training segment (dynamics settle)


# ----------------------------------------------------------------------------- measuring


def _status_kib(key: str) -> float:
    """A ``/proc/self/status`` field in KiB (NaN off Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return math.nan


def reset_peak_rss() -> bool:
    """Reset the kernel's resident-memory high-water mark of this process; False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclass
class MemoryProbe:
    """Peak resident memory (MiB) above the starting level while the ``with`` block ran."""

    start_mb: float = math.nan
    peak_mb: float = math.nan
    ok: bool = False

    def __enter__(self) -> MemoryProbe:
        self.ok = reset_peak_rss()
        self.start_mb = _status_kib("VmRSS") / 1024
        return self

    def __exit__(self, *exc: object) -> None:
        peak = _status_kib("VmHWM") / 1024
        self.peak_mb = max(peak - self.start_mb, 0.0) if self.ok else math.nan


@dataclass
class MethodRun:
    """Output on the held-out take and the measured costs of one method on one case."""

    out_c: np.ndarray
    learn_s: float
    apply_x_realtime: float
    peak_mem_mb: float
    info: dict[str, Any] = field(default_factory=dict)
    learn_cpu_s: float = math.nan


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _cpu_timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``, its wall time and this process's CPU time while it ran (seconds)."""
    c0 = time.process_time()
    out, wall = _timed(fn)
    return out, wall, time.process_time() - c0


def measure(fit: Callable[[], Any], apply: Callable[[Any, np.ndarray], np.ndarray],
            x_c: np.ndarray, info: Callable[[Any], dict[str, Any]] | None = None) -> MethodRun:
    """Run ``fit()`` then ``apply(model, x_c)``, timing both and probing peak memory."""
    with MemoryProbe() as mem:
        model, learn_s, cpu_s = _cpu_timed(fit)
        out, apply_s = _timed(lambda: apply(model, x_c))
    xr = (x_c.shape[-1] / SR) / max(apply_s, 1e-9)
    return MethodRun(np.asarray(out, np.float32).reshape(-1), learn_s, xr, mem.peak_mb,
                     info(model) if info else {}, cpu_s)


# ----------------------------------------------------------------------------- methods


def run_identity(case: dict[str, np.ndarray]) -> MethodRun:
    """The take unprocessed (no costs to report)."""
    return MethodRun(case["C_input"].copy(), math.nan, math.nan, math.nan)


def run_matcheq(case: dict[str, np.ndarray]) -> MethodRun:
    """Static match-EQ fitted on (B, chain(A)) like a model, applied to C."""
    from tonemorph.dsp.matcheq import fit_match_eq

    return measure(lambda: fit_match_eq(case["B_input"], case["A_target"], SR),
                   lambda m, x: m(x), case["C_input"])


def matchering_available() -> str | None:
    """None when Matchering 2.0.6 can be used, else why not (a note for the tables)."""
    try:
        import matchering
    except ImportError:
        return "not installed (optional GPL extra: pip install -e '.[bench-gpl]')"
    version = getattr(matchering, "__version__", "?")
    return None if version == "2.0.6" else f"Matchering {version} installed, 2.0.6 expected"


def run_matchering(case: dict[str, np.ndarray]) -> MethodRun:
    """Matchering 2.0.6: C matched to chain(A) (per file: it has no reusable model).

    It works on files and always writes 44.1 kHz; the result is resampled back to 48 kHz and
    summed to mono. Learn and apply are one call, reported as learn time; x realtime is C's
    duration over that call.
    """
    import matchering as mg

    mg.log.handlers = []  # silence its info log  # type: ignore[attr-defined]
    x_c = case["C_input"]

    def process() -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="tm_mg_") as tmp:
            tgt, ref, out = (os.path.join(tmp, n) for n in ("c.wav", "ref.wav", "out.wav"))
            sf.write(tgt, x_c, SR, subtype="FLOAT")
            sf.write(ref, case["A_target"], SR, subtype="FLOAT")
            mg.process(target=tgt, reference=ref,
                       results=[mg.Result(out, subtype="FLOAT", use_limiter=True)],
                       config=mg.Config(temp_folder=tmp))
            y, rate = sf.read(out, dtype="float32", always_2d=True)
        y = soxr.resample(y.mean(axis=1), rate, SR, quality="VHQ")
        n = x_c.shape[-1]
        return np.pad(y, (0, max(0, n - len(y))))[:n]

    with MemoryProbe() as mem:
        out, secs, cpu_s = _cpu_timed(process)
    return MethodRun(out.astype(np.float32), secs, (x_c.shape[-1] / SR) / secs, mem.peak_mb,
                     {"note": "fitted on C itself (no reusable model)"}, cpu_s)


def run_tonemorph(case: dict[str, np.ndarray], quality: str, seed: int = 0,
                  input_scale: float = 1.0) -> MethodRun:
    """tonemorph.learn on (B * input_scale, chain(A)) at ``quality``, applied to C (fast path).

    An input_scale a millionth away from 1 is inaudible, yet it changes the rounding the fit
    starts from: the spread over such draws is the learner's own noise (`suite.py --draws`).
    """
    import tonemorph

    b = case["B_input"] if input_scale == 1.0 else case["B_input"] * np.float32(input_scale)

    def fit() -> Any:
        return tonemorph.learn_tone((b, SR), (case["A_target"], SR), quality=quality, seed=seed)

    def info(tone: Any) -> dict[str, Any]:
        return {"chosen": tone.training.get("chosen"), "tone": tone,
                "params": {k: v for k, v in tone.parameters.items() if not isinstance(v, list)}}

    return measure(fit, lambda t, x: t.apply(x, SR), case["C_input"], info)


# ----------------------------------------------------------------------------- oracle


class _Gained(torch.nn.Module):
    """``chain(x * gain)``: a tone's fixed input gain in front of its trainable chain."""

    def __init__(self, chain: torch.nn.Module, gain_db: float, warmup_samples: int):
        super().__init__()
        self.chain = chain
        self.gain = float(10.0 ** (gain_db / 20.0))
        self.warmup_samples = warmup_samples

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.chain(x * self.gain)


def paired_backend() -> str:
    """Which paired fit the oracle uses: the library's grey-box one, or the bench fallback."""
    try:
        from tonemorph.learn.paired import fit_paired_chain  # noqa: F401
    except ImportError:
        return "bench fallback: tonemorph.learn.train.fit_module on the full ToneChain"
    return ("tonemorph.learn.paired.fit_paired_chain or paired refinement of the unpaired "
            "tone, the lower MR-STFT on B")


def _full_chain_from(tone: Any) -> Any:
    """A ToneChain with every stage, starting from ``tone``'s values (neutral elsewhere)."""
    from tonemorph.chain.chain import STAGES, ChainConfig, ToneChain

    chain = ToneChain(ChainConfig(stages=STAGES, sample_rate=SR))
    values = chain.neutral_values()
    learned = tone.torch_chain().values()
    values.update({k: v for k, v in learned.items() if k in values})
    chain.set_values(values)
    return chain


def align_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove the third-party chain's latency: y shifted so it lines up with x (±50 ms)."""
    from tonemorph.metrics import align

    y_al, x_al, _ = align(y, x, SR)
    return np.ascontiguousarray(x_al, np.float32), np.ascontiguousarray(y_al, np.float32)


def _refine_from(init_tone: Any, x_b: np.ndarray, y_b: np.ndarray, seconds: float | None,
                 steps: int | None, seed: int) -> Any:
    """Paired refinement of the unpaired tone: its full chain trained on (B, chain(B))."""
    from tonemorph.chain.functional import OVERSAMPLE_TAPS
    from tonemorph.learn.train import fit_module
    from tonemorph.model import Tone

    chain = _full_chain_from(init_tone)
    module = _Gained(chain, init_tone.input_gain_db, int(ORACLE_WARMUP_S * SR))
    # the torch chain carries the oversampler's latency (apply removes it): delay the target
    lat = (OVERSAMPLE_TAPS - 1) // 2
    y_d = np.concatenate([np.zeros(lat, np.float32), y_b])[: len(y_b)]
    budget = {"steps": steps} if steps else {"seconds": seconds}
    res = fit_module(module, x_b, y_d, SR, seed=seed, lr=0.01, mrstft_weight=1.0,
                     select_mrstft_weight=1.0, **budget)
    tone = Tone.from_chain(chain, init_tone.input_gain_db, {"chosen": "paired refinement"})
    tone.training["paired_esr"] = res.esr
    tone.training["paired_steps"] = res.steps
    return tone


def run_oracle(case: dict[str, np.ndarray], init_tone: Any, seconds: float,
               seed: int = 0, steps: int | None = None) -> MethodRun:
    """Paired fit on (B, chain(B)) within ``seconds``: the practical upper bound.

    Two paired fits share the budget: the library's grey-box capture ``fit_paired_chain``
    (when it exists) and a paired refinement of the unpaired tone ``init_tone`` (its full
    chain trained with the library's paired engine, ESR + MR-STFT), so the oracle only has to
    improve on the unpaired learner. The one with the lower MR-STFT on B (never on C) is kept.
    """
    from tonemorph.metrics import mrstft_distance

    x_b, y_b = align_pair(case["B_input"], case["B_truth"])
    backend = paired_backend()
    has_capture = backend.startswith("tonemorph.learn.paired.fit_paired_chain")
    share = 0.5 if has_capture else 1.0

    def fit() -> Any:
        fits = {}
        if has_capture:
            from tonemorph.learn.paired import fit_paired_chain

            budget = ({"steps": steps} if steps else {"seconds": share * seconds})
            fits["fit_paired_chain"] = fit_paired_chain(x_b, y_b, SR, seed=seed, **budget)
        fits["refinement"] = _refine_from(init_tone, x_b, y_b,
                                          None if steps else share * seconds, steps, seed)
        scores = {}
        for name, tone in fits.items():
            out = np.asarray(tone.apply(x_b, SR), np.float32).reshape(-1)
            n = min(len(out), len(y_b))
            scores[name] = mrstft_distance(out[:n], y_b[:n], SR)
        pick = min(scores, key=scores.__getitem__)
        tone = fits[pick]
        tone.training["oracle_pick"] = pick
        for name, v in scores.items():
            tone.training[f"oracle_b_mrstft_{name}"] = round(float(v), 4)
        return tone

    def apply(model: Any, x: np.ndarray) -> np.ndarray:
        if hasattr(model, "apply"):
            return model.apply(x, SR)
        raise TypeError(f"unexpected paired fit result {type(model).__name__}")

    def info(model: Any) -> dict[str, Any]:
        training = getattr(model, "training", {})
        keep = {k: v for k, v in training.items() if isinstance(v, (int, float, str))}
        return {"backend": backend, **keep}

    return measure(fit, apply, case["C_input"], info)
