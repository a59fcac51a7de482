"""Curves of a learned chain computed from its parameters: EQ/cab responses, shaper, dynamics.

Each curve is the stage's own (`tonemorph.chain.stages`), from the values the chain runs
(`tonemorph.chain.fast.settled_values` for the cabinet), so the report draws what the chain
runs; numpy only except the shaper curve, which is the torch soft clipper itself.
"""

from __future__ import annotations

import numpy as np

from tonemorph.chain.fast import settled_values
from tonemorph.chain.stages import CHAIN, Cab, Compressor, Drive, Eq, Stage, stage
from tonemorph.errors import ParameterError
from tonemorph.model import Tone

__all__ = [
    "cab_ir",
    "cab_response_db",
    "dynamics_curve_db",
    "eq_response_db",
    "eq_sos",
    "linear_response_db",
    "response_freqs_hz",
    "shaper_curve",
]

FREQ_LO_HZ, FREQ_HI_HZ = 20.0, 20000.0


def response_freqs_hz(sample_rate: float, n: int = 400) -> np.ndarray:
    """Log-spaced frequencies (Hz) from 20 Hz to min(20 kHz, 0.49 * sample_rate)."""
    return np.geomspace(FREQ_LO_HZ, min(FREQ_HI_HZ, 0.49 * sample_rate), n)


def _stage_of(tone: Tone, name: str, kind: type[Stage], what: str) -> Stage:
    """The tone's stage called `name`, which must be a `kind` stage (ParameterError if not)."""
    try:
        st = stage(name)
    except KeyError:
        st = None
    if not isinstance(st, kind):
        raise ParameterError(f"stage must be {what}, got {name!r}")
    if name not in tone.config.stages:
        raise ParameterError(f"the tone has no {name} stage")
    return st


def _names(kind: type[Stage]) -> str:
    return " / ".join(repr(s.name) for s in CHAIN if isinstance(s, kind))


def eq_sos(tone: Tone, stage: str) -> np.ndarray:
    """Biquad cascade (n_bands, 6) of an EQ stage ("pre_eq" / "post_eq") at the learned rate."""
    st = _stage_of(tone, stage, Eq, f"an EQ stage ({_names(Eq)})")
    return st.sos(tone.parameters, tone.config.sample_rate)  # type: ignore[attr-defined]


def eq_response_db(tone: Tone, stage: str, freqs_hz: np.ndarray) -> np.ndarray:
    """Magnitude response (dB) of an EQ stage at freqs_hz (Hz)."""
    st = _stage_of(tone, stage, Eq, f"an EQ stage ({_names(Eq)})")
    return st.linear_response_db(tone.config, tone.parameters, freqs_hz)  # type: ignore[return-value]


def _cab(tone: Tone) -> Cab:
    for st in tone.config.active():
        if isinstance(st, Cab):
            return st
    raise ParameterError("the tone has no cab stage")


def cab_ir(tone: Tone) -> np.ndarray:
    """The cabinet's minimum-phase FIR (cab_taps samples at the learned rate), float64."""
    return _cab(tone).ir(tone.config, settled_values(tone.config, tone.parameters))


def cab_response_db(tone: Tone, freqs_hz: np.ndarray) -> np.ndarray:
    """Magnitude response (dB) of the cabinet FIR at freqs_hz (Hz), by direct evaluation."""
    return _cab(tone).linear_response_db(tone.config, settled_values(tone.config,
                                                                     tone.parameters), freqs_hz)


def linear_response_db(tone: Tone, freqs_hz: np.ndarray) -> np.ndarray:
    """Summed response (dB) of every linear stage (EQs, cab) with the input gain, trim and
    output gain.

    Small-signal view: the shaper has unit small-signal gain and dynamics are taken as idle.
    """
    total = np.full(np.shape(freqs_hz), float(tone.input_gain_db))
    values = dict(tone.parameters)
    for st in tone.config.active():
        # the cabinet's IR is drawn from the values the chain runs; EQs from the stored ones
        vals = settled_values(tone.config, values) if isinstance(st, Cab) else values
        r = st.linear_response_db(tone.config, vals, freqs_hz)
        if r is not None:
            total = total + r
    return total


def shaper_curve(tone: Tone, x: np.ndarray) -> np.ndarray:
    """Static transfer curve of the drive stage: output for shaper input x (full scale 1).

    Scaled by the drive gain so that small signals pass with gain 10**(drive_db/20), i.e. the
    curve shows the clipping the drive knob produces; the chain itself divides this gain out
    (unit small-signal gain) and restores level with its output gain.
    """
    import torch

    from tonemorph.chain import functional as F

    st = next((s for s in tone.config.active() if isinstance(s, Drive)), None)
    if st is None:
        raise ParameterError("the tone has no drive stage")
    drive = 10.0 ** (float(tone.parameters[st.key("drive_db")]) / 20.0)
    bias = float(tone.parameters[st.key("bias")])
    with torch.no_grad():
        u = torch.from_numpy(np.asarray(x, dtype=np.float64))
        y = F.asym_shaper(u, torch.tensor(drive, dtype=torch.float64),
                          torch.tensor(bias, dtype=torch.float64))
    return y.numpy() * drive


def dynamics_curve_db(tone: Tone, stage: str, level_db: np.ndarray) -> np.ndarray:
    """Static curve of a dynamics stage ("sag" / "comp"): output level (dB) for input level (dB).

    Levels are the stage's detector levels (RMS over a control hop, dBFS); soft knee KNEE_DB.
    """
    st = _stage_of(tone, stage, Compressor, f"a dynamics stage ({_names(Compressor)})")
    return st.curve_db(tone.parameters, np.asarray(level_db, dtype=np.float64))  # type: ignore[attr-defined]
