"""Static match-EQ baseline: curve recovery, FIR application, level match."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from tonemorph.dsp.biquad import freq_response_db, high_shelf, low_shelf, peaking
from tonemorph.dsp.loudness import rms_db
from tonemorph.dsp.matcheq import (
    active_rms_db,
    apply_match_eq,
    long_term_spectrum_db,
    match_eq_curve_db,
    match_eq_fir,
)
from tonemorph.errors import AudioContentError, ParameterError

SR = 48000


def _noise(seconds: float, channels: int = 1, seed: int = 0) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal((channels, int(seconds * SR)))


@pytest.mark.parametrize(
    "sos",
    [
        peaking(1000.0, 8.0, 1.0, SR)[None, :],
        np.stack([low_shelf(200.0, -6.0, 0.7, SR), high_shelf(4000.0, 9.0, 0.7, SR)]),
    ],
)
def test_recovers_a_known_eq(sos: np.ndarray) -> None:
    x = _noise(8.0)
    y = 3.0 * scipy.signal.sosfilt(sos, x, axis=-1)
    freqs, curve = match_eq_curve_db(x, y, SR)
    truth = freq_response_db(sos, freqs, SR) + 20 * np.log10(3.0)
    band = (freqs >= 100.0) & (freqs <= 10000.0)
    assert np.max(np.abs(curve - truth)[band]) < 1.0


def test_unpaired_material_and_silence_gating() -> None:
    """x and y are different noises; y has long silences that must not bias its spectrum."""
    sos = peaking(3000.0, -9.0, 2.0, SR)[None, :]
    x = _noise(6.0, seed=1)
    y = scipy.signal.sosfilt(sos, _noise(6.0, seed=2), axis=-1)
    y = np.concatenate([np.zeros((1, 3 * SR)), y, np.zeros((1, 3 * SR))], axis=1)
    freqs, curve = match_eq_curve_db(x, y, SR)
    truth = freq_response_db(sos, freqs, SR)
    band = (freqs >= 100.0) & (freqs <= 10000.0)
    assert np.max(np.abs(curve - truth)[band]) < 1.0


def test_curve_is_clamped_around_the_level_difference() -> None:
    x = _noise(4.0)
    y = 1000.0 * scipy.signal.sosfilt(peaking(1000.0, 30.0, 1.0, SR)[None, :], x, axis=-1)
    freqs, curve = match_eq_curve_db(x, y, SR, max_gain_db=12.0)
    assert np.ptp(curve) <= 24.0 + 1e-9
    assert curve[np.argmin(np.abs(freqs - 1000.0))] == pytest.approx(curve.max())  # clipped peak
    # A 60 dB level offset leaves the unclipped shape intact (not pinned to +12 dB).
    truth_100 = 60.0 + freq_response_db(peaking(1000.0, 30.0, 1.0, SR), np.array([100.0]), SR)[0]
    assert curve[np.argmin(np.abs(freqs - 100.0))] == pytest.approx(truth_100, abs=1.0)


@pytest.mark.parametrize("phase", ["linear", "minimum"])
def test_apply_matches_spectrum_and_active_level(phase: str) -> None:
    sos = peaking(1500.0, 10.0, 1.5, SR)[None, :]
    x = _noise(5.0, channels=2, seed=3).astype(np.float32)
    y = 0.25 * scipy.signal.sosfilt(sos, _noise(5.0, seed=4), axis=-1)
    out = apply_match_eq(x, y, SR, n_taps=2048, phase=phase)  # type: ignore[arg-type]
    assert out.shape == x.shape and out.dtype == np.float32
    assert active_rms_db(out, SR) == pytest.approx(active_rms_db(y, SR), abs=0.01)
    freqs, residual = match_eq_curve_db(out, y, SR)
    band = (freqs >= 100.0) & (freqs <= 10000.0)
    assert np.max(np.abs(residual - np.mean(residual[band]))[band]) < 1.0


def test_identity_target_gives_back_the_input_without_delay() -> None:
    x = _noise(4.0)[0]
    out = apply_match_eq(x, x, SR)
    assert out.shape == x.shape
    core = slice(4096, -4096)
    err = rms_db(out[core] - x[core]) - rms_db(x[core])
    assert err < -30.0  # same signal, no latency, same level


def test_fir_lengths_and_phase() -> None:
    x, y = _noise(2.0, seed=5), _noise(2.0, seed=6)
    assert match_eq_fir(x, y, SR, n_taps=1001).shape == (1001,)
    ir = match_eq_fir(x, y, SR, n_taps=512, phase="minimum")
    assert np.argmax(np.abs(ir)) < 8


def test_long_term_spectrum_of_white_noise_is_flat() -> None:
    freqs, spec = long_term_spectrum_db(_noise(4.0, channels=2), SR, n_fft=1024)
    band = (freqs > 100) & (freqs < 20000)
    assert np.std(spec[band]) < 1.0


def test_silent_signal_raises_content_error() -> None:
    with pytest.raises(AudioContentError):
        match_eq_curve_db(_noise(1.0), np.zeros(SR), SR)


def test_bad_parameters_raise_parameter_error() -> None:
    x = _noise(1.0)
    with pytest.raises(ParameterError):
        match_eq_fir(x, x, SR, phase="mixed")  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        match_eq_curve_db(x, x, SR, max_gain_db=0.0)
    with pytest.raises(ParameterError):
        match_eq_fir(x, x, SR, n_taps=0)


def test_fit_match_eq_applies_the_fitted_curve_and_gain_to_a_new_take() -> None:
    """A match-EQ fitted on one noise take applies the same EQ and gain to another take."""
    import scipy.signal

    from tonemorph.dsp.biquad import peaking
    from tonemorph.dsp.matcheq import fit_match_eq

    sr = 48000
    rng = np.random.default_rng(3)
    x_fit = rng.standard_normal((1, sr * 8)) * 0.05
    x_new = rng.standard_normal((1, sr * 8)) * 0.05
    sos = peaking(1000.0, 9.0, 1.0, sr)[None]
    y = scipy.signal.sosfilt(sos, x_fit, axis=-1) * 2.0
    apply = fit_match_eq(x_fit, y, sr)
    out = apply(x_new)
    truth = scipy.signal.sosfilt(sos, x_new, axis=-1) * 2.0
    f, p_out = scipy.signal.welch(out[0], sr, nperseg=4096)
    _, p_truth = scipy.signal.welch(truth[0], sr, nperseg=4096)
    band = (f > 200) & (f < 8000)
    err_db = np.abs(10 * np.log10(p_out[band] / p_truth[band]))
    assert np.median(err_db) < 0.5
    assert abs(20 * np.log10(np.std(out) / np.std(truth))) < 0.5
