"""The grey-box tone chain as a torch module: the composition of its stages' torch forwards."""

from __future__ import annotations

import numpy as np
import torch

from tonemorph.chain import functional as F
from tonemorph.chain.config import (
    CAB_BAND_HI_HZ,
    CAB_BAND_LO_HZ,
    NONLINEAR_STAGES,
    STAGES,
    ChainConfig,
    param_specs,
)
from tonemorph.chain.params import ParamSpec
from tonemorph.chain.stages import Stage, stage
from tonemorph.chain.stages.eq import BAND_DEFAULT_Q, POST_EQ_BANDS, PRE_EQ_BANDS
from tonemorph.errors import ParameterError

__all__ = [
    "BAND_DEFAULT_Q",
    "CAB_BAND_HI_HZ",
    "CAB_BAND_LO_HZ",
    "NONLINEAR_STAGES",
    "POST_EQ_BANDS",
    "PRE_EQ_BANDS",
    "STAGES",
    "ChainConfig",
    "ParamSpec",
    "ToneChain",
    "param_specs",
]


def _key(name: str) -> str:
    return name.replace(".", "__")  # ParameterDict keys may not contain dots


class ToneChain(torch.nn.Module):
    """Differentiable tone chain; forward maps x (B, T) at cfg.sample_rate to y (B, T)."""

    def __init__(self, cfg: ChainConfig, values: dict[str, float | list[float]] | None = None):
        super().__init__()
        self.cfg = cfg
        self.stages: tuple[Stage, ...] = cfg.active()
        self.specs = param_specs(cfg)
        self._spec = {s.name: s for s in self.specs}
        self.raw = torch.nn.ParameterDict()
        for s in self.specs:
            self.raw[_key(s.name)] = torch.nn.Parameter(
                torch.full((s.size,), s.range.to_raw(s.range.neutral), dtype=torch.float64))
        for st in self.stages:
            for name, buf in st.torch_buffers(cfg).items():
                self.register_buffer(name, buf, persistent=False)
        if values:
            self.set_values(values)

    # parameters in physical units -----------------------------------------------------------
    def value(self, name: str) -> torch.Tensor:
        """A parameter in its physical unit (differentiable), shape (size,)."""
        return self._spec[name].range.to_value(self.raw[_key(name)])

    def values(self) -> dict[str, float | list[float]]:
        """All parameters in physical units, scalars as floats, vectors as lists."""
        out: dict[str, float | list[float]] = {}
        with torch.no_grad():
            for s in self.specs:
                v = s.range.to_value(self.raw[_key(s.name)]).tolist()
                out[s.name] = v[0] if s.size == 1 else v
        return out

    def set_values(self, values: dict[str, float | list[float]]) -> None:
        """Set parameters from physical values (missing names keep their value)."""
        with torch.no_grad():
            for s in self.specs:
                if s.name not in values:
                    continue
                v = np.atleast_1d(np.asarray(values[s.name], dtype=np.float64))
                if v.size != s.size:
                    raise ParameterError(f"{s.name} needs {s.size} values, got {v.size}")
                raw = [s.range.to_raw(float(e)) for e in v]
                self.raw[_key(s.name)].copy_(torch.tensor(raw, dtype=torch.float64))

    def neutral_values(self) -> dict[str, float | list[float]]:
        """Values of a chain that leaves the signal unchanged (up to level)."""
        return {s.name: (s.range.neutral if s.size == 1 else [s.range.neutral] * s.size)
                for s in self.specs}

    # coefficients ---------------------------------------------------------------------------
    def eq_sos(self, name: str) -> torch.Tensor:
        """Biquad cascade (n, 6) of an EQ stage ("pre_eq", "post_eq") from its parameters."""
        return stage(name).torch_sos(self)  # type: ignore[attr-defined]

    def cab_ir(self) -> torch.Tensor:
        """Minimum-phase cabinet IR (cab_taps) from the band curve."""
        return stage("cab").torch_ir(self)  # type: ignore[attr-defined]

    # processing -----------------------------------------------------------------------------
    def fft_size(self, t: int) -> int:
        """Length of the FFTs that run the filter stages on rows of t samples."""
        return F.fft_len(t + F.IIR_GRID + self.cfg.cab_taps)

    def filter_responses(self, n_fft: int) -> list[torch.Tensor]:
        """Responses (rfft grid of n_fft) of the chain's runs of consecutive filter stages of
        one group, in order: each run is applied as one FFT filter, its stages' product."""
        out: list[torch.Tensor] = []
        resp: torch.Tensor | None = None
        group: str | None = None
        for st in self.stages:
            if resp is not None and st.filter_group != group:
                out.append(resp)
                resp = None
            if st.filter_group is not None:
                r = st.torch_response(self, n_fft)
                resp, group = (r if resp is None else resp * r), st.filter_group
        if resp is not None:
            out.append(resp)
        return out

    def forward(self, x: torch.Tensor, precise: bool | None = None,
                responses: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Process x (B, T) float32 at the chain's sample rate; `precise`: float64 inside
        (default: when no gradient is taken); `responses`: the `filter_responses` for
        `fft_size(T)`, when the caller has them (parts of one batch share them)."""
        out_dtype = x.dtype
        if precise if precise is not None else not torch.is_grad_enabled():
            # the FFT filters lose precision in float32 when EQ cuts leave little energy
            x = x.double()
        n_fft = self.fft_size(x.shape[-1])
        # consecutive filter stages of one group run as one FFT filter (their responses'
        # product): fewer passes, and the same rounding as the chain before stages were objects
        runs = iter(self.filter_responses(n_fft) if responses is None else responses)
        group: str | None = None
        for st in self.stages:
            if group is not None and st.filter_group != group:
                x = F.fft_filter(x, next(runs), n_fft)
                group = None
            if st.filter_group is not None:
                group = st.filter_group
                continue
            x = st.torch_forward(self, x)
        if group is not None:
            x = F.fft_filter(x, next(runs), n_fft)
        return x.to(out_dtype)
