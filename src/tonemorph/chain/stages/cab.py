"""Cabinet stage: a minimum-phase FIR from a log-spaced band curve (dB)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tonemorph.chain import kernels as K
from tonemorph.chain.params import RANGES, ParamSpec
from tonemorph.chain.stages.base import FastOptions, Stage, Values, fmt_hz

if TYPE_CHECKING:
    import torch

    from tonemorph.chain.chain import ToneChain
    from tonemorph.chain.config import ChainConfig

__all__ = ["Cab", "Fir"]


class Fir:
    """Fast twin: streaming FIR by overlap-save with the IR's spectrum computed once."""

    def __init__(self, ir: np.ndarray):
        self.ir = ir.astype(np.float32)
        self.hist = np.zeros(len(ir) - 1, np.float32)
        self.n_fft = 1 << int(np.ceil(np.log2(8 * len(ir))))
        self.step = self.n_fft - len(ir) + 1
        self.spec = np.fft.rfft(self.ir, self.n_fft)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        m = len(self.hist)
        ext = np.concatenate([self.hist, x])
        self.hist = ext[len(ext) - m:]
        n = len(x)
        if n < 256:
            return np.convolve(ext, self.ir, mode="valid").astype(np.float32)
        n_frames = -(-n // self.step)
        pad = np.zeros(n_frames * self.step + m, np.float32)
        pad[: len(ext)] = ext
        idx = np.arange(n_frames)[:, None] * self.step + np.arange(self.n_fft)[None, :]
        frames = pad[np.minimum(idx, len(pad) - 1)] * (idx < len(pad))
        y = np.fft.irfft(np.fft.rfft(frames, axis=-1) * self.spec, self.n_fft, axis=-1)
        return y[:, m:].reshape(-1)[:n].astype(np.float32)


class Cab(Stage):
    """Band gains (dB) at `ChainConfig.band_hz`, interpolated in log-frequency, min-phase."""

    name = "cab"
    title = "cabinet"
    filter_group = "post"  # one FFT pass with the post-EQ in the torch chain
    curve = "response"

    def describe(self, cfg: ChainConfig, values: Values) -> tuple[tuple[str, str], ...]:
        b = np.asarray(values[self.key("band_db")], dtype=float)
        hz = cfg.band_hz()
        # a resonance only when one region stands out above the typical band level
        peak = fmt_hz(float(hz[int(np.argmax(b))])) if b.max() - np.median(b) > 1.0 else "none"
        return (("curve", f"{b.size} bands, {b.min():+.1f} .. {b.max():+.1f} dB"),
                ("resonance", peak),
                ("length", f"{cfg.cab_taps} taps, "
                           f"{1000 * cfg.cab_taps / cfg.sample_rate:.0f} ms"))

    def specs(self, cfg: ChainConfig) -> list[ParamSpec]:
        return [ParamSpec(self.key("band_db"), RANGES["cab_band_db"], size=cfg.cab_bands)]

    def curve_db(self, cfg: ChainConfig, values: Values) -> np.ndarray:
        """Magnitude curve (dB) on the rfft grid of cfg.cab_fft at cfg.sample_rate."""
        weights = K.log_band_weights(cfg.band_hz(), cfg.cab_fft, cfg.sample_rate)
        return weights @ np.asarray(values[self.key("band_db")], dtype=np.float64)

    def ir(self, cfg: ChainConfig, values: Values) -> np.ndarray:
        """Minimum-phase IR (cfg.cab_taps, float64) in numpy."""
        return K.minimum_phase_ir(self.curve_db(cfg, values), cfg.cab_taps, np)

    def linear_response_db(self, cfg: ChainConfig, values: Values, freqs_hz: np.ndarray
                           ) -> np.ndarray:
        """Response (dB) of the FIR at freqs_hz (Hz), by direct evaluation of its taps."""
        ir = self.ir(cfg, values)
        f = np.asarray(freqs_hz, dtype=np.float64)
        h = np.exp(-2j * np.pi * np.outer(f, np.arange(ir.size)) / cfg.sample_rate) @ ir
        return 20.0 * np.log10(np.maximum(np.abs(h), 1e-20))

    def torch_buffers(self, cfg: ChainConfig) -> dict[str, torch.Tensor]:
        import torch

        return {"_cab_interp": torch.from_numpy(K.log_band_weights(cfg.band_hz(), cfg.cab_fft,
                                                                   cfg.sample_rate))}

    def torch_ir(self, chain: ToneChain) -> torch.Tensor:
        """Minimum-phase IR (cab_taps) from the chain's band curve (differentiable)."""
        from tonemorph.chain import functional as F

        curve = chain._cab_interp @ chain.value(self.key("band_db"))
        return F.minimum_phase_ir(curve, chain.cfg.cab_taps)

    def torch_response(self, chain: ToneChain, n_fft: int) -> torch.Tensor:
        from tonemorph.chain import functional as F

        return F.rfft(self.torch_ir(chain), n_fft)

    def fast(self, cfg: ChainConfig, values: Values, opts: FastOptions) -> Fir:
        return Fir(self.ir(cfg, values))
