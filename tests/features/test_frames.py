"""Frame features (features/frames.py) on signals whose answers are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from signals import white_noise

from tonemorph.features.frames import (
    DYN_WINDOWS_MS,
    GATE_ABS_DB,
    GATE_REL_DB,
    FeatureConfig,
    dct_matrix,
    frame_features,
    gate_threshold_db,
    mel_matrix,
)

SR = 48000
CFG = FeatureConfig(sample_rate=SR)


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(x, dtype=np.float32).reshape(1, -1))


def _sine(freq_hz: float, seconds: float, amp: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def test_sine_level_and_crest_are_their_closed_forms() -> None:
    f = frame_features(_t(_sine(1000.0, 2.0, 0.1)), CFG)
    # mean square of a sine is amp^2 / 2; its peak square amp^2, so crest 10 log10(2)
    assert f.level_db.mean().item() == pytest.approx(20 * np.log10(0.1) - 3.0103, abs=0.02)
    assert f.crest_db.mean().item() == pytest.approx(3.0103, abs=0.05)
    n_frames = (2 * SR - CFG.n_fft) // CFG.hop + 1
    assert f.level_db.numel() == n_frames


def test_silence_and_quiet_frames_are_gated_out() -> None:
    loud = _sine(440.0, 1.0, 0.5)
    quiet = _sine(440.0, 1.0, 0.5 * 10 ** (-(GATE_REL_DB + 10) / 20))
    f = frame_features(_t(np.concatenate([loud, quiet, np.zeros(SR, np.float32)])), CFG)
    # only frames that lie in the loud second (and the ones straddling its end) survive
    assert f.level_db.numel() <= SR // CFG.hop + 1
    assert f.level_db.min().item() > -10 - GATE_REL_DB
    # a fixed gate overrides the signal's own
    g = frame_features(_t(np.concatenate([loud, quiet])), CFG, gate_db=-200.0)
    assert g.level_db.numel() > f.level_db.numel() + SR // CFG.hop // 2


def test_gate_threshold_relative_to_loud_level_with_absolute_floor() -> None:
    assert gate_threshold_db(torch.tensor([-10.0] * 20)) == pytest.approx(-10 - GATE_REL_DB)
    assert gate_threshold_db(torch.tensor([-60.0] * 20)) == GATE_ABS_DB
    assert gate_threshold_db(torch.tensor([])) == GATE_ABS_DB


def test_skip_drops_the_warm_up() -> None:
    x = np.concatenate([np.zeros(SR // 2, np.float32), _sine(300.0, 1.0, 0.3)])
    with_skip = frame_features(_t(x), CFG, skip=SR // 2)
    assert with_skip.level_db.numel() == (SR - CFG.n_fft) // CFG.hop + 1


def test_gain_moves_levels_by_the_gain_and_nothing_else() -> None:
    x = white_noise(2.0, SR, amplitude=0.05, seed=1)[0] * np.linspace(0.05, 1, 2 * SR)
    a = frame_features(_t(x), CFG)
    b = frame_features(_t(x * 10 ** (7 / 20)), CFG)
    assert torch.allclose(b.level_db - a.level_db, torch.full_like(a.level_db, 7.0), atol=1e-3)
    # mel bands well above the fixed -100 dB floor (the lowest bands hold ~1 FFT bin each)
    above = a.logmel_db > -70.0
    assert above.float().mean() > 0.5
    shift = (b.logmel_db - a.logmel_db)[above]
    assert torch.allclose(shift, torch.full_like(shift, 7.0), atol=1e-2)
    for i in range(len(DYN_WINDOWS_MS)):
        assert torch.allclose(b.dyn_levels_db[i] - a.dyn_levels_db[i], torch.tensor(7.0),
                              atol=1e-3)
    for name in ("centroid", "flatness_db", "crest_db", "level_delta_db"):
        assert torch.allclose(getattr(a, name), getattr(b, name), atol=5e-3), name  # floor


def test_noise_is_flat_and_a_sine_is_not() -> None:
    noise = frame_features(_t(white_noise(1.0, SR, amplitude=0.1, seed=2)[0]), CFG)
    sine = frame_features(_t(_sine(1000.0, 1.0, 0.1)), CFG)
    # periodogram of white noise: exponential bins, E[log] - log E = -Euler gamma -> -2.5 dB
    assert noise.flatness_db.mean().item() == pytest.approx(-2.5, abs=0.6)
    assert sine.flatness_db.mean().item() < noise.flatness_db.mean().item() - 20


def test_centroid_rises_with_frequency() -> None:
    low = frame_features(_t(_sine(200.0, 1.0, 0.1)), CFG).centroid.mean().item()
    high = frame_features(_t(_sine(4000.0, 1.0, 0.1)), CFG).centroid.mean().item()
    assert 0 <= low < high <= 1


def test_level_step_shows_in_level_change() -> None:
    # 1 kHz: every 50 ms window holds whole periods, so its level is exact and steady
    x = np.concatenate([_sine(1000.0, 1.0, 0.01), _sine(1000.0, 1.0, 0.01 * 10 ** 1.5)])
    f = frame_features(_t(x), CFG)
    # consecutive 50 ms windows telescope: the changes sum to the 30 dB step
    assert f.level_delta_db.sum().item() == pytest.approx(30.0, abs=0.1)
    assert f.level_delta_db.max().item() > 3.0
    w400 = f.dyn_levels_db[DYN_WINDOWS_MS.index(400.0)]
    assert w400.max().item() - w400.min().item() == pytest.approx(30.0, abs=0.05)


def test_window_levels_match_direct_means_after_a_loud_passage() -> None:
    # running sums must not lose quiet windows that follow loud ones (cancellation)
    x = np.concatenate([_sine(500.0, 0.5, 0.9), _sine(500.0, 0.5, 0.9e-4)])
    f = frame_features(_t(x), CFG, gate_db=-200.0)
    sq = torch.from_numpy(x.astype(np.float64) ** 2)[None]
    for i, win_ms in enumerate(DYN_WINDOWS_MS):
        win = int(SR * win_ms / 1000)
        hop = max(min(win // 4, int(SR * 0.01)), 1)
        direct = 10 * torch.log10(sq.unfold(-1, win, hop).mean(-1) + 1e-10).float()[0]
        assert torch.allclose(f.dyn_levels_db[i], direct, atol=0.01), win_ms


def test_features_are_differentiable() -> None:
    x = _t(white_noise(0.5, SR, amplitude=0.1, seed=3)[0]).requires_grad_()
    f = frame_features(x, CFG)
    total = (f.level_db.sum() + f.crest_db.sum() + f.env_db.sum() + f.flatness_db.sum()
             + sum(v.sum() for v in f.dyn_levels_db))
    (g,) = torch.autograd.grad(total, x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_mel_and_dct_matrices() -> None:
    m = mel_matrix(SR, 2048, 64, 30.0, 20000.0)
    assert m.shape == (1025, 64) and (m >= 0).all()
    assert m.max(0).values.min().item() > 0.5  # every band sees some bin near its peak
    d = dct_matrix(64, 64)
    assert torch.allclose(d.T @ d, torch.eye(64), atol=1e-5)  # orthonormal


def test_envelope_ignores_most_harmonic_fine_structure() -> None:
    # two notes a whole tone apart through the same smooth spectral envelope: in the mel bands
    # that resolve their harmonics (~150-700 Hz here) the raw log-mel spectra differ by the
    # harmonic ripple; the liftered envelopes must differ by less than a third of that
    def note(f0: float) -> np.ndarray:
        t = np.arange(SR) / SR
        h = np.arange(1, int(16000 / f0))
        amps = 1 / (1 + (f0 * h / 1500.0) ** 2)
        return (np.sin(2 * np.pi * f0 * h[:, None] * t) * amps[:, None]).sum(0) * 0.01

    a, b = (frame_features(_t(note(f)), CFG) for f in (196.0, 220.0))
    band = slice(8, 24)
    env_gap = (a.env_db.mean(0) - b.env_db.mean(0))[band]
    raw_gap = (a.logmel_db.mean(0) - b.logmel_db.mean(0))[band]
    env_gap, raw_gap = env_gap - env_gap.mean(), raw_gap - raw_gap.mean()
    assert raw_gap.abs().mean() > 3.0  # the ripple is there to be removed
    assert env_gap.abs().mean() < 0.3 * raw_gap.abs().mean()


def test_log_mel_is_torch_stft_power_through_the_mel_matrix() -> None:
    # the frames' spectra are torch.stft's (no centring, Hann window), every frame above the gate
    x = _t(white_noise(0.5, SR, amplitude=0.1, seed=5)[0])
    f = frame_features(x, CFG)
    window = torch.hann_window(CFG.n_fft)
    spec = torch.stft(x, CFG.n_fft, CFG.hop, window=window, center=False, return_complex=True)
    power = spec.abs().pow(2)[0].T / (window.sum() ** 2 / 2)
    mel = power @ mel_matrix(SR, CFG.n_fft, CFG.n_mels, CFG.fmin_hz, CFG.fmax_hz)
    assert f.logmel_db.shape == mel.shape
    np.testing.assert_allclose(f.logmel_db.numpy(), (10 * torch.log10(mel + 1e-10)).numpy(),
                               atol=1e-3)
