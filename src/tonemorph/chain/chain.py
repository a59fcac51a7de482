"""The grey-box tone chain as a torch module: trim, pre-EQ, sag, drive, post-EQ, cab, comp, gain."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from tonemorph.chain import functional as F
from tonemorph.chain.params import RANGES, Range
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

STAGES = ("pre_eq", "sag", "drive", "post_eq", "cab", "comp")
NONLINEAR_STAGES = ("sag", "drive", "comp")
CAB_BAND_LO_HZ, CAB_BAND_HI_HZ = 30.0, 20000.0

# (parameter name, range key) per stage; biquads as (band, kind, parameters).
PRE_EQ_BANDS = (("hp", "highpass"), ("low", "low_shelf"), ("mid", "peaking"),
                ("high", "high_shelf"))
POST_EQ_BANDS = (("low", "low_shelf"), ("mid", "peaking"), ("high", "high_shelf"))
_BAND_FREQ_RANGE = {"hp": "hp_cutoff_hz", "low": "shelf_low_hz", "mid": "peak_hz",
                    "high": "shelf_high_hz"}
BAND_DEFAULT_Q = {"highpass": 0.707, "low_shelf": 0.707, "high_shelf": 0.707}  # fixed q by kind


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

    @property
    def nonlinear(self) -> bool:
        """True when any stage can change the signal nonlinearly."""
        return any(s in self.stages for s in NONLINEAR_STAGES)

    @property
    def latency_samples(self) -> int:
        """Delay (samples at sample_rate) the shaper's oversampling filter adds."""
        return (F.OVERSAMPLE_TAPS - 1) // 2 if "drive" in self.stages else 0

    def band_hz(self) -> np.ndarray:
        """Log-spaced centre frequencies (Hz) of the cabinet curve's control points."""
        return np.geomspace(CAB_BAND_LO_HZ, CAB_BAND_HI_HZ, self.cab_bands)


@dataclass
class ParamSpec:
    """One named parameter: its range and vector size (1 for scalars)."""

    name: str
    range: Range
    size: int = 1
    amount: str = field(default="lerp")  # how --amount moves it: lerp, loglerp or keep


def param_specs(cfg: ChainConfig) -> list[ParamSpec]:
    """All learnable parameters of a chain configuration, in a stable order."""
    specs = [ParamSpec("trim_db", RANGES["trim_db"])]
    for stage, bands in (("pre_eq", PRE_EQ_BANDS), ("post_eq", POST_EQ_BANDS)):
        if stage not in cfg.stages:
            continue
        for band, kind in bands:
            fr = RANGES[_BAND_FREQ_RANGE[band]]
            specs.append(ParamSpec(f"{stage}.{band}_hz", fr, amount="loglerp" if kind ==
                                   "highpass" else "keep"))
            if kind != "highpass":
                specs.append(ParamSpec(f"{stage}.{band}_db", RANGES["gain_db"]))
            if kind == "peaking":
                specs.append(ParamSpec(f"{stage}.{band}_q", RANGES["q"], amount="keep"))
    for stage in ("sag", "comp"):
        if stage in cfg.stages:
            specs += [ParamSpec(f"{stage}.threshold_db", RANGES["threshold_db"], amount="keep"),
                      ParamSpec(f"{stage}.ratio", RANGES["ratio"], amount="loglerp"),
                      ParamSpec(f"{stage}.attack_ms", RANGES["attack_ms"], amount="keep"),
                      ParamSpec(f"{stage}.release_ms", RANGES["release_ms"], amount="keep")]
    if "drive" in cfg.stages:
        specs += [ParamSpec("drive.drive_db", RANGES["drive_db"]),
                  ParamSpec("drive.bias", RANGES["bias"])]
    if "cab" in cfg.stages:
        specs.append(ParamSpec("cab.band_db", RANGES["cab_band_db"], size=cfg.cab_bands))
    specs.append(ParamSpec("out_gain_db", RANGES["out_gain_db"]))
    return specs


def _key(name: str) -> str:
    return name.replace(".", "__")


