"""Peak limit stage: a look-ahead peak limiter (ceiling dBFS) after the compressor, before the
output gain: how far the example's peaks ever go (a limiter, a saturating power stage)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tonemorph.chain import kernels as K
from tonemorph.chain.params import RANGES, ParamSpec
from tonemorph.chain.stages.base import FastOptions, Stage, Values
from tonemorph.dsp.units import one_pole_coef

if TYPE_CHECKING:
    import torch

    from tonemorph.chain.chain import ToneChain
    from tonemorph.chain.config import ChainConfig

__all__ = ["Limit", "LimitOp"]


class LimitOp:
    """Fast twin: `kernels.limit_block` at a fixed ceiling (linear), its rings and gain kept
    between blocks."""

    def __init__(self, ceiling: float, sample_rate: float):
        self.ceiling = ceiling
        self.a_rel = one_pole_coef(K.LIMIT_RELEASE_MS, sample_rate)
        self.state = K.limit_state(sample_rate)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out, _ = K.limit_block(np.ascontiguousarray(x, dtype=np.float32), self.ceiling,
                               self.a_rel, *self.state)
        return out


class Limit(Stage):
    """Peak ceiling (dBFS, before the output gain): the gain ramps down over
    LIMIT_LOOKAHEAD_MS (the stage's latency) to keep a peak at the ceiling and recovers in
    LIMIT_RELEASE_MS. Set in closed form from the example's loudest peak, not by gradient."""

    name = "limit"
    title = "peak limit"
    nonlinear = True

    def describe(self, cfg: ChainConfig, values: Values) -> tuple[tuple[str, str], ...]:
        return (("ceiling", f"{float(values[self.key('ceiling_db')]):+.1f} dBFS"),)

    def specs(self, cfg: ChainConfig) -> list[ParamSpec]:
        return [ParamSpec(self.key("ceiling_db"), RANGES["ceiling_db"])]

    def latency_samples(self, cfg: ChainConfig) -> int:
        return K.limit_lookahead(cfg.sample_rate) - 1

    def torch_forward(self, chain: ToneChain, x: torch.Tensor) -> torch.Tensor:
        from tonemorph.chain import functional as F

        ceiling = float(10 ** (float(chain.value(self.key("ceiling_db")).detach()) / 20))
        return F.peak_limit(x, ceiling, chain.cfg.sample_rate)

    def fast(self, cfg: ChainConfig, values: Values, opts: FastOptions) -> LimitOp:
        return LimitOp(float(10 ** (values[self.key("ceiling_db")] / 20)), cfg.sample_rate)
