"""True-peak limiter: ceiling never exceeded (4x resample_poly, independently), exact gain on
known signals, look-ahead latency, block == offline over awkward block sizes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from signals import plucked_notes, sine, white_noise

from tonemorph.dsp.limiter import LimiterConfig, TruePeakLimiter, interval_peaks, limit
from tonemorph.dsp.units import one_pole_coef
from tonemorph.errors import ParameterError

SR = 44100


def true_peak_db(x: np.ndarray, factor: int = 4) -> float:
    up = scipy.signal.resample_poly(np.atleast_2d(x), factor, 1, axis=-1)
    return 20 * np.log10(max(np.max(np.abs(up)), np.max(np.abs(x))))


def spiky_noise(seconds: float = 2.0) -> np.ndarray:
    x = white_noise(seconds, SR, amplitude=0.4, channels=2, seed=3).astype(np.float64)
    x[:, ::997] *= 6.0  # isolated spikes far above the ceiling
    return x


def nyquist_sines() -> np.ndarray:
    # fs/4 sine at 45 degrees: samples at 0.707, true peak 1.0 (3 dB of inter-sample overshoot)
    return np.tile(sine(SR / 4, 1.0, SR, amplitude=1.4, phase_rad=np.pi / 4), (2, 1))


@pytest.mark.parametrize("ceiling", [-1.0, -3.0, -0.1])
@pytest.mark.parametrize("make", [spiky_noise, nyquist_sines,
                                  lambda: 4.0 * plucked_notes(2.0, SR, channels=2, seed=1)])
def test_never_exceeds_the_ceiling(make, ceiling: float) -> None:
    x = make()
    assert true_peak_db(x) > ceiling + 3.0  # the signal needs limiting
    y = limit(x, SR, LimiterConfig(ceiling_dbtp=ceiling))
    assert true_peak_db(y) <= ceiling + 1e-9


def test_the_project_meter_agrees() -> None:
    from tonemorph.dsp.loudness import true_peak_dbtp

    y = limit(spiky_noise(), SR, LimiterConfig(ceiling_dbtp=-2.0))
    assert true_peak_dbtp(y, SR) <= -2.0


def test_quiet_signal_passes_unchanged_and_latency_is_compensated() -> None:
    x = plucked_notes(1.0, SR, amplitude=0.3, channels=2, seed=2).astype(np.float64)
    y = limit(x, SR)
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-12)
    lim = TruePeakLimiter(SR, 2)
    raw = np.concatenate([lim.process(x), lim.flush()], axis=1)
    np.testing.assert_allclose(raw[:, lim.latency :], x, atol=1e-12)
    assert np.all(raw[:, : lim.latency] == 0)
    assert lim.latency == lim.attack - 1 + 8 + 10  # attack, guard, half the interpolator


def test_gain_reduction_on_a_steady_sine() -> None:
    amp_db, ceiling = 0.0, -6.0
    x = sine(100.0, 1.0, SR, amplitude=10 ** (amp_db / 20))  # low frequency: true = sample peak
    cfg = LimiterConfig(ceiling_dbtp=ceiling, margin_db=0.0)
    y = limit(x, SR, cfg)
    steady = y[:, SR // 4 :]
    np.testing.assert_allclose(np.max(np.abs(steady)), 10 ** (ceiling / 20), rtol=1e-3)
    # the gain is static, so the waveform is the input scaled: no distortion
    np.testing.assert_allclose(steady, x[:, SR // 4 :] * 10 ** ((ceiling - amp_db) / 20),
                               atol=2e-3)
    lim = TruePeakLimiter(SR, 1, cfg)
    lim.process(x)
    assert lim.max_gain_reduction_db == pytest.approx(amp_db - ceiling, abs=0.05)


def test_look_ahead_starts_the_gain_before_a_loud_onset() -> None:
    n = SR // 2
    x = np.full((1, n), 0.1)
    x[:, n // 2 :] = 0.9  # a step from -20 dBFS to -1 dBFS
    cfg = LimiterConfig(ceiling_dbtp=-6.0, lookahead_ms=2.0, margin_db=0.0)
    y = limit(x, SR, cfg)
    gain = y[0] / x[0]
    onset = n // 2
    assert gain[onset - 200] == pytest.approx(1.0)  # untouched well before
    assert gain[onset - 5] < 0.9  # already reducing just before the onset
    assert np.max(np.abs(y)) <= 10 ** (-6 / 20) + 1e-12


def test_release_recovers_after_a_peak() -> None:
    x = np.full((1, SR), 0.05)
    x[0, 1000] = 1.0  # a single click
    cfg = LimiterConfig(ceiling_dbtp=-12.0, release_ms=50.0, margin_db=0.0)
    y = limit(x, SR, cfg)
    gain = y[0] / x[0]
    # the detector reads an isolated click 0.0056 dB high (phase 0 of the interpolator)
    assert gain[1000] == pytest.approx(10 ** (-12 / 20), rel=1e-3)
    after = int(1000 + 5 * 0.05 * SR)
    assert gain[after] > 0.99  # five release time constants later


def reference_gain(x: np.ndarray, cfg: LimiterConfig, lim: TruePeakLimiter) -> np.ndarray:
    """The limiter's gain per sample by its definition, window by window (no deque)."""
    peaks = interval_peaks(x)
    env = np.maximum(peaks, np.concatenate([[0.0], peaks[:-1]]))
    ceiling = 10 ** ((cfg.ceiling_dbtp - cfg.margin_db) / 20)
    g_req = np.where(env <= ceiling, 1.0, ceiling / np.maximum(env, 1e-300))
    # hold: the minimum over the last `hold` samples (unity before the first)
    padded = np.concatenate([np.ones(lim.hold - 1), g_req])
    g_hold = np.lib.stride_tricks.sliding_window_view(padded, lim.hold).min(axis=1)
    a = one_pole_coef(cfg.release_ms, SR)
    g_rel = np.empty_like(g_hold)
    prev = 1.0
    for i, h in enumerate(g_hold):
        prev = min(h, a * prev + (1 - a) * h)
        g_rel[i] = prev
    box = np.concatenate([np.ones(lim.attack - 1), g_rel])
    return np.minimum(np.lib.stride_tricks.sliding_window_view(box, lim.attack).mean(axis=1),
                      1.0)


