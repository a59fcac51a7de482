"""Metrics: alignment, MR-STFT (vs an auraloss-style torch reference), level bins, pitch."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from tonemorph import metrics
from tonemorph.dsp.biquad import lowpass, peaking
from tonemorph.errors import ParameterError
from tonemorph.metrics import pitch as metrics_pitch

SR = 48000


def _noise(seconds: float, channels: int = 1, seed: int = 0) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal((channels, int(seconds * SR)))


def _harmonic_tone(f0_hz: float, seconds: float, sr: int = SR, n_harmonics: int = 10) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return 0.3 * sum(
        np.sin(2 * np.pi * f0_hz * k * t + 0.3 * k) / k for k in range(1, n_harmonics + 1)
    )


def _auraloss_mrstft(est: np.ndarray, ref: np.ndarray) -> float:
    """auraloss MultiResolutionSTFTLoss (ln |X|, power clamp 1e-8) written with torch.stft."""
    torch = pytest.importorskip("torch")
    total = 0.0
    for n_fft in (512, 1024, 2048):
        window = torch.hann_window(n_fft, dtype=torch.float64)

        def mag(v: np.ndarray, n_fft: int = n_fft, window: object = window) -> object:
            spec = torch.stft(
                torch.from_numpy(v), n_fft, n_fft // 4, n_fft, window, return_complex=True
            )
            return torch.sqrt(torch.clamp(spec.real**2 + spec.imag**2, min=1e-8))

        m_est, m_ref = mag(est), mag(ref)
        sc = torch.linalg.norm(m_ref - m_est) / torch.linalg.norm(m_ref)
        log_l1 = torch.mean(torch.abs(torch.log(m_ref) - torch.log(m_est)))
        total += float(sc + log_l1)
    return total / 3


# ----------------------------------------------------------------------------- MR-STFT


def test_mrstft_is_zero_for_identical_signals_and_grows_with_eq() -> None:
    x = _noise(2.0, channels=2)
    assert metrics.mrstft_distance(x, x, SR) == pytest.approx(0.0, abs=1e-6)
    distances = [
        metrics.mrstft_distance(scipy.signal.sosfilt(peaking(2000.0, g, 1.0, SR), x), x, SR)
        for g in (1.0, 3.0, 6.0, 12.0)
    ]
    assert all(a < b for a, b in zip(distances[:-1], distances[1:], strict=True))


def test_mrstft_matches_auraloss_formula() -> None:
    ref = _noise(1.3, channels=2, seed=1)
    est = 0.7 * scipy.signal.sosfilt(peaking(500.0, 6.0, 0.7, SR), ref) + 0.01 * _noise(1.3, 2, 2)
    expected = _auraloss_mrstft(est, ref)
    assert metrics.mrstft_distance(est, ref, SR) == pytest.approx(expected, rel=1e-4)
    # Also with a silent stretch, where the magnitude floor matters.
    est[:, :20000] = 0.0
    assert metrics.mrstft_distance(est, ref, SR) == pytest.approx(
        _auraloss_mrstft(est, ref), rel=1e-4
    )


def test_mismatched_channel_counts_compare_mono_sums() -> None:
    x = _noise(1.0, channels=2)
    mono = x.mean(axis=0)
    assert metrics.mrstft_distance(x, mono, SR) == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------- align


@pytest.mark.parametrize("lag", [0, 37, -123, 2000, -2399])
def test_align_recovers_a_known_lag(lag: int) -> None:
    ref = _noise(1.0, channels=2, seed=3)
    if lag >= 0:
        est = np.concatenate([np.zeros((2, lag)), ref], axis=1)  # est is late
    else:
        est = ref[:, -lag:]  # est is early
    est_a, ref_a, found = metrics.align(est, ref, SR)
    assert found == lag
    assert est_a.shape == ref_a.shape
    np.testing.assert_allclose(est_a, ref_a[:, : est_a.shape[1]], atol=1e-12)


def test_align_keeps_1d_shape_and_respects_max_lag() -> None:
    ref = _noise(1.0, seed=4)[0]
    est = np.concatenate([np.zeros(3000), ref])  # 62.5 ms, beyond the default ±50 ms
    _, _, found = metrics.align(est, ref, SR)
    assert abs(found) <= 2400
    est_a, ref_a, found = metrics.align(est, ref, SR, max_lag_ms=100.0)
    assert found == 3000 and est_a.ndim == 1 and ref_a.ndim == 1


# ----------------------------------------------------------------------------- score


def test_score_of_identical_signals_is_zero() -> None:
    x = _noise(2.0, channels=2)
    result = metrics.score(x, x, SR)
    for key in ("mrstft", "mrstft_best_gain", "logmel_db", "level_binned_db"):
        assert result[key] == pytest.approx(0.0, abs=1e-6)
    assert result["lufs_err"] == pytest.approx(0.0, abs=1e-9)
    assert result["crest_err_db"] == pytest.approx(0.0, abs=1e-9)
    assert result["lag_samples"] == 0


def test_score_aligns_and_best_gain_removes_level_error() -> None:
    x = _noise(2.0, seed=5)
    late_quiet = 0.5 * np.concatenate([np.zeros((1, 100)), x], axis=1)
    result = metrics.score(late_quiet, x, SR)
    assert result["lag_samples"] == 100
    assert result["lufs_err"] == pytest.approx(-6.02, abs=0.01)
    assert result["mrstft"] > 0.5
    assert result["mrstft_best_gain"] == pytest.approx(0.0, abs=1e-4)
    assert result["logmel_db"] == pytest.approx(6.02, abs=0.05)


# ----------------------------------------------------------------------------- level bins


def _louder_is_brighter(seconds_per_burst: float = 0.5) -> np.ndarray:
    """Noise bursts whose low-pass cutoff rises with their level, in shuffled order."""
    rng = np.random.default_rng(7)
    bursts = []
    for level_db, cutoff_hz in ((-40, 500.0), (-30, 1500.0), (-20, 4000.0), (-10, 12000.0)):
        for _ in range(3):
            noise = rng.standard_normal(int(seconds_per_burst * SR))
            noise = scipy.signal.sosfilt(lowpass(cutoff_hz, 0.7, SR), noise)
            bursts.append(noise / np.sqrt(np.mean(noise**2)) * 10 ** (level_db / 20))
    order = rng.permutation(len(bursts))
    return np.concatenate([bursts[i] for i in order])


def _centroid_hz(mel_freqs: np.ndarray, spectra_db: np.ndarray) -> np.ndarray:
    power = 10 ** (spectra_db / 10)
    return (power * mel_freqs).sum(axis=1) / power.sum(axis=1)


def test_level_binned_spectra_brighten_with_level() -> None:
    x = _louder_is_brighter()
    mel_freqs, spectra, edges = metrics.level_binned_spectra(x, SR, n_bins=4)
    assert spectra.shape == (4, mel_freqs.size) and edges.shape == (5,)
    assert np.all(np.diff(edges) >= 0)
    centroids = _centroid_hz(mel_freqs, spectra)
    assert np.all(np.diff(centroids) > 0)


def test_level_binned_spectra_with_external_levels() -> None:
    x = _louder_is_brighter()
    levels = metrics.frame_levels_db(x, SR)
    _, own, _ = metrics.level_binned_spectra(x, SR)
    _, given, _ = metrics.level_binned_spectra(x, SR, ref_levels=levels)
    np.testing.assert_allclose(given, own)
    # Binning by reversed levels reverses the brightness order.
    _, flipped, _ = metrics.level_binned_spectra(x, SR, ref_levels=-levels)
    assert np.all(np.diff(_centroid_hz(np.linspace(1, 2, 64), flipped)) < 0)
    with pytest.raises(ParameterError):
        metrics.level_binned_spectra(x, SR, ref_levels=levels[:-1])


def test_level_binned_error_paired_and_unpaired() -> None:
    x = _louder_is_brighter()
    assert metrics.level_binned_error_db(x, x, SR, paired=True) == pytest.approx(0.0, abs=1e-9)
    assert metrics.level_binned_error_db(x, x, SR, paired=False) == pytest.approx(0.0, abs=1e-9)
    # A 6 dB gain shifts every bin by 6 dB in both modes (broadband noise: no bin at the floor).
    env = np.repeat(10 ** (np.random.default_rng(8).uniform(-30, 0, 40) / 20), SR // 10)
    y = _noise(4.0, seed=8)[0] * env
    assert metrics.level_binned_error_db(2 * y, y, SR, paired=False) == pytest.approx(
        6.02, abs=0.02
    )
    assert metrics.level_binned_error_db(2 * y, y, SR, paired=True, inp=y) == pytest.approx(
        6.02, abs=0.02
    )
    # Unpaired: a time-reversed copy has the same level-binned spectra.
    assert metrics.level_binned_error_db(x[::-1], x, SR, paired=False) < 0.5


def test_level_binned_error_below_fmax() -> None:
    # a 12 dB shelf above 4 kHz is all the difference: below 3 kHz there is none
    x = _noise(4.0, seed=9)[0]
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(x.size, 1 / SR) > 4000.0] *= 10 ** (-12 / 20)
    y = np.fft.irfft(spec, x.size)
    assert metrics.level_binned_error_db(y, x, SR, paired=True) > 2.0
    assert metrics.level_binned_error_db(y, x, SR, paired=True, fmax_hz=3000.0) < 0.05
    with pytest.raises(ParameterError):
        metrics.level_binned_error_db(y, x, SR, paired=False, fmax_hz=1.0)


# ----------------------------------------------------------------------------- pitch


def test_tracker_finds_220_hz_within_5_cents() -> None:
    f0, aperiodicity = metrics.track_f0(_harmonic_tone(220.0, 2.0), SR)
    voiced = np.isfinite(f0)
    assert voiced.mean() > 0.95
    cents = 1200 * np.log2(f0[voiced] / 220.0)
    assert np.max(np.abs(cents)) < 5.0
    assert np.all(aperiodicity[voiced] < 0.1)


@pytest.mark.parametrize(("f0_hz", "sr"), [(82.41, 44100), (440.0, 48000), (1000.0, 96000)])
def test_tracker_across_range_and_rates(f0_hz: float, sr: int) -> None:
    f0, _ = metrics.track_f0(_harmonic_tone(f0_hz, 1.0, sr=sr, n_harmonics=5), sr)
    assert np.nanmax(np.abs(1200 * np.log2(f0 / f0_hz))) < 5.0


def test_tracker_marks_silence_and_noise_unvoiced() -> None:
    f0, _ = metrics.track_f0(np.zeros(SR), SR)
    assert np.all(np.isnan(f0))
    f0, _ = metrics.track_f0(_noise(1.0, seed=9), SR)
    assert np.mean(np.isfinite(f0)) < 0.1


def test_octave_folding() -> None:
    folded = metrics_pitch._fold_cents(np.array([0.0, 1200.0, -1200.0, 2390.0, 610.0, -610.0]))
    np.testing.assert_allclose(folded, [0.0, 0.0, 0.0, -10.0, -590.0, 590.0])


def test_pitch_error_of_distortion_octave_and_detune() -> None:
    tone = _harmonic_tone(220.0, 2.0)
    clipped = metrics.pitch_cents_error(np.tanh(8 * tone), tone, SR)
    assert clipped["median_abs_cents"] < 5.0
    assert clipped["pct_within_50"] == pytest.approx(100.0)
    assert clipped["tracker_self_agreement"] == pytest.approx(100.0)
    octave = metrics.pitch_cents_error(_harmonic_tone(440.0, 2.0), tone, SR)
    assert octave["median_abs_cents"] < 5.0  # folded
    detuned = metrics.pitch_cents_error(_harmonic_tone(220.0 * 2 ** (30 / 1200), 2.0), tone, SR)
    assert detuned["median_abs_cents"] == pytest.approx(30.0, abs=2.0)
    silent = metrics.pitch_cents_error(np.zeros(SR), tone[:SR], SR, align_first=False)
    assert silent["n_frames"] == 0 and np.isnan(silent["median_abs_cents"])
