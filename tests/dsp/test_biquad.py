"""RBJ biquad designs vs scipy (sosfreqz, butter) and the cookbook's known gains."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import scipy.signal

from tonemorph.dsp.biquad import (
    freq_response_db,
    high_shelf,
    highpass,
    low_shelf,
    lowpass,
    peaking,
)
from tonemorph.errors import ParameterError

SR = 48000.0
FREQS = np.geomspace(10.0, 23990.0, 97)
DESIGNS = [
    highpass(80.0, 0.7, SR),
    lowpass(6000.0, 2.0, SR),
    peaking(1000.0, 7.5, 1.4, SR),
    peaking(250.0, -12.0, 0.5, SR),
    low_shelf(120.0, 6.0, 0.707, SR),
    high_shelf(3000.0, -9.0, 0.9, SR),
]


@pytest.mark.parametrize("sos", DESIGNS)
def test_response_matches_scipy_sosfreqz(sos: np.ndarray) -> None:
    assert sos.shape == (6,) and sos[3] == 1.0
    _, h = scipy.signal.sosfreqz(sos[None, :], worN=FREQS, fs=SR)
    got = freq_response_db(sos, FREQS, SR)
    np.testing.assert_allclose(got, 20 * np.log10(np.abs(h)), atol=1e-9)


def test_cascade_response_is_the_sum_of_sections() -> None:
    cascade = np.stack(DESIGNS[:3])
    total = sum(freq_response_db(s, FREQS, SR) for s in DESIGNS[:3])
    np.testing.assert_allclose(freq_response_db(cascade, FREQS, SR), total, atol=1e-9)
    _, h = scipy.signal.sosfreqz(cascade, worN=FREQS, fs=SR)
    np.testing.assert_allclose(total, 20 * np.log10(np.abs(h)), atol=1e-9)


@pytest.mark.parametrize("cutoff_hz", [40.0, 1000.0, 15000.0])
def test_butterworth_q_equals_scipy_butter(cutoff_hz: float) -> None:
    q = 1.0 / math.sqrt(2.0)
    for design, kind in ((lowpass, "lowpass"), (highpass, "highpass")):
        ref = scipy.signal.butter(2, cutoff_hz, btype=kind, fs=SR, output="sos")[0]
        np.testing.assert_allclose(design(cutoff_hz, q, SR), ref, rtol=1e-9, atol=1e-12)
        assert freq_response_db(design(cutoff_hz, q, SR), np.array([cutoff_hz]), SR)[0] == (
            pytest.approx(-3.0103, abs=1e-3)
        )


def test_pass_gain_at_cutoff_equals_q() -> None:
    for q in (0.5, 2.0, 5.0):
        for design in (lowpass, highpass):
            got = freq_response_db(design(2000.0, q, SR), np.array([2000.0]), SR)[0]
            assert got == pytest.approx(20 * math.log10(q), abs=1e-9)


@pytest.mark.parametrize("gain_db", [-15.0, -3.0, 4.0, 12.0])
def test_known_gains_of_peaking_and_shelves(gain_db: float) -> None:
    ends = np.array([0.0, SR / 2])
    peak = peaking(1500.0, gain_db, 1.0, SR)
    assert freq_response_db(peak, np.array([1500.0]), SR)[0] == pytest.approx(gain_db, abs=1e-9)
    np.testing.assert_allclose(freq_response_db(peak, ends, SR), 0.0, atol=1e-9)

    low = low_shelf(300.0, gain_db, 0.707, SR)
    np.testing.assert_allclose(freq_response_db(low, ends, SR), [gain_db, 0.0], atol=1e-9)
    assert freq_response_db(low, np.array([300.0]), SR)[0] == pytest.approx(gain_db / 2, abs=1e-9)

    high = high_shelf(5000.0, gain_db, 0.707, SR)
    np.testing.assert_allclose(freq_response_db(high, ends, SR), [0.0, gain_db], atol=1e-9)
    assert freq_response_db(high, np.array([5000.0]), SR)[0] == pytest.approx(gain_db / 2, abs=1e-9)


def test_zero_gain_designs_are_identity() -> None:
    designs = (peaking(800.0, 0.0, 3.0, SR), low_shelf(800.0, 0.0, 1.0, SR))
    for sos in (*designs, high_shelf(800.0, 0.0, 1.0, SR)):
        np.testing.assert_allclose(sos[:3], sos[3:], atol=1e-12)


def test_filtering_matches_plain_loop_difference_equation() -> None:
    sos = peaking(700.0, 6.0, 2.0, SR)
    x = np.random.default_rng(0).standard_normal(500)
    b0, b1, b2, _, a1, a2 = sos
    y = np.zeros_like(x)
    for n in range(x.size):
        y[n] = b0 * x[n] + (b1 * x[n - 1] if n >= 1 else 0.0) + (b2 * x[n - 2] if n >= 2 else 0.0)
        y[n] -= (a1 * y[n - 1] if n >= 1 else 0.0) + (a2 * y[n - 2] if n >= 2 else 0.0)
    np.testing.assert_allclose(scipy.signal.sosfilt(sos[None, :], x), y, atol=1e-12)


@pytest.mark.parametrize(
    "call",
    [
        lambda: lowpass(24000.0, 0.7, SR),
        lambda: highpass(0.0, 0.7, SR),
        lambda: lowpass(100.0, 0.0, SR),
        lambda: peaking(100.0, float("nan"), 1.0, SR),
        lambda: low_shelf(100.0, 3.0, 1.0, -1.0),
        lambda: high_shelf(100.0, 200.0, 1.0, SR),
        lambda: freq_response_db(np.zeros(5), FREQS, SR),
    ],
)
def test_bad_parameters_raise_parameter_error(call: Callable[[], object]) -> None:
    with pytest.raises(ParameterError):
        call()
