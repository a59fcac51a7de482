"""Fast inference path: the learned chain as compiled/vectorised numpy, streaming in blocks."""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft
import torch

from tonemorph.chain import functional as F
from tonemorph.chain import kernels as K
from tonemorph.chain.chain import ToneChain


class _Dynamics:
    def __init__(self, chain: ToneChain, stage: str):
        v = {k: float(chain.value(f"{stage}.{k}")) for k in
             ("threshold_db", "ratio", "attack_ms", "release_ms")}
        rate = chain.cfg.sample_rate / F.CONTROL_HOP
        self.args = (F.CONTROL_HOP, v["threshold_db"], v["ratio"], F.KNEE_DB,
                     math.exp(-1000.0 / (v["attack_ms"] * rate)),
                     math.exp(-1000.0 / (v["release_ms"] * rate)))
        self.state = np.array([0.0, 0.0, 0.0, 1.0, 1.0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return K.compressor_block(x, self.state, *self.args)


class _Shaper:
    def __init__(self, chain: ToneChain):
        h = F.oversample_fir()
        center = len(h) // 2
        if center % 2 != 1 or np.any(np.abs(h[1::2][np.arange(len(h) // 2) != center // 2]) > 1e-9):
            raise ValueError("the fast shaper needs a halfband FIR with an odd centre tap")
        self.h_even = h[0::2].astype(np.float32)
        self.h_center = float(h[center])
        self.drive = float(10 ** (chain.value("drive.drive_db").item() / 20))
        self.bias = float(chain.value("drive.bias"))
        self.state = np.zeros((3, len(self.h_even) - 1), np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return K.shaper_2x_block(x, self.state, self.h_even, self.h_center, self.drive,
                                 self.bias)


class _Fir:
    """Streaming FIR by overlap-save with the IR's spectrum computed once."""

    def __init__(self, ir: np.ndarray):
        self.ir = ir.astype(np.float32)
        self.hist = np.zeros(len(ir) - 1, np.float32)
        self.n_fft = 1 << int(np.ceil(np.log2(8 * len(ir))))
        self.step = self.n_fft - len(ir) + 1
        self.spec = sfft.rfft(self.ir, self.n_fft)

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
        y = sfft.irfft(sfft.rfft(frames, axis=-1) * self.spec, self.n_fft, axis=-1)
        return y[:, m:].reshape(-1)[:n].astype(np.float32)


class _Biquads:
    def __init__(self, sos: np.ndarray):
        self.sos = np.ascontiguousarray(sos, dtype=np.float64)
        self.state = np.zeros((len(sos), 2))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return K.biquad_cascade(x, self.sos, self.state)


class FastChain:
    """Stateful block processor equal to `ToneChain.forward` (float32, one channel).

    Feed consecutive blocks of any size to `process`; the output equals processing the whole
    signal at once. `extra_post_sos` adds user tone-control biquads after the post-EQ.
    """

    def __init__(self, chain: ToneChain, extra_post_sos: np.ndarray | None = None):
        st = chain.cfg.stages
        self.sample_rate = chain.cfg.sample_rate
        with torch.no_grad():
            self.in_gain = float(10 ** (chain.value("trim_db").item() / 20))
            self.out_gain = float(10 ** (chain.value("out_gain_db").item() / 20))
            self.ops: list = []
            if "pre_eq" in st:
                self.ops.append(_Biquads(chain.eq_sos("pre_eq").numpy()))
            if "sag" in st:
                self.ops.append(_Dynamics(chain, "sag"))
            if "drive" in st:
                self.ops.append(_Shaper(chain))
            post = [chain.eq_sos("post_eq").numpy()] if "post_eq" in st else []
            if extra_post_sos is not None and len(extra_post_sos):
                post.append(np.asarray(extra_post_sos, dtype=np.float64))
            if post:
                self.ops.append(_Biquads(np.concatenate(post)))
            if "cab" in st:
                self.ops.append(_Fir(chain.cab_ir().numpy()))
            if "comp" in st:
                self.ops.append(_Dynamics(chain, "comp"))

    def process(self, x: np.ndarray) -> np.ndarray:
        """Process the next block of mono samples (1-D) at the chain's sample rate."""
        y = np.ascontiguousarray(x, dtype=np.float32) * np.float32(self.in_gain)
        for op in self.ops:
            y = op(y)
        return y * np.float32(self.out_gain)


def process_offline(chain: ToneChain, x: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """Run the fast path over mono x (1-D) in blocks of `block` samples."""
    fc = FastChain(chain)
    return np.concatenate([fc.process(x[i: i + block]) for i in range(0, len(x), block)]
                          or [np.zeros(0, np.float32)])
