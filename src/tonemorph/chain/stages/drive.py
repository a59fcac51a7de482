"""Drive stage: an asymmetric soft clipper (drive dB, bias) run at twice the sample rate."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tonemorph.chain import kernels as K
from tonemorph.chain.params import RANGES, ParamSpec
from tonemorph.chain.stages.base import FastOptions, Stage, Values, fmt_db

if TYPE_CHECKING:
    import torch

    from tonemorph.chain.chain import ToneChain
    from tonemorph.chain.config import ChainConfig

__all__ = ["Drive", "Shaper"]


class Shaper:
    """Fast twin: polyphase 2x-oversampled shaper, FIR histories kept between blocks."""

    def __init__(self, drive: float, bias: float):
        h = K.oversample_fir()
        center = len(h) // 2
        if center % 2 != 1 or np.any(np.abs(h[1::2][np.arange(len(h) // 2) != center // 2]) > 1e-9):
            raise ValueError("the fast shaper needs a halfband FIR with an odd centre tap")
        self.h_even = h[0::2].astype(np.float32)
        self.h_center = float(h[center])
        self.drive = drive
        self.bias = bias
        self.state = np.zeros((3, len(self.h_even) - 1), np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return K.shaper_2x_block(x, self.state, self.h_even, self.h_center, self.drive,
                                 self.bias)


class Drive(Stage):
    """Gain into the shaper (dB, unit small-signal gain out) and its asymmetry (bias)."""

    name = "drive"
    title = "drive"
    nonlinear = True
    curve = "shaper"

    def describe(self, cfg: ChainConfig, values: Values) -> tuple[tuple[str, str], ...]:
        return (("drive", fmt_db(values[self.key("drive_db")])),
                ("bias (asymmetry)", f"{float(values[self.key('bias')]):+.2f}"))

    def specs(self, cfg: ChainConfig) -> list[ParamSpec]:
        return [ParamSpec(self.key("drive_db"), RANGES["drive_db"]),
                ParamSpec(self.key("bias"), RANGES["bias"])]

    def latency_samples(self, cfg: ChainConfig) -> int:
        return (K.OVERSAMPLE_TAPS - 1) // 2  # the causal up/down-sampling FIRs' group delay

    def torch_buffers(self, cfg: ChainConfig) -> dict[str, torch.Tensor]:
        import torch

        return {"_fir": torch.from_numpy(K.oversample_fir())}

    def torch_forward(self, chain: ToneChain, x: torch.Tensor) -> torch.Tensor:
        import torch

        from tonemorph.chain import functional as F

        drive = torch.pow(10.0, chain.value(self.key("drive_db")) / 20).float()
        return F.shaper_2x(x, drive, chain.value(self.key("bias")).float(), chain._fir)

    def fast(self, cfg: ChainConfig, values: Values, opts: FastOptions) -> Shaper:
        return Shaper(float(10 ** (values[self.key("drive_db")] / 20)),
                      float(values[self.key("bias")]))
