"""Neural tone models in torch, weight layouts exact to NAM (WaveNet, LSTM) and AIDA-X (RTNeural).

Every model maps x (batch, samples) -> y (batch, samples), causal and aligned, and has
`receptive_field` (samples) and `warmup_samples` (samples to ignore at a training segment start).
"""

from __future__ import annotations

import re

import torch

from tonemorph.errors import ParameterError
from tonemorph.neural.recurrent import AIDAX_HIDDEN_SIZES, NamLSTM, RnnDense
from tonemorph.neural.wavenet import WAVENET_PRESETS, LayerArrayConfig, WaveNet

ARCHITECTURES = (*WAVENET_PRESETS, "lstm")


def make_model(arch: str) -> torch.nn.Module:
    """A fresh model: a WaveNet preset name, 'lstm' (1 x 24) or 'lstm-LxH' (e.g. lstm-2x16)."""
    if arch in WAVENET_PRESETS:
        return WaveNet.preset(arch)
    if arch == "lstm":
        return NamLSTM(24, 1)
    m = re.fullmatch(r"lstm-(\d+)x(\d+)", arch)
    if m:
        return NamLSTM(int(m.group(2)), int(m.group(1)))
    raise ParameterError(f"unknown architecture {arch!r}; choose from {list(ARCHITECTURES)} "
                         "or lstm-LAYERSxHIDDEN")


__all__ = [
    "AIDAX_HIDDEN_SIZES",
    "ARCHITECTURES",
    "WAVENET_PRESETS",
    "LayerArrayConfig",
    "NamLSTM",
    "RnnDense",
    "WaveNet",
    "make_model",
]
