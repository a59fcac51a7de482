"""Gain stages: the input trim and the output gain (dB), present in every chain."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tonemorph.chain.params import RANGES, ParamSpec
from tonemorph.chain.stages.base import FastOptions, Stage, Values, fmt_db

if TYPE_CHECKING:
    import torch

    from tonemorph.chain.chain import ToneChain
    from tonemorph.chain.config import ChainConfig

__all__ = ["Gain", "GainOp"]


class GainOp:
    """Fast twin: multiply a float32 block by a fixed linear gain."""

    def __init__(self, gain: float):
        self.gain = gain

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.float32) * np.float32(self.gain)


class Gain(Stage):
    """A fixed gain (dB); on the fast path the input trim also carries the tone's input gain,
    the output gain the --level knob (`FastOptions`)."""

    optional = False

    def __init__(self, name: str, param: str, takes_input_gain: bool, title: str = "",
                 knob: str = "level", takes_output_gain: bool = False):
        self.name = name
        self.title = title or name
        self.knob = knob
        self.param = param
        self.takes_input_gain = takes_input_gain
        self.takes_output_gain = takes_output_gain

    def specs(self, cfg: ChainConfig) -> list[ParamSpec]:
        return [ParamSpec(self.param, RANGES[self.param])]

    def describe(self, cfg: ChainConfig, values: Values) -> tuple[tuple[str, str], ...]:
        return ((self.knob, fmt_db(values[self.param])),)

    def linear_response_db(self, cfg: ChainConfig, values: Values, freqs_hz: np.ndarray
                           ) -> np.ndarray:
        return np.full(np.shape(freqs_hz), float(values[self.param]))

    def torch_forward(self, chain: ToneChain, x: torch.Tensor) -> torch.Tensor:
        import torch

        return x * torch.pow(10.0, chain.value(self.param) / 20).float()

    def fast(self, cfg: ChainConfig, values: Values, opts: FastOptions) -> GainOp:
        gain = float(10 ** (values[self.param] / 20))
        if self.takes_input_gain:
            gain *= 10 ** (opts.input_gain_db / 20)
        if self.takes_output_gain:
            gain *= 10 ** (opts.output_gain_db / 20)
        return GainOp(gain)
