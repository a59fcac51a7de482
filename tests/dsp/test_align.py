"""Latency detection: known integer and sub-sample offsets (positive, negative, beyond a block)
through filtering, distortion, noise and polarity inversion; refusal of unrelated files."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from signals import guitar_line, white_noise

from tonemorph.dsp.align import (
    align_pair,
    apply_lag,
    check_lengths,
    correlation_lag,
    detect_latency,
)
from tonemorph.errors import AudioContentError, ParameterError

SR = 48000


def _delay(x: np.ndarray, d: float) -> np.ndarray:
    """x delayed by d samples (negative: advanced), same length, by an FFT phase ramp."""
    n = len(x)
    f = np.fft.rfftfreq(2 * n)
    return np.fft.irfft(np.fft.rfft(x, 2 * n) * np.exp(-2j * np.pi * f * d), 2 * n)[:n]


def _gear(x: np.ndarray, polarity: float = 1.0) -> np.ndarray:
    """A crude amp: drive into tanh, band-limiting filter, hiss; causal."""
    sos = scipy.signal.butter(4, [100, 4000], "bandpass", fs=SR, output="sos")
    y = scipy.signal.sosfilt(sos, np.tanh(8 * x))
    return polarity * 0.3 * y + 0.01 * np.random.default_rng(1).standard_normal(len(y))


@pytest.fixture(scope="module")
def di() -> np.ndarray:
    return guitar_line(5.0, SR, seed=1)[0].astype(np.float64)


@pytest.fixture(scope="module")
def gear_lag(di: np.ndarray) -> int:
    """The gear's own delay (filter group delay at the peak) with no added latency."""
    return detect_latency(di, _gear(di), SR).lag_samples


@pytest.mark.parametrize("d", [0, 1, 37, 500, 5000, -3, -700, 30000])
def test_integer_offsets_through_gear(di: np.ndarray, gear_lag: int, d: int) -> None:
    # integer delays exactly: shifting the target by d must move the estimate by d
    y = np.roll(_gear(di), d)
    if d > 0:
        y[:d] = 0.0
    elif d < 0:
        y[d:] = 0.0
    al = detect_latency(di, y, SR)
    assert al.lag_samples == gear_lag + d
    assert al.confident
    assert al.lag_ms == pytest.approx(1000 * al.lag_samples / SR)


def test_gear_delay_is_small(di: np.ndarray, gear_lag: int) -> None:
    # the band-pass's group delay is a few samples, not a spurious periodic peak; the onset
    # (what is removed) comes no later than the correlation peak
    peak = detect_latency(di, _gear(di), SR).peak_samples
    assert 0 <= gear_lag <= peak < 30


@pytest.mark.parametrize("delay", [0, 64, 1500])
def test_onset_of_a_known_causal_response(di: np.ndarray, delay: int) -> None:
    # the response starts at `delay` but peaks later: the latency removed is the start, so a
    # causal model never has to predict the future. On white noise the start is exact; guitar
    # is so predictable from its past that the first, small tap may be missed by one sample.
    h = np.concatenate([np.zeros(delay), [0.15, 0.4, 0.7, 1.0, 0.5, -0.2, 0.1]])
    noise = white_noise(3.0, SR, seed=8)[0].astype(np.float64)
    al = detect_latency(noise, scipy.signal.lfilter(h, [1.0], np.tanh(4 * noise)), SR)
    assert al.lag_samples == delay and al.peak_samples > delay
    al = detect_latency(di, scipy.signal.lfilter(h, [1.0], np.tanh(4 * di)), SR)
    assert delay <= al.lag_samples <= delay + 1 and al.lag_samples <= al.peak_samples


@pytest.mark.parametrize("d", [0.25, 0.5, 12.75, -8.4])
def test_sub_sample_estimate(di: np.ndarray, d: float) -> None:
    y = 0.5 * _delay(di, d)
    al = detect_latency(di, y, SR)
    assert abs(al.peak_samples - d) < 1  # (a band-limited fractional delay has no start)
    assert al.lag_exact == pytest.approx(d, abs=0.15)
    assert al.correlation > 0.95  # a pure delay is perfectly correlated


def test_matches_brute_force_correlation_on_a_pure_delay() -> None:
    x = white_noise(1.0, SR, seed=4)[0].astype(np.float64)
    y = np.concatenate([np.zeros(123), x])[: len(x)]
    lags = np.arange(-300, 301)
    # plain loop: c[k] = sum_n y[n + k] x[n]
    brute = [np.dot(y[k:], x[: len(x) - k]) if k >= 0 else np.dot(y[:k], x[-k:]) for k in lags]
    expected = int(lags[np.argmax(brute)])
    assert detect_latency(x, y, SR).lag_samples == expected == 123


def test_polarity_inversion_found(di: np.ndarray) -> None:
    # the hiss is not inverted with the signal, so compare sub-sample estimates
    exact = detect_latency(di, _gear(di), SR).lag_exact
    al = detect_latency(di, np.roll(_gear(di, polarity=-1.0), 250), SR)
    assert al.polarity == -1 and al.lag_exact == pytest.approx(exact + 250, abs=0.5)
    assert detect_latency(di, _gear(di), SR).polarity == 1


def test_gain_does_not_matter(di: np.ndarray, gear_lag: int) -> None:
    for g in (1e-3, 1.0, 30.0):
        assert detect_latency(di, g * _gear(di), SR).lag_samples == gear_lag


