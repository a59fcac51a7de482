"""The tabulated filter designs and the Hann window equal scipy.signal's, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
from pyloudnorm.iirfilter import IIRfilter

from tonemorph.dsp.designs import INTERPOLATOR_LOWPASS, OVERSAMPLE_LOWPASS, hann
from tonemorph.dsp.loudness import _k_weighting_sos


def test_tabulated_firwin_designs_equal_scipy() -> None:
    assert np.array_equal(INTERPOLATOR_LOWPASS,
                          scipy.signal.firwin(81, 0.25, window=("kaiser", 5.0)))
    assert np.array_equal(OVERSAMPLE_LOWPASS,
                          scipy.signal.firwin(47, 0.5, window=("kaiser", 7.0)))


@pytest.mark.parametrize("periodic", [True, False])
def test_hann_equals_get_window(periodic: bool) -> None:
    for n in [*range(1, 40), 255, 1024, 2047, 4096, 16384]:
        assert np.array_equal(hann(n, periodic=periodic),
                              scipy.signal.get_window("hann", n, fftbins=periodic)), n


def test_k_weighting_equals_pyloudnorm_designs() -> None:
    for rate in (8000, 22050, 44100, 48000, 96000, 192000, 44100.5):
        stages = (IIRfilter(4.0, 1.0 / math.sqrt(2.0), 1500.0, rate, "high_shelf"),
                  IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"))
        sos = np.array([np.concatenate([s.b, s.a]) for s in stages])
        assert np.array_equal(_k_weighting_sos(rate), sos), rate
