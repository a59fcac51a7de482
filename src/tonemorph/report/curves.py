"""Curves of a learned chain computed from its parameters: EQ/cab responses, shaper, dynamics.

Pure numpy except where the chain's own coefficient code is the definition (the cabinet's
minimum-phase IR and the soft clipper are taken from `tonemorph.chain` under no_grad, so the
report draws exactly what the chain runs).
"""

from __future__ import annotations

import numpy as np
import torch

from tonemorph.chain import functional as F
from tonemorph.chain.chain import BAND_DEFAULT_Q, POST_EQ_BANDS, PRE_EQ_BANDS
from tonemorph.dsp import biquad
from tonemorph.errors import ParameterError
from tonemorph.model import Tone

__all__ = [
    "response_freqs_hz",
    "eq_sos",
    "eq_response_db",
    "cab_ir",
    "cab_response_db",
    "linear_response_db",
    "shaper_curve",
    "dynamics_curve_db",
]

FREQ_LO_HZ, FREQ_HI_HZ = 20.0, 20000.0

_DESIGNS = {
    "highpass": lambda f, g, q, sr: biquad.highpass(f, q, sr),
    "low_shelf": biquad.low_shelf,
    "peaking": biquad.peaking,
    "high_shelf": biquad.high_shelf,
}


def response_freqs_hz(sample_rate: float, n: int = 400) -> np.ndarray:
    """Log-spaced frequencies (Hz) from 20 Hz to min(20 kHz, 0.49 * sample_rate)."""
    return np.geomspace(FREQ_LO_HZ, min(FREQ_HI_HZ, 0.49 * sample_rate), n)


def _value(tone: Tone, name: str) -> float:
    """A scalar parameter of the tone (physical unit)."""
    try:
        return float(tone.parameters[name])
    except KeyError as exc:
        raise ParameterError(f"the tone has no parameter {name!r}") from exc


def eq_sos(tone: Tone, stage: str) -> np.ndarray:
    """Biquad cascade (n_bands, 6) of an EQ stage ("pre_eq" / "post_eq") at the learned rate."""
    if stage not in ("pre_eq", "post_eq"):
        raise ParameterError(f"stage must be 'pre_eq' or 'post_eq', got {stage!r}")
    if stage not in tone.config.stages:
        raise ParameterError(f"the tone has no {stage} stage")
    sr = tone.config.sample_rate
    rows = []
    for band, kind in PRE_EQ_BANDS if stage == "pre_eq" else POST_EQ_BANDS:
        f = _value(tone, f"{stage}.{band}_hz")
        g = _value(tone, f"{stage}.{band}_db") if kind != "highpass" else 0.0
        q = _value(tone, f"{stage}.{band}_q") if kind == "peaking" else BAND_DEFAULT_Q[kind]
        rows.append(_DESIGNS[kind](f, g, q, sr))
    return np.stack(rows)


def eq_response_db(tone: Tone, stage: str, freqs_hz: np.ndarray) -> np.ndarray:
    """Magnitude response (dB) of an EQ stage at freqs_hz (Hz)."""
    return biquad.freq_response_db(eq_sos(tone, stage), freqs_hz, tone.config.sample_rate)


def cab_ir(tone: Tone) -> np.ndarray:
    """The cabinet's minimum-phase FIR (cab_taps samples at the learned rate), float64."""
    if "cab" not in tone.config.stages:
        raise ParameterError("the tone has no cab stage")
    with torch.no_grad():
        return tone.torch_chain().cab_ir().numpy().astype(np.float64)


def cab_response_db(tone: Tone, freqs_hz: np.ndarray) -> np.ndarray:
    """Magnitude response (dB) of the cabinet FIR at freqs_hz (Hz), by direct evaluation."""
    ir = cab_ir(tone)
    n = np.arange(ir.size)
    f = np.asarray(freqs_hz, dtype=np.float64)
    h = np.exp(-2j * np.pi * np.outer(f, n) / tone.config.sample_rate) @ ir
    return 20.0 * np.log10(np.maximum(np.abs(h), 1e-20))


def linear_response_db(tone: Tone, freqs_hz: np.ndarray) -> np.ndarray:
    """Summed response (dB) of every linear stage (pre-EQ, post-EQ, cab) with trim and gains.

    Small-signal view: the shaper has unit small-signal gain and dynamics are taken as idle.
    """
    total = np.full(np.shape(freqs_hz), tone.input_gain_db + _value(tone, "trim_db")
                    + _value(tone, "out_gain_db"))
    for stage in ("pre_eq", "post_eq"):
        if stage in tone.config.stages:
            total = total + eq_response_db(tone, stage, freqs_hz)
    if "cab" in tone.config.stages:
        total = total + cab_response_db(tone, freqs_hz)
    return total


def shaper_curve(tone: Tone, x: np.ndarray) -> np.ndarray:
    """Static transfer curve of the drive stage: output for shaper input x (full scale 1).

    Scaled by the drive gain so that small signals pass with gain 10**(drive_db/20), i.e. the
    curve shows the clipping the drive knob produces; the chain itself divides this gain out
    (unit small-signal gain) and restores level with its output gain.
    """
    if "drive" not in tone.config.stages:
        raise ParameterError("the tone has no drive stage")
    drive = 10.0 ** (_value(tone, "drive.drive_db") / 20.0)
    bias = _value(tone, "drive.bias")
    with torch.no_grad():
        u = torch.from_numpy(np.asarray(x, dtype=np.float64))
        y = F.asym_shaper(u, torch.tensor(drive, dtype=torch.float64),
                          torch.tensor(bias, dtype=torch.float64))
    return y.numpy() * drive


def dynamics_curve_db(tone: Tone, stage: str, level_db: np.ndarray) -> np.ndarray:
    """Static curve of a dynamics stage ("sag" / "comp"): output level (dB) for input level (dB).

    Levels are the stage's detector levels (RMS over a control hop, dBFS); soft knee KNEE_DB.
    """
    if stage not in ("sag", "comp"):
        raise ParameterError(f"stage must be 'sag' or 'comp', got {stage!r}")
    if stage not in tone.config.stages:
        raise ParameterError(f"the tone has no {stage} stage")
    lv = torch.from_numpy(np.asarray(level_db, dtype=np.float64))
    f64 = torch.float64
    with torch.no_grad():
        gr = F.gain_computer_db(lv, torch.tensor(_value(tone, f"{stage}.threshold_db"), dtype=f64),
                                torch.tensor(_value(tone, f"{stage}.ratio"), dtype=f64))
    return (lv + gr).numpy()
