"""Mid/side, width and mono bass against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import given
from hypothesis import strategies as st
from signals import sine, white_noise

from tonemorph.dsp.stereo import (
    MonoBass,
    left_right,
    mid_side,
    mono_bass,
    set_width,
    side_to_mid_db,
)
from tonemorph.errors import ParameterError

SR = 44100


@given(a=st.floats(-2, 2), b=st.floats(-2, 2))
def test_mid_side_closed_form_and_round_trip(a: float, b: float) -> None:
    x = np.array([[a, 0.5], [b, -0.25]])
    ms = mid_side(x)
    np.testing.assert_allclose(ms[:, 0], [(a + b) / 2, (a - b) / 2])
    np.testing.assert_allclose(left_right(ms), x, atol=1e-12)


@pytest.mark.parametrize(("a", "b"), [(1.0, 0.5), (1.0, -0.2), (0.3, 0.9)])
def test_width_of_a_panned_source(a: float, b: float) -> None:
    s = white_noise(1.0, SR, seed=1)[0].astype(np.float64)
    x = np.stack([a * s, b * s])
    expected = 20 * np.log10(abs(a - b) / abs(a + b))  # S/M = (a-b)/(a+b)
    assert side_to_mid_db(x) == pytest.approx(expected, abs=1e-9)
    assert side_to_mid_db(np.stack([s, s])) == -200.0


def test_set_width_scales_the_side_only() -> None:
    x = white_noise(0.5, SR, channels=2, seed=2).astype(np.float64)
    for w in (0.0, 0.5, 2.0):
        y = set_width(x, w)
        ms, ms_y = mid_side(x), mid_side(y)
        np.testing.assert_allclose(ms_y[0], ms[0], atol=1e-12)
        np.testing.assert_allclose(ms_y[1], w * ms[1], atol=1e-12)
    np.testing.assert_allclose(set_width(x, 0.0)[0], set_width(x, 0.0)[1])
    with pytest.raises(ParameterError, match="width"):
        set_width(x, -1.0)


def test_mono_bass_removes_low_side_keeps_high_side_and_mid() -> None:
    low = sine(40.0, 2.0, SR, amplitude=0.3)[0].astype(np.float64)
    high = sine(2000.0, 2.0, SR, amplitude=0.3)[0].astype(np.float64)
    mid = sine(60.0, 2.0, SR, amplitude=0.3)[0].astype(np.float64)
    x = left_right(np.stack([mid, low + high]))
    y = mono_bass(x, SR, 120.0)
    ms = mid_side(y)[:, SR:]  # after the filter's start-up
    np.testing.assert_allclose(ms[0], mid[SR:], atol=1e-12)
    # side: 40 Hz is 3 octaves below... 1.6 octaves below 120 Hz: 4th order, > 30 dB down
    sos = scipy.signal.butter(4, 120.0, "highpass", fs=SR, output="sos")
    ref = scipy.signal.sosfilt(sos, low + high)[SR:]
    np.testing.assert_allclose(ms[1], ref, atol=1e-12)
    side_low = ms[1] - scipy.signal.sosfilt(sos, high)[SR:]
    assert 20 * np.log10(np.std(side_low) / np.std(low)) < -30
    assert 20 * np.log10(np.std(ms[1]) / np.std(high)) == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("block", [1, 65, 8193])
def test_mono_bass_block_equals_offline(block: int) -> None:
    x = white_noise(0.4, SR, channels=2, seed=5).astype(np.float64)
    offline = mono_bass(x, SR, 100.0)
    mb = MonoBass(SR, 100.0)
    streamed = np.concatenate([mb.process(x[:, i : i + block])
                               for i in range(0, x.shape[1], block)], axis=1)
    np.testing.assert_allclose(streamed, offline, atol=1e-12)
    with pytest.raises(ParameterError, match="cutoff"):
        MonoBass(SR, 5.0)