def test_align_pair_trims_to_aligned_common_part(di: np.ndarray) -> None:
    y = np.concatenate([np.zeros(321), 0.7 * di])
    xa, ya, al = align_pair(di, y, SR)
    assert al.lag_samples == 321 and len(xa) == len(ya) == len(di)
    np.testing.assert_allclose(ya, 0.7 * xa.astype(np.float32), atol=1e-6)
    # negative: the target starts before the input
    xa, ya, al = align_pair(np.concatenate([np.zeros(200), di]), di, SR)
    assert al.lag_samples == -200
    np.testing.assert_allclose(ya, xa, atol=1e-7)


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_unrelated_performances_refused(di: np.ndarray, seed: int) -> None:
    # same generator, same pitch range, same tempo feel: only the notes differ
    other = guitar_line(5.0, SR, seed=seed)[0]
    assert not detect_latency(di, _gear(other), SR).confident
    with pytest.raises(AudioContentError, match="do not look like the same performance"):
        align_pair(di, _gear(other), SR)


def test_noise_refused(di: np.ndarray) -> None:
    with pytest.raises(AudioContentError, match="same performance"):
        align_pair(di, white_noise(5.0, SR, seed=3)[0], SR)


def test_very_different_lengths_refused(di: np.ndarray) -> None:
    with pytest.raises(AudioContentError, match="same performance.*long"):
        align_pair(di, di[: len(di) // 3], SR)
    check_lengths(100, 80, SR)  # a little longer or shorter is normal


def test_bad_arguments() -> None:
    x = white_noise(1.0, SR)[0]
    with pytest.raises(AudioContentError, match="silent"):
        detect_latency(x, np.zeros_like(x), SR)
    with pytest.raises(AudioContentError, match="long"):
        detect_latency(x[:100], x[:100], SR)
    with pytest.raises(ParameterError):
        detect_latency(x, x, SR, max_lag_ms=-1)
    with pytest.raises(ParameterError, match="1-D"):
        detect_latency(np.stack([x, x]), x, SR)


def test_a_lag_just_outside_the_range_is_refused_with_the_reason() -> None:
    # a held low note correlates with itself a period apart: a pair lined up 83 ms apart must
    # not lock onto a sidelobe inside ±50 ms, and the refusal says why
    x = guitar_line(6.0, SR, seed=2)[0].astype(np.float64)
    y = np.concatenate([np.zeros(4000), np.tanh(10 * x)])
    al = detect_latency(x, y, SR, max_lag_ms=50)
    assert not al.confident and not al.in_range and al.lag_samples == 4000
    with pytest.raises(AudioContentError, match=r"\+83 ms off the input, outside the ±50 ms"):
        align_pair(x, y, SR, max_lag_ms=50)
    assert detect_latency(x, y, SR, max_lag_ms=100).confident


@pytest.mark.parametrize("d", [0, 57, -31])
def test_correlation_lag_matches_a_plain_loop(d: int) -> None:
    # the plain correlation metrics.align uses: signed peak of sum y[n + k] x[n] within ±max_lag
    rng = np.random.default_rng(6)
    x = rng.standard_normal(2000)
    y = np.roll(x, d) + 0.5 * rng.standard_normal(2000)
    lags = np.arange(-80, 81)
    brute = [np.dot(y[k:], x[: len(x) - k]) if k >= 0 else np.dot(y[:k], x[-k:]) for k in lags]
    assert correlation_lag(x, y, 80) == int(lags[np.argmax(brute)]) == d
    assert correlation_lag(x, -y, 80) != d  # signed: an inverted copy is not a match
    with pytest.raises(ParameterError):
        correlation_lag(x, y, -1)


@pytest.fixture(scope="module")
def long_reamp() -> tuple[np.ndarray, np.ndarray]:
    """40 s of DI and its reamp through `_gear`, 100 samples late, on one clock."""
    x = guitar_line(40.0, SR, seed=7)[0].astype(np.float64)
    return x, np.concatenate([np.zeros(100), _gear(x)])


@pytest.mark.parametrize("ppm", [20.0, -30.0, 50.0])
def test_a_reamp_on_another_clock_is_resampled_onto_the_di_s(long_reamp, ppm: float) -> None:
    # two interfaces' clocks a few ppm apart: 20 ppm moved the lag 11.5 samples over 12 s
    # unnoticed (held-out ESR 0.60 -> 1.18); at 50 ppm over 40 s too few parts agreed and
    # the pair was refused as "not the same performance"
    import soxr

    from tonemorph.dsp.align import clock_drift, resample_drift
    from tonemorph.learn.paired import warn_clock_drift

    x, y = long_reamp
    drifted = soxr.resample(y, SR, SR * (1 + ppm * 1e-6), quality="VHQ")
    xa, ya, al = align_pair(x, drifted, SR)
    # to within what a lag moving under 2 samples from end to end leaves (1.4 ppm over 30 s)
    assert al.drift_ppm == pytest.approx(ppm, abs=1.5)
    assert abs(al.lag_samples - align_pair(x, y, SR)[2].lag_samples) <= 1
    assert clock_drift(xa, ya, SR) is None  # the two ends now agree
    # the drift recorded is the one the aligned pair was resampled by; the capture paths say so
    fixed = resample_drift(drifted, SR, al.drift_ppm * 1e-6)
    fx, fy = apply_lag(x, fixed, al.lag_samples)
    np.testing.assert_allclose(fy, ya, atol=1e-5)
    sign = "+" if ppm > 0 else "-"
    with pytest.warns(UserWarning, match=rf"clock runs \{sign}\d+\.\d ppm against the DI's"):
        warn_clock_drift(al)


def test_a_reamp_on_the_same_clock_is_left_as_it_is(long_reamp) -> None:
    x, y = long_reamp
    xa, ya, al = align_pair(x, y, SR)
    assert al.drift_ppm == 0.0 and al.lag_samples >= 100
    np.testing.assert_array_equal(ya, apply_lag(x, y, al.lag_samples)[1])