@pytest.mark.parametrize("freq_hz", [40.0, 1000.0])
def test_gain_follows_its_definition_on_long_falling_peaks(freq_hz: float) -> None:
    # a loud 40 Hz sine falls for 275 samples from each crest, far longer than the 82-sample
    # hold: every sample of the fall needs more gain than the one before, the case where a
    # sliding-minimum queue fills up
    cfg = LimiterConfig(ceiling_dbtp=-6.0)
    x = sine(freq_hz, 0.3, SR, amplitude=4.0).astype(np.float64)
    lim = TruePeakLimiter(SR, 1, cfg)
    y = np.concatenate([lim.process(x), lim.flush()], axis=1)[:, lim.latency :]
    # sample j leaves with the gain of step j + latency (the look-ahead)
    gain = reference_gain(np.pad(x, ((0, 0), (0, lim.latency))), cfg, lim)[lim.latency :]
    np.testing.assert_allclose(y[0], gain * x[0], rtol=1e-9, atol=1e-12)
    assert true_peak_db(y) <= -6.0 + 1e-9


@pytest.mark.parametrize("block", [1, 64, 65, 128, 8192, 8193])
def test_block_equals_offline(block: int) -> None:
    seconds = 0.3 if block == 1 else 1.0
    x = 3.0 * plucked_notes(seconds, SR, channels=2, seed=4).astype(np.float64)
    lim = TruePeakLimiter(SR, 2)
    offline = np.concatenate([lim.process(x), lim.flush()], axis=1)
    lim2 = TruePeakLimiter(SR, 2)
    parts = [lim2.process(x[:, i : i + block]) for i in range(0, x.shape[1], block)]
    streamed = np.concatenate(parts + [lim2.flush()], axis=1)
    np.testing.assert_array_equal(streamed, offline)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ParameterError, match="ceiling"):
        LimiterConfig(ceiling_dbtp=1.0)
    with pytest.raises(ParameterError, match="lookahead"):
        LimiterConfig(lookahead_ms=0.0)
    with pytest.raises(ParameterError, match="channels"):
        TruePeakLimiter(SR, 0)
    with pytest.raises(ParameterError, match="shape|NaN"):
        TruePeakLimiter(SR, 2).process(np.zeros((1, 10)))
