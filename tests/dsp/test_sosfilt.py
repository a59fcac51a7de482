"""The project's one compiled sos loop against scipy.signal.sosfilt (bit for bit)."""

from __future__ import annotations

import numpy as np
import scipy.signal

from tonemorph.dsp.biquad import high_shelf, highpass, peaking
from tonemorph.dsp.loudness import _k_weighting_sos
from tonemorph.dsp.sosfilt import sosfilt_rows, sosfilt_state

SR = 48000.0
SOS = np.stack([highpass(40.0, 0.7, SR), peaking(900.0, 6.0, 1.2, SR),
                high_shelf(4000.0, -8.0, 0.7, SR)])


def test_rows_equal_scipy_bit_for_bit() -> None:
    x = np.random.default_rng(0).standard_normal((3, 20000))
    for sos in (SOS, _k_weighting_sos(48000)):
        assert np.array_equal(sosfilt_rows(sos, x), scipy.signal.sosfilt(sos, x, axis=-1))


def test_blocks_with_state_equal_one_pass_and_scipy_zi() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(10000)
    zi = rng.standard_normal((len(SOS), 2)) * 0.1
    ref, zf = scipy.signal.sosfilt(SOS, x, zi=zi)
    state = zi.copy()
    cuts = [0, 1, 64, 65, 3000, 7777, 10000]
    out = np.concatenate([sosfilt_state(x[a:b], SOS, state) for a, b in zip(cuts, cuts[1:])])
    assert np.array_equal(out, ref)
    assert np.array_equal(state, zf)


def test_float32_in_float32_out_from_float64_arithmetic() -> None:
    x = np.random.default_rng(2).standard_normal(4000).astype(np.float32)
    y = sosfilt_state(x, SOS, np.zeros((len(SOS), 2)))
    assert y.dtype == np.float32
    ref = scipy.signal.sosfilt(SOS, x.astype(np.float64)).astype(np.float32)
    assert np.array_equal(y, ref)
