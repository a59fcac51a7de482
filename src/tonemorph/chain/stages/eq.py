"""EQ stages: the pre-EQ (high-pass, two shelves, a peak) and the post-EQ tone stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tonemorph.chain.params import RANGES, ParamSpec
from tonemorph.chain.stages.base import FastOptions, Stage, Values, fmt_db, fmt_hz
from tonemorph.dsp import biquad
from tonemorph.dsp.sosfilt import sosfilt_state

if TYPE_CHECKING:
    import torch

    from tonemorph.chain.chain import ToneChain
    from tonemorph.chain.config import ChainConfig

__all__ = ["BAND_DEFAULT_Q", "POST_EQ_BANDS", "PRE_EQ_BANDS", "Biquads", "Eq"]

# (band, biquad kind) per EQ stage
PRE_EQ_BANDS = (("hp", "highpass"), ("low", "low_shelf"), ("mid", "peaking"),
                ("high", "high_shelf"))
POST_EQ_BANDS = (("low", "low_shelf"), ("mid", "peaking"), ("high", "high_shelf"))
_BAND_FREQ_RANGE = {"hp": "hp_cutoff_hz", "low": "shelf_low_hz", "mid": "peak_hz",
                    "high": "shelf_high_hz"}
_KIND_NAMES = {"highpass": "high-pass", "low_shelf": "low shelf", "peaking": "mid",
               "high_shelf": "high shelf"}
BAND_DEFAULT_Q = {"highpass": 0.707, "low_shelf": 0.707, "high_shelf": 0.707}  # fixed q by kind


class Biquads:
    """Fast twin: a streaming biquad cascade (n, 6), state kept between blocks."""

    def __init__(self, sos: np.ndarray):
        self.sos = np.ascontiguousarray(sos, dtype=np.float64)
        self.state = np.zeros((len(sos), 2))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return sosfilt_state(x, self.sos, self.state)


class Eq(Stage):
    """A cascade of RBJ biquads, one per band; frequency (Hz), gain (dB) and the peak's q."""

    filter_group: str | None

    curve = "response"

    def __init__(self, name: str, bands: tuple[tuple[str, str], ...], filter_group: str,
                 hosts_tone_controls: bool, title: str = ""):
        self.name = name
        self.title = title or name
        self.bands = bands
        self.filter_group = filter_group
        # the user's --tone tilt runs here (after the drive, before the cab) on the fast path
        self.hosts_tone_controls = hosts_tone_controls

    def describe(self, cfg: ChainConfig, values: Values) -> tuple[tuple[str, str], ...]:
        rows = []
        for band, kind in self.bands:
            f = fmt_hz(float(values[self.key(f"{band}_hz")]))
            if kind == "highpass":
                rows.append((_KIND_NAMES[kind], f))
            elif kind == "peaking":
                rows.append((_KIND_NAMES[kind], f"{fmt_db(values[self.key(f'{band}_db')])} at {f}, "
                             f"Q {float(values[self.key(f'{band}_q')]):.2f}"))
            else:
                rows.append((_KIND_NAMES[kind], f"{fmt_db(values[self.key(f'{band}_db')])} at {f}"))
        return tuple(rows)

    def specs(self, cfg: ChainConfig) -> list[ParamSpec]:
        specs = []
        for band, kind in self.bands:
            # the high-pass follows --amount down to its neutral 10 Hz; shelves and peak keep
            # their corner while their gain goes to 0 dB
            specs.append(ParamSpec(self.key(f"{band}_hz"), RANGES[_BAND_FREQ_RANGE[band]],
                                   amount="loglerp" if kind == "highpass" else "keep"))
            if kind != "highpass":
                specs.append(ParamSpec(self.key(f"{band}_db"), RANGES["gain_db"]))
            if kind == "peaking":
                specs.append(ParamSpec(self.key(f"{band}_q"), RANGES["q"], amount="keep"))
        return specs

    def sos(self, values: Values, sample_rate: float) -> np.ndarray:
        """Biquad cascade (n_bands, 6) in numpy from values in units, at sample_rate (Hz)."""
        rows = []
        for band, kind in self.bands:
            g = float(values[self.key(f"{band}_db")]) if kind != "highpass" else 0.0
            q = (float(values[self.key(f"{band}_q")]) if kind == "peaking"
                 else BAND_DEFAULT_Q[kind])
            rows.append(biquad.rbj_design(kind, float(values[self.key(f"{band}_hz")]), g, q,
                                          sample_rate))
        return np.stack(rows)

    def linear_response_db(self, cfg: ChainConfig, values: Values, freqs_hz: np.ndarray
                           ) -> np.ndarray:
        return biquad.freq_response_db(self.sos(values, cfg.sample_rate), freqs_hz,
                                       cfg.sample_rate)

    def torch_sos(self, chain: ToneChain) -> torch.Tensor:
        """Biquad cascade (n, 6) from the chain's parameters (differentiable)."""
        import torch

        from tonemorph.chain import functional as F

        rows = []
        zero = torch.zeros(1, dtype=torch.float64)
        for band, kind in self.bands:
            f = chain.value(self.key(f"{band}_hz"))
            g = chain.value(self.key(f"{band}_db")) if kind != "highpass" else zero
            q = (chain.value(self.key(f"{band}_q")) if kind == "peaking"
                 else torch.full((1,), BAND_DEFAULT_Q[kind], dtype=torch.float64))
            rows.append(F.rbj_biquad(kind, f, g, q, chain.cfg.sample_rate)[:, 0])
        return torch.stack(rows)

    def torch_response(self, chain: ToneChain, n_fft: int) -> torch.Tensor:
        from tonemorph.chain import functional as F

        return F.rfft(F.sos_ir(self.torch_sos(chain)), n_fft)

    def fast(self, cfg: ChainConfig, values: Values, opts: FastOptions) -> Biquads:
        parts = [self.sos(values, cfg.sample_rate)]
        if self.hosts_tone_controls and opts.tone_sos is not None and len(opts.tone_sos):
            parts.append(np.asarray(opts.tone_sos, dtype=np.float64))
        return Biquads(np.concatenate(parts))

    def fast_when_absent(self, cfg: ChainConfig, opts: FastOptions) -> Biquads | None:
        if self.hosts_tone_controls and opts.tone_sos is not None and len(opts.tone_sos):
            return Biquads(np.asarray(opts.tone_sos, dtype=np.float64))
        return None
