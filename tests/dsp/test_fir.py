"""Minimum/linear-phase FIR design, log-band interpolation and fractional-octave smoothing."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.signal

from tonemorph.dsp.biquad import freq_response_db, high_shelf, low_shelf, peaking
from tonemorph.dsp.fir import (
    linear_phase_from_magnitude,
    log_band_curve_to_bins,
    minimum_phase_from_magnitude,
    smooth_log_spectrum,
)
from tonemorph.errors import ParameterError

SR = 48000.0


def _smooth_curve_db(n_fft: int) -> np.ndarray:
    """A smooth cabinet-like target: low shelf cut, presence peak, high shelf cut (dB)."""
    freqs = scipy.fft.rfftfreq(n_fft, 1.0 / SR)
    cascade = np.stack(
        [
            low_shelf(150.0, -8.0, 0.7, SR),
            peaking(2500.0, 9.0, 0.8, SR),
            high_shelf(5000.0, -18.0, 0.6, SR),
        ]
    )
    return freq_response_db(cascade, freqs, SR)


def _response_db(ir: np.ndarray, n_fft: int) -> np.ndarray:
    return 20 * np.log10(np.abs(np.fft.rfft(ir, n_fft)))


@pytest.mark.parametrize(("n_taps", "grid_fft"), [(512, 4096), (2048, 4096), (1024, 16384)])
def test_minimum_phase_magnitude_follows_the_curve(n_taps: int, grid_fft: int) -> None:
    curve = _smooth_curve_db(grid_fft)
    ir = minimum_phase_from_magnitude(curve, n_taps)
    assert ir.shape == (n_taps,)
    freqs = scipy.fft.rfftfreq(grid_fft, 1.0 / SR)
    band = (freqs >= 50.0) & (freqs <= 20000.0)
    assert np.max(np.abs(_response_db(ir, grid_fft) - curve)[band]) < 0.5


def test_minimum_phase_recovers_a_minimum_phase_biquad() -> None:
    sos = peaking(900.0, 10.0, 2.0, SR)[None, :]
    zeros = np.roots(sos[0, :3])
    assert np.all(np.abs(zeros) < 1)  # the reference is itself minimum phase
    n_taps = 256
    impulse = np.zeros(n_taps)
    impulse[0] = 1.0
    reference = scipy.signal.sosfilt(sos, impulse)
    curve = freq_response_db(sos, scipy.fft.rfftfreq(8192, 1.0 / SR), SR)
    ir = minimum_phase_from_magnitude(curve, n_taps, tail_fraction=0.0)
    np.testing.assert_allclose(ir, reference, atol=1e-6)


def test_minimum_phase_energy_is_front_loaded() -> None:
    n_fft = 8192
    curve = _smooth_curve_db(n_fft)
    min_ir = minimum_phase_from_magnitude(curve, 1024)
    lin_ir = linear_phase_from_magnitude(curve, 1024)
    min_cum = np.cumsum(min_ir**2) / np.sum(min_ir**2)
    lin_cum = np.cumsum(lin_ir**2) / np.sum(lin_ir**2)
    assert np.all(min_cum >= lin_cum - 1e-9)
    assert min_cum[31] > 0.9 > lin_cum[511]


def test_short_minimum_phase_filter_has_zeros_inside_unit_circle() -> None:
    ir = minimum_phase_from_magnitude(_smooth_curve_db(4096), 32)
    assert np.max(np.abs(np.roots(ir))) < 1.0


def test_linear_phase_is_symmetric_with_integer_delay() -> None:
    curve = _smooth_curve_db(4096)
    for n_taps in (255, 256, 4096):
        ir = linear_phase_from_magnitude(curve, n_taps)
        centre = n_taps // 2
        half = min(centre, n_taps - 1 - centre)
        np.testing.assert_allclose(
            ir[centre - half : centre][::-1], ir[centre + 1 : centre + 1 + half], atol=1e-12
        )
    freqs = scipy.fft.rfftfreq(4096, 1.0 / SR)
    band = (freqs >= 200.0) & (freqs <= 20000.0)
    ir = linear_phase_from_magnitude(curve, 2048)
    assert np.max(np.abs(_response_db(ir, 4096) - curve)[band]) < 0.5


def test_flat_curve_gives_a_unit_impulse() -> None:
    ir = minimum_phase_from_magnitude(np.full(2049, 6.0), 64)
    expected = np.zeros(64)
    expected[0] = 10 ** (6 / 20)
    np.testing.assert_allclose(ir, expected, atol=1e-9)


def test_log_band_curve_interpolates_in_log_frequency_with_flat_ends() -> None:
    band_hz = np.array([100.0, 400.0, 1600.0])
    band_db = np.array([-6.0, 6.0, 0.0])
    n_fft = 96000  # 0.5 Hz bins so band frequencies fall on bins
    bins = log_band_curve_to_bins(band_db, band_hz, n_fft, SR)
    freqs = scipy.fft.rfftfreq(n_fft, 1.0 / SR)
    at = {
        f: bins[np.argmin(np.abs(freqs - f))]
        for f in (0.0, 50.0, 100.0, 200.0, 400.0, 1600.0, 8000.0)
    }
    assert at[0.0] == at[50.0] == pytest.approx(-6.0)
    assert at[100.0] == pytest.approx(-6.0)
    assert at[200.0] == pytest.approx(0.0)  # log-midpoint of 100 and 400 Hz
    assert at[400.0] == pytest.approx(6.0)
    assert at[1600.0] == at[8000.0] == pytest.approx(0.0)


def _smooth_loop(mag_db: np.ndarray, freqs: np.ndarray, fraction: float, domain: str) -> np.ndarray:
    """Plain-loop fractional-octave smoothing reference."""
    half = 2 ** (fraction / 2)
    first = freqs[freqs > 0][0]
    out = np.empty_like(mag_db)
    for i, f in enumerate(freqs):
        sel = (freqs >= f / half) & (freqs <= max(f, first) * half)
        sel[i] = True
        if domain == "power":
            out[i] = 10 * np.log10(np.mean(10 ** (mag_db[sel] / 10)))
        else:
            out[i] = np.mean(mag_db[sel])
    return out


@pytest.mark.parametrize("domain", ["power", "db"])
@pytest.mark.parametrize("fraction", [1 / 3, 1 / 6, 1 / 24])
def test_smoothing_matches_plain_loop(domain: str, fraction: float) -> None:
    freqs = scipy.fft.rfftfreq(1024, 1.0 / SR)
    mag = np.random.default_rng(1).normal(0.0, 10.0, freqs.size) - 60 * (freqs > 12000)
    got = smooth_log_spectrum(mag, freqs, fraction, domain=domain)  # type: ignore[arg-type]
    np.testing.assert_allclose(got, _smooth_loop(mag, freqs, fraction, domain), atol=1e-9)


def test_smoothing_keeps_constants_and_spreads_a_spike() -> None:
    freqs = scipy.fft.rfftfreq(4096, 1.0 / SR)
    np.testing.assert_allclose(smooth_log_spectrum(np.full(freqs.size, -12.0), freqs), -12.0)
    spike = np.zeros(freqs.size)
    spike[1000] = 20.0
    smoothed = smooth_log_spectrum(spike, freqs, 1 / 3)
    assert 0.0 < smoothed[1000] < 20.0
    assert smoothed[990] > 0.0 and smoothed[1010] > 0.0
    two_d = smooth_log_spectrum(np.stack([spike, spike]), freqs, 1 / 3)
    np.testing.assert_allclose(two_d[1], smoothed)


@pytest.mark.parametrize(
    "call",
    [
        lambda: minimum_phase_from_magnitude(np.array([0.0, np.nan, 0.0]), 8),
        lambda: minimum_phase_from_magnitude(np.zeros(33), 0),
        lambda: linear_phase_from_magnitude(np.zeros((2, 33)), 8),
        lambda: log_band_curve_to_bins(np.zeros(3), np.array([100.0, 50.0, 200.0]), 1024, SR),
        lambda: smooth_log_spectrum(np.zeros(10), np.arange(11.0)),
        lambda: smooth_log_spectrum(np.zeros(10), np.arange(10.0), 0.0),
    ],
)
def test_bad_parameters_raise_parameter_error(call: object) -> None:
    with pytest.raises(ParameterError):
        call()  # type: ignore[operator]
