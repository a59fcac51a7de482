"""The one BS.1770 gate and the one true-peak detector behind every loudness and peak figure.

`gated_lufs` against a plain-loop gate; the offline, streaming and mastering paths all reach it.
`true_peak_dbtp` (the limiter's compiled detector through `TruePeakMeter`) against
`scipy.signal.resample_poly(x, 4, 1)`, for awkward block sizes; the report's chunked figure too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
from signals import plucked_notes, white_noise

from tonemorph.dsp.loudness import (
    BS1770_CHANNEL_WEIGHTS,
    LUFS_FLOOR,
    gated_lufs,
    integrated_lufs,
    true_peak_dbtp,
)
from tonemorph.dsp.meter import LoudnessMeter
from tonemorph.errors import ParameterError
from tonemorph.pages import measures

SR = 44100


def _plain_gate(z: list[float]) -> float:
    """BS.1770-4 gating written out: absolute -70 LUFS, then relative -10 LU."""
    lk = [-0.691 + 10 * math.log10(v) if v > 0 else -math.inf for v in z]
    kept = [v for v, lv in zip(z, lk, strict=True) if lv >= -70.0]
    if not kept:
        return -70.0
    rel = -0.691 + 10 * math.log10(sum(kept) / len(kept)) - 10.0
    kept = [v for v, lv in zip(z, lk, strict=True) if lv > rel and lv > -70.0]
    if not kept:
        return -70.0
    return max(-0.691 + 10 * math.log10(sum(kept) / len(kept)), -70.0)


@pytest.mark.parametrize("seed", range(6))
def test_gated_lufs_equals_a_plain_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = 10 ** (rng.uniform(-9.0, 0.0, 40))  # block powers from -90 to 0 dB
    z[rng.integers(0, 40, 5)] = 0.0  # silent blocks
    assert gated_lufs(z) == pytest.approx(_plain_gate(list(z)), abs=1e-12)
    assert gated_lufs(np.zeros(8)) == LUFS_FLOOR
    assert gated_lufs(np.full(8, 1e-9)) == LUFS_FLOOR  # all below the absolute gate


def test_offline_and_streaming_loudness_share_the_gate() -> None:
    x = white_noise(2.5, SR, channels=2, seed=3) * np.linspace(0.001, 1.0, int(2.5 * SR))
    meter = LoudnessMeter(SR, 2)
    meter.add(x)
    assert integrated_lufs(x, SR) == pytest.approx(gated_lufs(meter.block_power()), abs=1e-9)
    np.testing.assert_array_equal(BS1770_CHANNEL_WEIGHTS, [1.0, 1.0, 1.0, 1.41, 1.41])


def _reference_dbtp(x: np.ndarray) -> float:
    up = scipy.signal.resample_poly(x, 4, 1, axis=-1)
    return 20 * math.log10(max(np.max(np.abs(up)), np.max(np.abs(x))))


@pytest.mark.parametrize("block", [1, 64, 65, 128, 8192, 8193])
def test_true_peak_equals_resample_poly_for_any_block(block: int) -> None:
    x = np.concatenate([plucked_notes(0.05, SR, channels=2, seed=4),
                        white_noise(0.02, SR, amplitude=0.4, channels=2, seed=5)],
                       axis=1).astype(np.float64)
    ref = _reference_dbtp(x)
    assert true_peak_dbtp(x, SR, block=block) == pytest.approx(ref, abs=1e-9)
    assert measures.true_peak_dbtp(x[0], SR, chunk=block) == pytest.approx(
        _reference_dbtp(x[0]), abs=1e-9)


def test_true_peak_block_must_be_positive() -> None:
    with pytest.raises(ParameterError, match="block"):
        true_peak_dbtp(np.ones(10), SR, block=0)