class ToneChain(torch.nn.Module):
    """Differentiable tone chain; forward maps x (B, T) at cfg.sample_rate to y (B, T)."""

    def __init__(self, cfg: ChainConfig, values: dict[str, float | list[float]] | None = None):
        super().__init__()
        self.cfg = cfg
        self.specs = param_specs(cfg)
        self.raw = torch.nn.ParameterDict()
        for s in self.specs:
            self.raw[_key(s.name)] = torch.nn.Parameter(
                torch.full((s.size,), s.range.to_raw(s.range.neutral), dtype=torch.float64))
        self.register_buffer("_fir", torch.from_numpy(F.oversample_fir()), persistent=False)
        self.register_buffer("_cab_interp", F.log_band_matrix(cfg.band_hz(), cfg.cab_fft,
                                                              cfg.sample_rate), persistent=False)
        if values:
            self.set_values(values)

    # parameters in physical units -----------------------------------------------------------
    def value(self, name: str) -> torch.Tensor:
        """A parameter in its physical unit (differentiable), shape (size,)."""
        spec = next(s for s in self.specs if s.name == name)
        return spec.range.to_value(self.raw[_key(name)])

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
    def eq_sos(self, stage: str) -> torch.Tensor:
        """Biquad cascade (n, 6) of an EQ stage from its parameters."""
        bands = PRE_EQ_BANDS if stage == "pre_eq" else POST_EQ_BANDS
        rows = []
        zero = torch.zeros(1, dtype=torch.float64)
        for band, kind in bands:
            f = self.value(f"{stage}.{band}_hz")
            g = self.value(f"{stage}.{band}_db") if kind != "highpass" else zero
            q = (self.value(f"{stage}.{band}_q") if kind == "peaking"
                 else torch.full((1,), BAND_DEFAULT_Q[kind], dtype=torch.float64))
            rows.append(F.rbj_biquad(kind, f, g, q, self.cfg.sample_rate)[:, 0])
        return torch.stack(rows)

    def cab_ir(self) -> torch.Tensor:
        """Minimum-phase cabinet IR (cab_taps) from the band curve."""
        curve = self._cab_interp @ self.value("cab.band_db")
        return F.minimum_phase_ir(curve, self.cfg.cab_taps)

    # processing -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Process x (B, T) float32 at the chain's sample rate (float64 inside when no grad)."""
        out_dtype = x.dtype
        if not torch.is_grad_enabled():
            # the FFT filters lose precision in float32 when EQ cuts leave little energy
            x = x.double()
        st = self.cfg.stages
        t = x.shape[-1]
        n_fft = 1 << math.ceil(math.log2(t + F.IIR_GRID + self.cfg.cab_taps))
        gain = torch.pow(10.0, self.value("trim_db") / 20).float()
        x = x * gain
        if "pre_eq" in st:
            x = F.fft_filter(x, torch.fft.rfft(F.sos_ir(self.eq_sos("pre_eq")), n=n_fft), n_fft)
        if "sag" in st:
            x = x * self._dyn_gain("sag", x)
        if "drive" in st:
            drive = torch.pow(10.0, self.value("drive.drive_db") / 20).float()
            x = F.shaper_2x(x, drive, self.value("drive.bias").float(), self._fir)
        resp = None
        if "post_eq" in st:
            resp = torch.fft.rfft(F.sos_ir(self.eq_sos("post_eq")), n=n_fft)
        if "cab" in st:
            cab = torch.fft.rfft(self.cab_ir(), n=n_fft)
            resp = cab if resp is None else resp * cab
        if resp is not None:
            x = F.fft_filter(x, resp, n_fft)
        if "comp" in st:
            x = x * self._dyn_gain("comp", x)
        return (x * torch.pow(10.0, self.value("out_gain_db") / 20).float()).to(out_dtype)

    def _dyn_gain(self, stage: str, x: torch.Tensor) -> torch.Tensor:
        v = self.value
        return F.compressor_gain(x, self.cfg.sample_rate, v(f"{stage}.threshold_db").float(),
                                    v(f"{stage}.ratio").float(), v(f"{stage}.attack_ms"),
                                    v(f"{stage}.release_ms"))
