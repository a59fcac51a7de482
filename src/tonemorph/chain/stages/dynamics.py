"""Dynamics stages: a feed-forward soft-knee compressor, used twice (sag before the drive,
comp after the cab)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tonemorph.chain import kernels as K
from tonemorph.chain.params import RANGES, ParamSpec
from tonemorph.chain.stages.base import FastOptions, Stage, Values, fmt_ms
from tonemorph.dsp.units import one_pole_coef

if TYPE_CHECKING:
    import torch

    from tonemorph.chain.chain import ToneChain
    from tonemorph.chain.config import ChainConfig

__all__ = ["Compressor", "Dynamics", "static_gain_db"]

_PARAMS = ("threshold_db", "ratio", "attack_ms", "release_ms")


def static_gain_db(level_db: np.ndarray, threshold_db: float, ratio: float) -> np.ndarray:
    """Soft-knee (KNEE_DB) static curve in numpy: gain reduction (dB, <= 0) at level_db (dBFS)."""
    over = np.asarray(level_db, dtype=np.float64) - threshold_db
    slope = 1 / ratio - 1
    knee = slope * (over + K.KNEE_DB / 2) ** 2 / (2 * K.KNEE_DB)
    return np.where(2 * over < -K.KNEE_DB, 0.0, np.where(2 * over > K.KNEE_DB, slope * over,
                                                         knee))


class Dynamics:
    """Fast twin: the compiled compressor, detector and ballistics state kept between blocks."""

    def __init__(self, sample_rate: float, threshold_db: float, ratio: float, attack_ms: float,
                 release_ms: float):
        rate = sample_rate / K.CONTROL_HOP
        self.args = (K.CONTROL_HOP, threshold_db, ratio, K.KNEE_DB,
                     one_pole_coef(attack_ms, rate), one_pole_coef(release_ms, rate))
        self.state = np.array([0.0, 0.0, 0.0, 1.0, 1.0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return K.compressor_block(x, self.state, *self.args)


class Compressor(Stage):
    """Threshold (dBFS), ratio, attack and release (ms); RMS detector per control hop."""

    nonlinear = True

    curve = "dynamics"

    def __init__(self, name: str, amount: tuple[str, str, str, str] = ("keep", "loglerp",
                                                                       "keep", "keep"),
                 title: str = ""):
        self.name = name
        self.title = title or name
        self.amount = amount  # how --amount moves each of _PARAMS: only the ratio fades out

    def describe(self, cfg: ChainConfig, values: Values) -> tuple[tuple[str, str], ...]:
        return (("threshold", f"{float(values[self.key('threshold_db')]):.1f} dBFS"),
                ("ratio", f"{float(values[self.key('ratio')]):.2f}:1"),
                ("attack", fmt_ms(float(values[self.key("attack_ms")]))),
                ("release", fmt_ms(float(values[self.key("release_ms")]))))

    def specs(self, cfg: ChainConfig) -> list[ParamSpec]:
        return [ParamSpec(self.key(p), RANGES[p], amount=a) for p, a in zip(_PARAMS,
                                                                             self.amount)]

    def torch_forward(self, chain: ToneChain, x: torch.Tensor) -> torch.Tensor:
        from tonemorph.chain import functional as F

        v = chain.value
        return x * F.compressor_gain(x, chain.cfg.sample_rate,
                                     v(self.key("threshold_db")).float(),
                                     v(self.key("ratio")).float(), v(self.key("attack_ms")),
                                     v(self.key("release_ms")))

    def fast(self, cfg: ChainConfig, values: Values, opts: FastOptions) -> Dynamics:
        return Dynamics(cfg.sample_rate, *(float(values[self.key(p)]) for p in _PARAMS))

    def curve_db(self, values: Values, level_db: np.ndarray) -> np.ndarray:
        """Static curve for the report: output level (dB) for detector level_db (dBFS)."""
        return level_db + static_gain_db(level_db, float(values[self.key("threshold_db")]),
                                         float(values[self.key("ratio")]))
