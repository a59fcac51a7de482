"""Known tones for tests: chains with chosen parameter values, wrapped as `Tone` objects."""

from __future__ import annotations

import numpy as np
import torch

from tonemorph.chain.chain import STAGES, ChainConfig, ToneChain
from tonemorph.model import Tone

SR = 48000

#: A crunch tone: pre-EQ, some sag and drive with bias, darker post-EQ, compressor.
CRUNCH = {
    "trim_db": 3.0,
    "pre_eq.hp_hz": 90.0,
    "pre_eq.mid_hz": 700.0,
    "pre_eq.mid_db": 4.0,
    "sag.threshold_db": -30.0,
    "sag.ratio": 1.5,
    "drive.drive_db": 18.0,
    "drive.bias": 0.2,
    "post_eq.high_hz": 3000.0,
    "post_eq.high_db": -6.0,
    "comp.threshold_db": -25.0,
    "comp.ratio": 3.0,
    "comp.attack_ms": 5.0,
    "comp.release_ms": 120.0,
    "out_gain_db": -2.0,
}

#: The target chain of the learning tests: heavy drive with bias, a post-EQ cut, out gain.
TARGET = {
    "drive.drive_db": 24.0,
    "drive.bias": 0.2,
    "post_eq.high_hz": 3000.0,
    "post_eq.high_db": -9.0,
    "post_eq.mid_hz": 500.0,
    "post_eq.mid_db": -4.0,
    "out_gain_db": 18.0,
}


def chain_with(values: dict, stages: tuple[str, ...] = STAGES) -> ToneChain:
    """A torch chain at SR with the given physical values (others neutral)."""
    chain = ToneChain(ChainConfig(stages=stages, sample_rate=SR))
    chain.set_values({**chain.neutral_values(), **values})
    return chain


def tone_with(values: dict, stages: tuple[str, ...] = STAGES, input_gain_db: float = 0.0
              ) -> Tone:
    """A `Tone` holding a chain with the given values."""
    return Tone.from_chain(chain_with(values, stages), input_gain_db, {"note": "test tone"})


def render(chain: ToneChain, audio: np.ndarray) -> np.ndarray:
    """Torch-path output of a chain for (channels, samples) audio at SR, float32."""
    with torch.no_grad():
        return chain(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))).numpy()
