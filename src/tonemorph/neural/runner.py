"""Run a neural model (WaveNet, LSTM, RTNeural) on audio: streaming blocks with state, any
take rate (resampled to and from the model's rate), channels processed independently."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as tF

from tonemorph.dsp.checks import check_finite, check_rate
from tonemorph.errors import ParameterError
from tonemorph.io.process import process_at_rate, process_file
from tonemorph.neural import _kernels
from tonemorph.neural.recurrent import NamLSTM, RnnDense
from tonemorph.neural.wavenet import ACTIVATIONS, WaveNet
from tonemorph.progress import Progress

CHUNK = 1 << 16  # samples per WaveNet pass: history overhead 6 %, activations ~5 MB
MODEL_FLUSH_SAMPLES = 256  # zeros after a take that push the resamplers (and the model) out


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with torch limited to `n` intra-op threads (None: leave as is).

    Measured on the 2-core bench machine under load: small convolutions with 2 threads ran
    3-10x slower than with 1 (threads wait on each other), so 1 is the default for our work.
    """
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class _FastWaveNet:
    """WaveNet inference on one channel with fused in-place ops: 1x1 convs as matmuls
    (addmm), the input mixer as addcmul, tanh through numpy in place; equal to
    `WaveNet.forward_valid` within float32 rounding."""

    def __init__(self, model: WaveNet):
        self.arrays = []
        with torch.no_grad():
            for arr in model.arrays:
                layers = [(conv.weight.detach().clone(), conv.bias.detach().clone(),
                           conv.dilation[0], mixer.weight.detach()[:, :, 0].clone(),
                           one.weight.detach()[:, :, 0].clone(),
                           one.bias.detach()[:, None].clone())
                          for conv, mixer, one in zip(arr.convs, arr.mixers, arr.one_by_ones)]
                hb = arr.head_rechannel.bias
                self.arrays.append((arr.cfg, arr.rechannel.weight.detach()[:, :, 0].clone(),
                                    layers, arr.head_rechannel.weight.detach()[:, :, 0].clone(),
                                    None if hb is None else hb.detach()[:, None].clone()))
        self.head_scale = float(model.head_scale)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x (L,) -> (L - receptive_field + 1,)."""
        c = x[None]
        z_in, head = c, None
        for cfg, rw, layers, hw, hb in self.arrays:
            z = rw @ z_in
            ch = cfg.channels
            for w, b, d, mw, ow, ob in layers:
                zc = tF.conv1d(z[None], w, b, dilation=d)[0]
                n = zc.shape[1]
                zc.add_(mw @ c[:, c.shape[1] - n:])
                if cfg.gated:
                    a = ACTIVATIONS[cfg.activation](zc[:ch]) * torch.sigmoid(zc[ch:])
                elif cfg.activation in ("Tanh", "Fasttanh"):
                    arr = zc.numpy()
                    np.tanh(arr, out=arr)
                    a = zc
                else:
                    a = ACTIVATIONS[cfg.activation](zc)
                z = torch.addmm(z[:, z.shape[1] - n:], ow, a).add_(ob)
                head = a.clone() if head is None else head[:, head.shape[1] - n:].add_(a)
            head = hw @ head
            if hb is not None:
                head.add_(hb)
            z_in = z
        return head[0] * self.head_scale


class BlockProcessor:
    """Stateful processor of (channels, n) float32 blocks at the model's rate.

    Consecutive blocks of any size give the same output as one pass over the whole signal.
    WaveNet keeps the last receptive_field - 1 input samples; recurrent models keep their state
    (LSTMs run in a compiled per-sample kernel, equal to torch's LSTM within float32 rounding).
    """

    def __init__(self, model: torch.nn.Module, channels: int):
        if channels < 1:
            raise ParameterError(f"channels must be >= 1, got {channels}")
        self.model = model.eval()
        self.channels = channels
        if isinstance(model, WaveNet):
            self._hist = torch.zeros(channels, model.receptive_field - 1)
            self._wavenet = _FastWaveNet(model)
        elif isinstance(model, NamLSTM):
            self._rnn = _kernels.LstmWeights.from_torch(model.core, model.head)
            self._state = [self._rnn.initial_state(model.h0.numpy(), model.c0.numpy())
                           for _ in range(channels)]
        elif isinstance(model, RnnDense):
            if model.unit == "LSTM":
                self._rnn = _kernels.LstmWeights.from_torch(model.rnn, model.dense)
                zero = np.zeros((1, model.hidden_size))
                self._state = [self._rnn.initial_state(zero, zero) for _ in range(channels)]
            else:
                self._rnn = _kernels.GruWeights.from_torch(model.rnn, model.dense)
                self._state = [self._rnn.initial_state() for _ in range(channels)]
            self._gain = np.float32(10 ** (model.out_gain_db / 20))
        else:
            raise ParameterError(f"no runner for {type(model).__name__}")

    @torch.inference_mode()
    def process(self, x: np.ndarray) -> np.ndarray:
        """Next block (channels, n) -> (channels, n) float32."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.shape[0] != self.channels:
            raise ParameterError(f"expected {self.channels} channels, got {x.shape[0]}")
        if x.shape[1] == 0:
            return x.copy()
        m = self.model
        if isinstance(m, WaveNet):
            outs = []
            for i in range(0, x.shape[1], CHUNK):
                ext = torch.cat([self._hist, torch.from_numpy(x[:, i: i + CHUNK])], dim=1)
                outs.append(torch.stack([self._wavenet(ext[c]) for c in range(ext.shape[0])]
                                        ).numpy())
                self._hist = ext[:, ext.shape[1] - self._hist.shape[1]:]
            return np.concatenate(outs, axis=1)
        y = np.stack([self._rnn.run(x[c], self._state[c]) for c in range(self.channels)])
        if isinstance(m, RnnDense):
            y = y * self._gain + (x if m.in_skip else 0.0)
        return y.astype(np.float32)


class NeuralStream:
    """Streams (channels, n) blocks at `sample_rate` through a model at `model_rate`."""

    def __init__(self, model: torch.nn.Module, model_rate: int, sample_rate: int,
                 channels: int):
        if sample_rate <= 0 or model_rate <= 0:
            raise ParameterError("sample rates must be positive")
        self.proc = BlockProcessor(model, channels)
        self.model_rate, self.sr, self.channels = model_rate, sample_rate, channels

    def run(self, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """Process an iterator of blocks; yields processed blocks, total length preserved."""
        return process_at_rate(blocks, self.proc.process, self.sr, self.model_rate,
                               self.channels, flush_samples=MODEL_FLUSH_SAMPLES)


def apply_model(model: torch.nn.Module, model_rate: int, audio: np.ndarray, sample_rate: int,
                block: int = 1 << 16) -> np.ndarray:
    """Process audio (channels, samples) or (samples,) at `sample_rate`; same shape out."""
    x = np.asarray(audio, dtype=np.float32)
    one_d = x.ndim == 1
    x2 = x[None] if one_d else x
    if x2.ndim != 2:
        raise ParameterError(f"audio must be (channels, samples), got shape {x.shape}")
    check_rate(sample_rate)
    check_finite(x2)
    st = NeuralStream(model, model_rate, sample_rate, x2.shape[0])
    parts = list(st.run(x2[:, i: i + block] for i in range(0, x2.shape[1], block)))
    out = np.concatenate(parts or [np.zeros((x2.shape[0], 0), np.float32)], axis=1)
    return out[0] if one_d else out


def apply_model_file(model: torch.nn.Module, model_rate: int, in_path: str | Path,
                     out_path: str | Path, *, force: bool = False,
                     sample_rate: int | None = None, subtype: str | None = None,
                     block_s: float = 5.0, ceiling_dbtp: float | None = None,
                     progress: Progress | None = None) -> dict:
    """Process a file in blocks (bounded memory), write atomically, keep rate/bit depth."""
    return process_file(
        in_path, out_path,
        lambda r: NeuralStream(model, model_rate, r.sample_rate, r.channels).run,
        force=force, sample_rate=sample_rate, subtype=subtype, block_s=block_s,
        ceiling_dbtp=ceiling_dbtp, progress=progress)


__all__ = ["BlockProcessor", "NeuralStream", "apply_model", "apply_model_file", "torch_threads"]
