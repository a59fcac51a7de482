"""What every chain stage provides: its parameter table, torch forward, fast twin, latency.

A stage is a small immutable object, like a plugin in pedalboard's chain. Its torch side
(`torch_forward` / `torch_response`) imports torch lazily, so building the fast path, reading
the parameter table and drawing curves never load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tonemorph.chain.params import ParamSpec

if TYPE_CHECKING:  # torch only for annotations: stages are imported by torch-free code
    import torch

    from tonemorph.chain.chain import ToneChain
    from tonemorph.chain.config import ChainConfig

__all__ = ["FastOp", "FastOptions", "Stage", "Values"]

Values = dict[str, Any]  # parameter key -> value in its unit (float, or list for vectors)


class FastOp(Protocol):
    """A streaming block processor: mono float32 block in, same length out, state kept."""

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class FastOptions:
    """Extras of a fast chain: gain before the chain (dB) and tone-control biquads (n, 6)."""

    input_gain_db: float = 0.0
    tone_sos: np.ndarray | None = None


class Stage:
    """One stage of the chain. Subclasses set the class attributes and override what applies.

    Attributes:
        name: the stage's name in `ChainConfig.stages` and the prefix of its parameter keys.
        optional: False for stages every chain has (trim, output gain); their keys have no
            prefix (``"trim_db"``), as in files written before stages were objects.
        nonlinear: True when the stage can change the signal nonlinearly.
        filter_group: linear stages with a torch response; consecutive stages of one group
            share one FFT filter pass (``None``: the stage processes samples itself).
    """

    name: str = ""
    optional: bool = True
    nonlinear: bool = False
    filter_group: str | None = None

    def key(self, param: str) -> str:
        """The file key of one of this stage's parameters (``"drive.drive_db"``)."""
        return f"{self.name}.{param}" if self.optional else param

    def specs(self, cfg: ChainConfig) -> list[ParamSpec]:
        """The stage's parameter table in a stable order."""
        raise NotImplementedError

    def latency_samples(self, cfg: ChainConfig) -> int:
        """Delay (samples at cfg.sample_rate) the stage adds."""
        return 0

    def linear_response_db(self, cfg: ChainConfig, values: Values, freqs_hz: np.ndarray
                           ) -> np.ndarray | None:
        """Small-signal magnitude response (dB) at freqs_hz (Hz) for the report; None when
        the stage is transparent to small signals (the shaper, idle dynamics)."""
        return None

    # --- torch (learning) ----------------------------------------------------------------
    def torch_buffers(self, cfg: ChainConfig) -> dict[str, torch.Tensor]:
        """Constant tensors the torch chain registers for this stage (name -> tensor)."""
        return {}

    def torch_forward(self, chain: ToneChain, x: torch.Tensor) -> torch.Tensor:
        """Process x (B, T) with the chain's parameters (differentiable)."""
        raise NotImplementedError(f"{self.name} is a filter stage; see torch_response")

    def torch_response(self, chain: ToneChain, n_fft: int) -> torch.Tensor:
        """Complex response on the rfft grid of n_fft (filter stages only)."""
        raise NotImplementedError(f"{self.name} is not a filter stage")

    # --- fast path (applying) ------------------------------------------------------------
    def fast(self, cfg: ChainConfig, values: Values, opts: FastOptions) -> FastOp | None:
        """The streaming numpy/numba twin of the torch forward, from settled values."""
        raise NotImplementedError

    def fast_when_absent(self, cfg: ChainConfig, opts: FastOptions) -> FastOp | None:
        """What runs in the stage's place when the chain lacks it (usually nothing)."""
        return None
