"""`tonemorph.dsp.noise`: a recording's steady noise floor, against white noise of known power."""

from __future__ import annotations

import numpy as np
import pytest

from tonemorph.dsp.noise import FLOOR_SHARE, noise_floor_power, without_noise

SR = 48000
N_FFT, HOP = 4096, 1024
WINDOW = np.hanning(N_FFT)


def _bursts(seconds: float, seed: int) -> np.ndarray:
    """Loud 220 Hz bursts (0.5 s) with 0.5 s of digital silence between them."""
    t = np.arange(int(seconds * SR)) / SR
    on = (t % 1.0) < 0.5
    return (0.3 * np.sin(2 * np.pi * 220.0 * t) * on).astype(np.float32)


def test_the_floor_of_white_noise_between_notes_is_its_power() -> None:
    sigma = 10 ** (-60 / 20)
    x = _bursts(20.0, 0) + sigma * np.random.default_rng(1).standard_normal(20 * SR)
    floor = noise_floor_power(x.astype(np.float32), N_FFT, HOP, WINDOW)
    # white noise: E|rfft(frame * w)|^2 = sigma^2 * sum(w^2) in every bin
    expected = sigma**2 * np.sum(WINDOW**2)
    assert np.mean(floor[50:-50]) == pytest.approx(expected, rel=0.05)


def test_digital_silence_and_notes_ending_in_it_have_no_floor() -> None:
    # gaps of digital silence: nothing to measure
    assert not noise_floor_power(_bursts(10.0, 0), N_FFT, HOP, WINDOW).any()
    # notes fading for 1 s, then cut to silence: their quietest frames are the notes' ends,
    # spread over 15 dB (frames holding less and less of the tail), no steady floor
    t = np.arange(20 * SR) / SR
    phase = t % 2.0
    notes = 0.3 * np.sin(2 * np.pi * 220.0 * t) * np.exp(-5.0 * phase) * (phase < 1.0)
    assert not noise_floor_power(notes.astype(np.float32), N_FFT, HOP, WINDOW).any()
    # too short for one frame
    assert not noise_floor_power(np.ones(100, np.float32), N_FFT, HOP, WINDOW).any()


def test_without_noise_takes_the_floor_off_and_keeps_a_share() -> None:
    power = np.array([10.0, 2.0, 1.0, 0.5])
    out = without_noise(power, 1.0)
    np.testing.assert_allclose(out, [9.0, 1.0, FLOOR_SHARE * 1.0, FLOOR_SHARE * 0.5])
    np.testing.assert_array_equal(without_noise(power, 0.0), power)  # no floor: unchanged


def test_frames_must_tile_the_hop() -> None:
    with pytest.raises(ValueError, match="multiple of hop"):
        noise_floor_power(np.zeros(SR, np.float32), 4096, 1000, WINDOW)
