"""A chain's structure (which stages, sample rate, cabinet size) and its parameter table.

Torch-free: applying a tone, validating a model file and `tonemorph info` read only this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tonemorph.chain.params import ParamSpec
from tonemorph.chain.stages import CHAIN, Stage
from tonemorph.errors import ParameterError

__all__ = [
    "CAB_BAND_HI_HZ",
    "CAB_BAND_LO_HZ",
    "NONLINEAR_STAGES",
    "STAGES",
    "ChainConfig",
    "param_specs",
]

#: Names of the stages a chain may have, in processing order.
STAGES: tuple[str, ...] = tuple(s.name for s in CHAIN if s.optional)
NONLINEAR_STAGES: tuple[str, ...] = tuple(s.name for s in CHAIN if s.optional and s.nonlinear)
CAB_BAND_LO_HZ, CAB_BAND_HI_HZ = 30.0, 20000.0


@dataclass(frozen=True)
class ChainConfig:
    """Structure of a chain: which stages run, sample rate (Hz), cabinet size (taps, bands)."""

    stages: tuple[str, ...] = STAGES
    sample_rate: int = 48000
    cab_taps: int = 2048
    cab_bands: int = 64
    cab_fft: int = 8192

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ParameterError(f"unknown chain stage(s) {unknown}; choose from {list(STAGES)}")

    def active(self) -> tuple[Stage, ...]:
        """The stage objects this chain runs, in processing order."""
        return tuple(s for s in CHAIN if not s.optional or s.name in self.stages)

    @property
    def nonlinear(self) -> bool:
        """True when any stage can change the signal nonlinearly."""
        return any(s.nonlinear for s in self.active())

    @property
    def latency_samples(self) -> int:
        """Delay (samples at sample_rate) the stages add (the shaper's oversampling filter)."""
        return sum(s.latency_samples(self) for s in self.active())

    def band_hz(self) -> np.ndarray:
        """Log-spaced centre frequencies (Hz) of the cabinet curve's control points."""
        return np.geomspace(CAB_BAND_LO_HZ, CAB_BAND_HI_HZ, self.cab_bands)


def param_specs(cfg: ChainConfig) -> list[ParamSpec]:
    """All learnable parameters of a chain configuration, in processing order."""
    return [spec for s in cfg.active() for spec in s.specs(cfg)]
