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

__all__ = ["FastOp", "FastOptions", "Stage", "Values", "fmt_db", "fmt_hz", "fmt_ms"]

Values = dict[str, Any]  # parameter key -> value in its unit (float, or list for vectors)


def fmt_hz(v: float) -> str:
    """Frequency with a readable unit ('90 Hz', '3 kHz', '1.25 kHz')."""
    return f"{v:.0f} Hz" if v < 1000 else f"{v / 1000:.2f}".rstrip("0").rstrip(".") + " kHz"


def fmt_db(v: float) -> str:
    """Gain in dB with its sign."""
    return f"{float(v):+.1f} dB"


def fmt_ms(v: float) -> str:
    """Time in ms, one decimal below 100 ms."""
    return f"{v:.1f} ms" if v < 100 else f"{v:.0f} ms"


class FastOp(Protocol):
    """A streaming block processor: mono float32 block in, same length out, state kept."""

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class FastOptions:
    """Extras of a fast chain: gains before and after the chain (dB; the one after is the
    --level knob and its loudness compensation, outside the output gain's range) and
    tone-control biquads (n, 6)."""

    input_gain_db: float = 0.0
    output_gain_db: float = 0.0
    tone_sos: np.ndarray | None = None


class Stage:
    """One stage of the chain. Subclasses set the class attributes and override what applies.

    Attributes:
        name: the stage's name in `ChainConfig.stages` and the prefix of its parameter keys.
        title: what a player calls it (the report's block heading).
        optional: False for stages every chain has (trim, output gain); their keys have no
            prefix (``"trim_db"``), as in files written before stages were objects.
        nonlinear: True when the stage can change the signal nonlinearly.
        filter_group: linear stages with a torch response; consecutive stages of one group
            share one FFT filter pass (``None``: the stage processes samples itself).
    """

    name: str = ""
    title: str = ""
    optional: bool = True
    nonlinear: bool = False
    filter_group: str | None = None
    curve: str | None = None  # the report's thumbnail: "response", "shaper", "dynamics"

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

    def describe(self, cfg: ChainConfig, values: Values) -> tuple[tuple[str, str], ...]:
        """The stage's settings as (knob, value with unit) rows for the report."""
        return ()

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
