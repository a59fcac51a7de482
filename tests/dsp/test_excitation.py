"""Excitation and capture signals: closed-form sweep, noise levels, pluck pitch (autocorrelation),
capture-signal layout (blips where reported, peak, levels), distillation level coverage."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss

from tonemorph.dsp.excitation import (
    BLIP_LEVEL,
    capture_signal,
    chord,
    distill_excitation,
    log_sweep,
    noise_burst,
    pluck,
)

SR = 48000


def test_log_sweep_matches_closed_form() -> None:
    x = log_sweep(50.0, 5000.0, 1.0, SR, peak_dbfs=-6.0)
    t = np.arange(SR) / SR
    k = np.log(100.0)
    ref = 10 ** (-6 / 20) * np.sin(2 * np.pi * 50.0 / k * (np.exp(t * k) - 1))
    mid = slice(1000, SR - 1000)  # outside the 10 ms fades
    np.testing.assert_allclose(x[mid], ref[mid], atol=1e-6)
    assert np.max(np.abs(x)) <= 10 ** (-6 / 20) + 1e-6


@pytest.mark.parametrize("pink", [False, True])
def test_noise_burst_level(pink: bool) -> None:
    x = noise_burst(2.0, SR, -20.0, pink=pink, seed=1).astype(np.float64)
    rms_db = 10 * np.log10(np.mean(x[SR // 10: -SR // 10] ** 2))
    assert rms_db == pytest.approx(-20.0, abs=0.3)
    f, p = ss.welch(x, SR, nperseg=4096)
    lo, hi = p[(f > 100) & (f < 200)].mean(), p[(f > 6400) & (f < 12800)].mean()
    slope = 10 * np.log10(hi / lo) / 6  # dB per octave over 6 octaves
    assert slope == pytest.approx(-3.0 if pink else 0.0, abs=0.7)


@pytest.mark.parametrize("f0", [82.41, 196.0, 440.0])
def test_pluck_pitch(f0: float) -> None:
    x = pluck(f0, 0.5, SR, seed=2).astype(np.float64)
    seg = x[2000:12000]
    ac = np.correlate(seg, seg, "full")[len(seg) - 1:]
    lo = int(SR / (f0 * 1.5))
    lag = lo + int(np.argmax(ac[lo: int(SR / (f0 / 1.5))]))
    assert SR / lag == pytest.approx(f0, rel=0.02)
    env = [np.sqrt(np.mean(x[i: i + 2400] ** 2)) for i in (0, 12000)]
    assert env[1] < env[0]  # the string decays


def test_chord_has_its_notes() -> None:
    x = chord(110.0, (0, 7, 12), 1.0, SR, seed=3).astype(np.float64)
    f, p = ss.welch(x, SR, nperseg=1 << 15)
    for semis in (0, 7, 12):
        fn = 110.0 * 2 ** (semis / 12)
        near = (f > fn * 0.98) & (f < fn * 1.02)
        between = (f > fn * 1.03) & (f < fn * 1.05)
        assert p[near].max() > 30 * p[between].mean()


def test_capture_signal_layout() -> None:
    takes = [0.3 * np.sin(np.arange(SR) * 2 * np.pi * 110 / SR).astype(np.float32)]
    x, blips = capture_signal(SR, takes)
    assert x.dtype == np.float32 and x.ndim == 1
    assert len(blips) == 4 and blips[:2] == [SR // 2, SR]
    for b in blips:  # each blip alone in silence, so cross-correlation finds it
        assert x[b] == pytest.approx(BLIP_LEVEL)
        assert np.max(np.abs(x[b - SR // 4: b])) == 0 and np.max(np.abs(x[b + 1: b + SR // 4])) == 0
    assert np.max(np.abs(x)) <= 10 ** (-1 / 20) + 1e-6
    # quiet and loud material: 100 ms windows span more than 40 dB
    frames = x[: len(x) // 4800 * 4800].reshape(-1, 4800).astype(np.float64)
    rms = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)
    active = rms[rms > -90]
    assert np.percentile(active, 95) - np.percentile(active, 5) > 40
    assert 60 < len(x) / SR < 300
    x2, _ = capture_signal(SR, takes)
    np.testing.assert_array_equal(x, x2)  # deterministic


def test_distill_excitation_covers_the_dynamic_range() -> None:
    take = 0.5 * np.sin(np.arange(SR) * 2 * np.pi * 220 / SR).astype(np.float32)
    x = distill_excitation(SR, [take]).astype(np.float64)
    peak_db = 20 * np.log10(np.max(np.abs(x)))
    assert -1.5 < peak_db <= 0.0
    frames = x[: len(x) // 4800 * 4800].reshape(-1, 4800)
    peaks = 20 * np.log10(np.max(np.abs(frames), axis=1) + 1e-12)
    active = peaks[peaks > -80]
    assert active.min() < -40 and active.max() > -3
