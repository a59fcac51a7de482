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
MAX_LSTM_LAYERS = 4  # an `lstm-LxH` export: at most this many layers
MAX_LSTM_HIDDEN = 64  # ... of at most this many hidden units (NAM's own LSTMs: 8-32)


def make_model(arch: str) -> torch.nn.Module:
    """A fresh model: a WaveNet preset name, 'lstm' (1 x 24) or 'lstm-LxH' (e.g. lstm-2x16)."""
    if arch in WAVENET_PRESETS:
        return WaveNet.preset(arch)
    if arch == "lstm":
        return NamLSTM(24, 1)
    m = re.fullmatch(r"lstm-(\d+)x(\d+)", arch)
    if m:
        layers, hidden = int(m.group(1)), int(m.group(2))
        if not (1 <= layers <= MAX_LSTM_LAYERS and 1 <= hidden <= MAX_LSTM_HIDDEN):
            # lstm-1x100000 asked for 160 GB and ended in a traceback; lstm-100x100 ran on
            # past its time budget in its first step
            raise ParameterError(
                f"an LSTM export takes 1-{MAX_LSTM_LAYERS} layers of 1-{MAX_LSTM_HIDDEN} "
                f"hidden units (NAM runs it sample by sample, in real time), got {arch!r}; "
                "e.g. lstm-2x16", option="arch")
        return NamLSTM(hidden, layers)
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
