"""`process_at_rate`: the one streaming resample-process-resample loop (tones, neural models).

Length kept, latency removed, awkward block sizes give the same output, and a round trip
through another rate with an identity processor returns the input (soxr HQ accuracy).
"""

from __future__ import annotations

import numpy as np
import pytest
from signals import white_noise

from tonemorph.errors import ParameterError
from tonemorph.io import resample
from tonemorph.io.process import process_at_rate, resample_blocks

BLOCKS = [1, 64, 65, 128, 8192, 8193]


def _run(x: np.ndarray, block: int, *args, **kwargs) -> np.ndarray:
    parts = list(process_at_rate((x[:, i : i + block] for i in range(0, x.shape[1], block)),
                                 *args, **kwargs))
    assert all(p.dtype == np.float32 and p.shape[1] > 0 for p in parts)
    return np.concatenate(parts, axis=1)


class _Delay:
    """Streaming delay by `latency` samples: output[n] = gain * input[n - latency]."""

    def __init__(self, latency: int, channels: int, gain: float = 0.5):
        self.hist = np.zeros((channels, latency), np.float32)
        self.gain = np.float32(gain)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        assert x.dtype == np.float32 and x.flags.c_contiguous
        ext = np.concatenate([self.hist, x], axis=1)
        self.hist = ext[:, x.shape[1] :]
        return ext[:, : x.shape[1]] * self.gain


@pytest.mark.parametrize("block", BLOCKS)
def test_same_rate_removes_the_latency_exactly(block: int) -> None:
    x = white_noise(0.3, 48000, channels=2, seed=1)
    y = _run(x, block, _Delay(23, 2), 48000, 48000, 2, latency=23)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y, x.astype(np.float32) * np.float32(0.5))


@pytest.mark.parametrize("block", BLOCKS)
def test_other_rate_round_trip_is_the_input_for_any_block(block: int) -> None:
    x = resample(white_noise(0.3, 16000, channels=2, seed=2), 16000, 44100)  # band-limited
    y = _run(x, block, _Delay(0, 2, gain=1.0), 44100, 48000, 2)
    assert y.shape == x.shape
    mid = slice(2000, x.shape[1] - 2000)
    err = np.sqrt(np.mean((y[:, mid] - x[:, mid]) ** 2) / np.mean(x[:, mid] ** 2))
    assert err < 1e-3
    ref = _run(x, 4096, _Delay(0, 2, gain=1.0), 44100, 48000, 2)
    np.testing.assert_allclose(y, ref, atol=1e-6)


def test_latency_at_the_inner_rate_is_removed() -> None:
    x = resample(white_noise(0.3, 16000, seed=3), 16000, 44100)
    assert x.shape[0] == 1
    plain = _run(x, 1000, _Delay(0, 1, gain=1.0), 44100, 48000, 1)
    delayed = _run(x, 1000, _Delay(40, 1, gain=1.0), 44100, 48000, 1, latency=40)
    np.testing.assert_allclose(delayed, plain, atol=1e-6)


def test_resample_blocks_flushes_everything() -> None:
    x = white_noise(0.2, 44100, channels=2, seed=4).astype(np.float32)
    y = np.concatenate(list(resample_blocks((x[:, i : i + 999] for i in range(0, x.shape[1],
                                                                               999)),
                                            44100, 48000, 2)), axis=1)
    assert abs(y.shape[1] - round(x.shape[1] * 48000 / 44100)) <= 1


def test_wrong_channel_count_is_refused() -> None:
    with pytest.raises(ParameterError, match="expected 2 channels, got 1"):
        list(process_at_rate(iter([np.zeros((1, 10), np.float32)]), _Delay(0, 2), 48000,
                             48000, 2))
