"""Impulse response export: the learned cabinet stage (optionally with the post-EQ), or a
tone that is all filters (a linear chain: EQ and cabinet) whole, as a minimum-phase float
`.wav` IR, normalised so its loudest frequency has 0 dB gain."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from tonemorph.chain.functional import minimum_phase_ir, sos_response
from tonemorph.errors import ParameterError
from tonemorph.io import format_for, write_audio
from tonemorph.model import Tone

IR_FORMAT_VERSION = 1  # layout of what we write: mono float32 WAV, min-phase, peak response 0 dB
IR_SUBTYPE = "FLOAT"
MIN_IR_RATE, MAX_IR_RATE = 8000, 384000


@dataclass(frozen=True)
class CabIR:
    """An IR: taps (float64), rate (Hz), the gain (dB) applied to normalise it, and whether it
    holds the whole tone."""

    ir: np.ndarray
    sample_rate: int
    normalise_db: float
    whole: bool = False  # the whole tone (every EQ stage and the cabinet), not the cabinet

    @property
    def length_ms(self) -> float:
        """Duration of the IR in milliseconds."""
        return 1000.0 * len(self.ir) / self.sample_rate


def cab_ir(tone: Tone, sample_rate: int | None = None, *, post_eq: bool = False,
           normalise: bool = True, whole: bool | None = None) -> CabIR:
    """The tone's cabinet (x post-EQ when `post_eq`) as a minimum-phase IR at `sample_rate`
    (default: the model's rate), the same filter `Tone.apply` runs at that rate. `whole`: the
    cabinet times every EQ stage (pre- and post-EQ), the whole tone where it is all filters;
    None: whole exactly when it is (`Tone.is_filter`), since a cabinet alone would leave the
    EQ out of a tone that has nothing else."""
    if "cab" not in tone.config.stages:
        raise ParameterError("this tone has no cabinet stage (it was learned without one); "
                             "there is no IR to export")
    sr = int(sample_rate or tone.config.sample_rate)
    if not MIN_IR_RATE <= sr <= MAX_IR_RATE:
        raise ParameterError(f"IR sample rate must be {MIN_IR_RATE}-{MAX_IR_RATE} Hz, got {sr}")
    whole = tone.is_filter() if whole is None else whole
    eqs = [s for s in ("pre_eq", "post_eq") if s in tone.config.stages
           and (whole or (post_eq and s == "post_eq"))]
    chain = tone.torch_chain(sample_rate=sr)
    with torch.no_grad():
        curve = chain._cab_interp @ chain.value("cab.band_db")  # the cabinet's, as cab_ir()
        for s in eqs:
            eq = sos_response(chain.eq_sos(s), chain.cfg.cab_fft).abs()
            curve = curve + 20 * torch.log10(torch.clamp(eq, min=1e-9))
        ir = minimum_phase_ir(curve, chain.cfg.cab_taps).numpy()
    gain_db = 0.0
    if normalise:
        peak = float(np.max(np.abs(np.fft.rfft(ir, 1 << 16))))
        if peak <= 0:
            raise ParameterError("the cabinet response is all zeros; nothing to export")
        gain_db = -20 * np.log10(peak)
        ir = ir / peak
    return CabIR(np.asarray(ir, np.float64), sr, float(gain_db), whole)


def ir_subtype(path: str | os.PathLike[str]) -> str:
    """The subtype an IR is written with at `path`: IR_SUBTYPE (float32), or 24-bit PCM in a
    lossless format without float samples (FLAC); a lossy format or an unknown extension is
    refused."""
    fmt = format_for(path)
    if sf.check_format(fmt, IR_SUBTYPE):
        return IR_SUBTYPE
    if sf.check_format(fmt, "PCM_24"):
        return "PCM_24"
    raise ParameterError(f"an IR must be stored losslessly: {Path(path).name} would be "
                         f"{fmt}; write it as .wav (what IR loaders read)")


def write_ir(path: str | os.PathLike[str], tone: Tone, sample_rate: int | None = None, *,
             post_eq: bool = False) -> CabIR:
    """Write `cab_ir` (the whole tone where it is all filters) as a mono float32 `.wav` (24-bit
    in a FLAC; atomically); returns it."""
    subtype = ir_subtype(path)
    c = cab_ir(tone, sample_rate, post_eq=post_eq)
    write_audio(path, c.ir.astype(np.float32)[None], c.sample_rate, subtype=subtype)
    return c


__all__ = ["IR_FORMAT_VERSION", "CabIR", "cab_ir", "ir_subtype", "write_ir"]
