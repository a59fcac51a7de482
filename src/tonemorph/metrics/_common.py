"""Shared helpers of the metrics: channel pairing, framing, padding."""

from __future__ import annotations

import numpy as np


def _mono(audio: np.ndarray) -> np.ndarray:
    """Mean over channels of a (channels, samples) array -> (samples,)."""
    return audio.mean(axis=0) if audio.shape[0] > 1 else audio[0]


def _restore_shape(audio: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Return (channels, samples) audio as 1-D if `like` was 1-D, in like's float dtype."""
    out = audio[0] if np.ndim(like) == 1 else audio
    dtype = np.asarray(like).dtype
    return out.astype(dtype, copy=False) if np.issubdtype(dtype, np.floating) else out


def _pair_channels(est: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Same channel count kept as is; otherwise both are averaged to mono (1, samples)."""
    if est.shape[0] == ref.shape[0]:
        return est, ref
    return _mono(est)[None, :], _mono(ref)[None, :]


def _frames(x: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Frame (channels, samples) into a (channels, n_frames, frame) view from sample 0.

    A signal shorter than one frame is zero-padded (copy); a partial last frame is dropped.
    """
    if x.shape[-1] < frame:
        x = np.pad(x, ((0, 0), (0, frame - x.shape[-1])))
    return np.lib.stride_tricks.sliding_window_view(x, frame, axis=-1)[:, ::hop]


def _reflect_pad(x: np.ndarray, pad: int) -> np.ndarray:
    """float32 copy of (channels, samples), reflect-padded by `pad` each side (zeros if short)."""
    mode = "reflect" if x.shape[-1] > pad else "constant"
    return np.pad(x.astype(np.float32, copy=False), ((0, 0), (pad, pad)), mode=mode)


def _centered(padded: np.ndarray, max_pad: int, n_fft: int) -> np.ndarray:
    """View of a signal reflect-padded by n_fft // 2, taken from one padded by max_pad."""
    pad = n_fft // 2
    return padded[:, max_pad - pad : padded.shape[-1] - (max_pad - pad)]
