"""Loudness (BS.1770), true peak, RMS, crest factor and frame levels."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyloudnorm
import pytest

from tonemorph.dsp.loudness import (
    DB_FLOOR,
    LUFS_FLOOR,
    active_frames,
    crest_factor_db,
    frame_rms_db,
    integrated_lufs,
    peak_over_rms_db,
    rms_db,
    true_peak_dbtp,
)
from tonemorph.errors import AudioContentError, ParameterError

SR = 48000


def _sine(freq_hz: float, seconds: float, sr: int = SR, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return np.sin(2 * np.pi * freq_hz * t + phase)


def test_full_scale_997_hz_sine_is_minus_3_lufs() -> None:
    sine = _sine(997.0, 5.0)
    assert integrated_lufs(sine, SR) == pytest.approx(-3.01, abs=0.1)
    # Two identical channels add 3 dB.
    assert integrated_lufs(np.stack([sine, sine]), SR) == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("sr", [22050, 44100, 48000, 96000])
@pytest.mark.parametrize("seconds", [0.4, 0.77, 6.3])
def test_integrated_lufs_equals_pyloudnorm(sr: int, seconds: float) -> None:
    rng = np.random.default_rng(sr)
    x = rng.standard_normal((2, int(math.ceil(seconds * sr)))) * 0.1
    x[:, : x.shape[1] // 3] *= 0.02  # a quiet start exercises the relative gate
    x[1] *= 0.5
    expected = pyloudnorm.Meter(sr).integrated_loudness(x.T)
    assert integrated_lufs(x, sr) == pytest.approx(expected, abs=1e-6)
    assert integrated_lufs(x[0], sr) == pytest.approx(
        pyloudnorm.Meter(sr).integrated_loudness(x[0]), abs=1e-6
    )


def test_silence_and_short_audio() -> None:
    assert integrated_lufs(np.zeros((2, SR)), SR) == LUFS_FLOOR
    assert integrated_lufs(np.full(SR, 1e-6), SR) == LUFS_FLOOR  # below the absolute gate
    with pytest.raises(AudioContentError):
        integrated_lufs(np.ones(100), SR)
    assert rms_db(np.zeros(10)) == DB_FLOOR
    assert true_peak_dbtp(np.zeros((1, 100)), SR) == DB_FLOOR


def test_true_peak_finds_intersample_peak() -> None:
    sine = _sine(SR / 4, 1.0, phase=np.pi / 4)  # samples at ±0.707, true peak 1.0
    sine *= np.minimum(1.0, np.minimum(np.arange(sine.size), np.arange(sine.size)[::-1]) / 2000)
    sample_peak_db = 20 * np.log10(np.max(np.abs(sine)))
    assert sample_peak_db == pytest.approx(-3.01, abs=0.01)
    tp = true_peak_dbtp(sine, SR)
    assert tp == pytest.approx(0.0, abs=0.1)
    assert tp - sample_peak_db == pytest.approx(3.01, abs=0.1)
    # Max over channels.
    assert true_peak_dbtp(np.stack([0.5 * sine, sine]), SR) == pytest.approx(tp)


def test_rms_and_crest_factor_of_a_sine() -> None:
    sine = _sine(1000.0, 2.0)
    assert rms_db(sine) == pytest.approx(-3.0103, abs=1e-3)
    assert crest_factor_db(sine, SR) == pytest.approx(3.0103, abs=1e-3)
    padded = np.concatenate([np.zeros(3 * SR), sine, np.zeros(3 * SR)])
    assert crest_factor_db(padded, SR) == pytest.approx(3.0103, abs=0.01)  # gated
    ungated = crest_factor_db(padded, SR, gated=False)
    assert ungated == pytest.approx(3.0103 + 10 * np.log10(4.0), abs=0.01)


@pytest.mark.parametrize(("frame", "hop"), [(2048, 512), (1, 1), (64, 65), (4800, 4800), (7, 3)])
@pytest.mark.parametrize("n", [1, 64, 8193])
def test_frame_rms_matches_plain_loop(frame: int, hop: int, n: int) -> None:
    x = np.random.default_rng(n).standard_normal((2, n)) * np.linspace(1e-4, 1.0, n)
    power = np.mean(x**2, axis=0)
    if power.size < frame:
        power = np.pad(power, (0, frame - power.size))
    expected = [
        10 * np.log10(np.mean(power[i : i + frame])) for i in range(0, power.size - frame + 1, hop)
    ]
    np.testing.assert_allclose(frame_rms_db(x, frame, hop), expected, atol=1e-9)
    np.testing.assert_allclose(frame_rms_db(x.astype(np.float32), frame, hop), expected, atol=1e-4)


def test_frame_rms_resolves_quiet_frames_after_loud_ones() -> None:
    x = np.concatenate([np.ones(SR), np.full(4096, 1e-5)])
    levels = frame_rms_db(x, 1024, 256)
    assert levels[-1] == pytest.approx(-100.0, abs=1e-6)


def test_active_frames_gates() -> None:
    levels = np.array([-90.0, -65.0, -20.0, -10.0, -55.0])
    # Power mean of the frames above -70 dBFS is -15.6 dB, so the relative gate is at -55.6 dB.
    assert active_frames(levels).tolist() == [False, False, True, True, True]
    assert active_frames(levels, relative_db=-20.0).tolist() == [False, False, True, True, False]
    assert not np.any(active_frames(np.full(4, -100.0)))


@pytest.mark.parametrize(
    "call",
    [
        lambda: rms_db(np.zeros((2, 3, 4))),
        lambda: rms_db(np.zeros((4800, 2))),  # (samples, channels)
        lambda: integrated_lufs(np.zeros(SR), 0),
        lambda: frame_rms_db(np.zeros(10), 0, 1),
        lambda: integrated_lufs(np.zeros((6, SR)), SR),
    ],
)
def test_bad_parameters_raise_parameter_error(call: Callable[[], object]) -> None:
    with pytest.raises(ParameterError):
        call()


def test_non_finite_audio_raises_content_error() -> None:
    with pytest.raises(AudioContentError):
        rms_db(np.array([0.0, np.nan]))


@pytest.mark.parametrize("amp", [0.01, 0.7])
def test_peak_over_rms_of_a_sine_is_3db_at_any_level(amp: float) -> None:
    # closed form: a sine's peak is sqrt(2) times its RMS; silence around it is gated out
    sine = np.concatenate([np.zeros(SR), amp * _sine(441.0, 2.0), np.zeros(SR)])
    assert peak_over_rms_db(sine, SR) == pytest.approx(3.0103, abs=0.02)
    assert peak_over_rms_db(np.stack([sine, sine]), SR) == pytest.approx(3.0103, abs=0.02)


def test_peak_over_rms_sees_attacks_that_clipping_flattens() -> None:
    # plucks: a 2 ms attack over an exponential decay; the attacks stand well over the level,
    # and a hard clip at a quarter of the peak takes most of that height away
    t = np.arange(int(0.5 * SR)) / SR
    pluck = _sine(220.0, 0.5) * np.exp(-t / 0.08) * np.minimum(t / 0.002, 1.0)
    x = 0.2 * np.tile(pluck, 8)
    plain = peak_over_rms_db(x, SR)
    clipped = peak_over_rms_db(np.clip(x, -0.05, 0.05), SR)
    assert plain > 10.0 and clipped < plain - 4.0
    # one stray sample spike moves the crest factor, not the 99th percentile of the attacks
    spiked = x.copy()
    spiked[1234] = 1.0
    assert abs(peak_over_rms_db(spiked, SR) - plain) < 0.1
    assert crest_factor_db(spiked, SR) > crest_factor_db(x, SR) + 3.0
    assert peak_over_rms_db(np.zeros(SR), SR) == 0.0
    with pytest.raises(ParameterError):
        peak_over_rms_db(x, SR, quantile=0.0)
