"""content_bandwidth_hz: a codec's or resampler's low-pass found, music's own roll-off not."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from signals import brick_wall, white_noise

from tonemorph.dsp.bandwidth import content_bandwidth_hz
from tonemorph.dsp.matcheq import mean_log_spectrum_db

SR = 44100


@pytest.mark.parametrize("cutoff_hz", [7000.0, 11000.0, 16000.0])
def test_content_bandwidth_finds_a_codec_s_low_pass(cutoff_hz: float) -> None:
    x = brick_wall(white_noise(6.0, SR, seed=3)[0].astype(np.float64), cutoff_hz, SR)
    bw = content_bandwidth_hz(*mean_log_spectrum_db(x, SR))
    assert cutoff_hz * 2.0 ** (-1.0 / 6.0) <= bw <= cutoff_hz


def test_content_bandwidth_ignores_music_s_own_roll_off() -> None:
    # 12 dB per octave from 2 kHz (a first-order pair): far gentler than any codec
    x = white_noise(6.0, SR, seed=4)[0].astype(np.float64)
    y = scipy.signal.sosfilt(scipy.signal.butter(2, 2000.0, fs=SR, output="sos"), x)
    assert content_bandwidth_hz(*mean_log_spectrum_db(y, SR)) == pytest.approx(0.84 * SR / 2)
    assert content_bandwidth_hz(*mean_log_spectrum_db(x, SR)) == pytest.approx(0.84 * SR / 2)
