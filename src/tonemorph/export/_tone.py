"""Export a learned tone: distil it into a neural model (.nam, AIDA-X) or write its cabinet IR."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tonemorph.errors import ParameterError
from tonemorph.model import Tone

Progress = Callable[[str, int, int, float], None]

FORMATS = ("nam", "aidax", "ir")
DEFAULT_NAM_ARCH = "standard"
DEFAULT_AIDAX_ARCH = "lstm-16"
DEFAULT_SECONDS = 600.0
_DRIVE_TONE_TYPES = ((0.0, "clean"), (12.0, "overdrive"), (24.0, "crunch"), (40.0, "hi_gain"))


@dataclass
class ExportSummary:
    """What an export wrote and, for neural formats, how well it matches the tone."""

    path: str
    format: str
    arch: str | None = None
    esr: float | None = None
    grade: str | None = None
    steps: int = 0
    seconds: float = 0.0
    weights: int = 0
    sample_rate: int = 48000
    ir_samples: int = 0
    ir_ms: float = 0.0
    normalise_db: float = 0.0
    long_time_constants: list[str] = field(default_factory=list)
    history: list[tuple[float, float]] = field(default_factory=list)


def tone_type_of(tone: Tone) -> str:
    """NAM tone_type guessed from the drive stage: clean, overdrive, crunch, hi_gain or fuzz."""
    if "drive" not in tone.config.stages:
        return "clean"
    d = float(tone.parameters.get("drive.drive_db", -24.0))
    for bound, word in _DRIVE_TONE_TYPES:
        if d < bound:
            return word
    return "fuzz"


def gear_type_of(tone: Tone) -> str:
    """NAM gear_type: amp_cab with a cabinet stage, amp with drive alone, else studio."""
    st = tone.config.stages
    if "cab" in st:
        return "amp_cab"
    return "amp" if "drive" in st else "studio"


def gain_of(tone: Tone) -> float:
    """NAM's 0..1 'gain' from the drive (dB) within its range; 0 without a drive stage."""
    if "drive" not in tone.config.stages:
        return 0.0
    from tonemorph.chain.params import RANGES

    r = RANGES["drive_db"]
    return float(np.clip((float(tone.parameters["drive.drive_db"]) - r.lo) / (r.hi - r.lo),
                         0, 1))


def parse_aidax_arch(arch: str) -> tuple[str, int]:
    """'lstm-16' / 'gru-12' (or just 'lstm', 'gru': 16 units) -> (unit, hidden)."""
    from tonemorph.neural import AIDAX_HIDDEN_SIZES

    m = re.fullmatch(r"(lstm|gru)(?:-(\d+))?", arch.lower())
    if not m:
        raise ParameterError(f"AIDA-X arch must be lstm-H or gru-H (H in {AIDAX_HIDDEN_SIZES}), "
                             f"got {arch!r}")
    h = int(m.group(2) or 16)
    if h not in AIDAX_HIDDEN_SIZES:
        raise ParameterError(f"AIDA-X runs hidden sizes {AIDAX_HIDDEN_SIZES}, not {h}")
    return m.group(1).upper(), h


def export_tone(tone: Tone, path: str | os.PathLike[str], fmt: str, *, arch: str | None = None,
                seconds: float | None = DEFAULT_SECONDS, steps: int | None = None,
                sample_rate: int | None = None, post_eq: bool = False, name: str | None = None,
                modeled_by: str = "tonemorph", seed: int = 0, without_cab: bool = False,
                progress: Progress | None = None) -> ExportSummary:
    """Write `tone` as `fmt` ('nam', 'aidax' or 'ir') to `path`; neural formats are distilled
    for `seconds` of training (or `steps`) and report their held-out ESR. `without_cab`
    distils the tone minus its cabinet (pair it with the `ir` export, as amp + IR)."""
    from tonemorph.learn.distill import distill, holdout_take, long_time_constants, tone_without

    if fmt not in FORMATS:
        raise ParameterError(f"unknown export format {fmt!r}; choose from {list(FORMATS)}")
    title = name or Path(path).stem
    if fmt == "ir":
        from tonemorph.export.ir import write_ir

        if arch:
            raise ParameterError("--arch applies to nam and aidax exports, not ir")
        c = write_ir(path, tone, sample_rate, post_eq=post_eq)
        return ExportSummary(str(path), fmt, sample_rate=c.sample_rate, ir_samples=len(c.ir),
                             ir_ms=c.length_ms, normalise_db=c.normalise_db)
    if sample_rate not in (None, 48000):
        raise ParameterError(f"{fmt} models run at 48000 Hz; --sr {sample_rate} does not apply")
    if without_cab:
        tone = tone_without(tone, ["cab"])
    if fmt == "nam":
        from tonemorph.export.nam import nam_metadata, write_nam
        from tonemorph.neural import make_model

        arch = arch or DEFAULT_NAM_ARCH
        module = make_model(arch)
    else:
        from tonemorph.neural import RnnDense

        arch = arch or DEFAULT_AIDAX_ARCH
        unit, hidden = parse_aidax_arch(arch)
        module = RnnDense(unit, hidden)
    notes = long_time_constants(tone, int(getattr(module, "receptive_field", 1)))
    r = distill(tone, module, seconds=seconds, steps=steps, seed=seed, progress=progress)
    model = r.module
    from tonemorph.neural.runner import BlockProcessor

    yh = BlockProcessor(model, 1).process(holdout_take()[None])[0].astype(np.float64)
    loudness = float(10 * np.log10(max(float(np.mean(yh ** 2)), 1e-20)))
    training = {"tonemorph": {"source": tone.training.get("input", {}).get("name"),
                              "arch": arch, "steps": r.steps, "seconds": round(r.seconds, 1),
                              "esr_measured_on": "held-out demo guitar take, 48 kHz",
                              "loudness_measured_on": "held-out demo guitar take"}}
    if fmt == "nam":
        meta = nam_metadata(name=title, modeled_by=modeled_by, gear_type=gear_type_of(tone),
                            tone_type=tone_type_of(tone), loudness_db=loudness,
                            gain=gain_of(tone), esr=r.esr, training=training)
        nf = write_nam(path, model, meta)
        n_weights = len(nf.weights)
    else:
        from tonemorph.export.aidax import write_aidax
        from tonemorph.export.nam import nam_grade

        meta = {"name": title, "modeled_by": modeled_by, "esr": r.esr,
                "nam_grade": nam_grade(r.esr), "loudness": loudness, **training}
        write_aidax(path, model, meta)
        n_weights = sum(p.numel() for p in model.parameters())
    return ExportSummary(str(path), fmt, arch, r.esr, r.grade, r.steps, r.seconds, n_weights,
                         48000, long_time_constants=notes, history=list(r.history))
