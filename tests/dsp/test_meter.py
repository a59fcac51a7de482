"""Streaming meters equal the offline measures (pyloudnorm, resample_poly true peak, crest)."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
from signals import plucked_notes, white_noise

from tonemorph.dsp.loudness import crest_factor_db
from tonemorph.dsp.meter import LoudnessMeter, StatsMeter, TruePeakMeter
from tonemorph.dsp.stereo import side_to_mid_db


def feed(meter, x: np.ndarray, block: int):
    for i in range(0, x.shape[1], block):
        meter.add(x[:, i : i + block])
    return meter


@pytest.mark.parametrize(("rate", "block", "channels"), [
    (22050, 7, 1), (22050, 4410, 2), (44100, 4410, 1), (44100, 65536, 2), (48000, 4410, 2),
    (48000, 65536, 1)])
def test_loudness_meter_equals_pyloudnorm(rate: int, block: int, channels: int) -> None:
    n = int(3.37 * rate)
    x = white_noise(3.37, rate, channels=channels, seed=1) * np.linspace(0.05, 1.0, n)
    ref = pyloudnorm.Meter(rate).integrated_loudness(x.T.astype(np.float64))
    got = feed(LoudnessMeter(rate, channels), x, block).integrated_lufs()
    assert got == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("block", [1, 64, 65, 8193])
def test_true_peak_meter_equals_resample_poly(block: int) -> None:
    x = np.concatenate([plucked_notes(0.2, 44100, channels=2, seed=2),
                        white_noise(0.1, 44100, amplitude=0.3, channels=2)], axis=1).astype(float)
    ref = 20 * np.log10(np.max(np.abs(scipy.signal.resample_poly(x, 4, 1, axis=-1))))
    got = feed(TruePeakMeter(2), x, block).dbtp()
    assert got == pytest.approx(max(ref, 20 * np.log10(np.max(np.abs(x)))), abs=1e-9)


def test_stats_meter_equals_crest_and_width() -> None:
    x = white_noise(2.0, 44100, channels=2, seed=3) * np.linspace(0, 1, 88200)
    x[:, :30000] = 0.0
    m = feed(StatsMeter(44100, 2), x, 999)
    assert m.crest_db() == pytest.approx(crest_factor_db(x, 44100), abs=1e-9)
    assert m.width_db() == pytest.approx(side_to_mid_db(x), abs=1e-9)
    assert StatsMeter(44100, 1).width_db() is None
