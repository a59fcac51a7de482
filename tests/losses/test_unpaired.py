"""Unpaired loss terms (losses/unpaired.py) on signals whose answers are known.

A pure level change moves the level terms by the change in dB; a static EQ (level matched)
moves no level or dynamics term, and its spectrum is left to the cabinet's closed-form match;
a drive moves the level-dependent spectrum; playing the same line a whole tone higher moves
none of the level or dynamics terms, and the envelope far less than a drive does. Where the
joint term does not yet behave so, a strict xfail records the gap.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal as ss
import torch

from tonemorph.dsp.biquad import rbj_section
from tonemorph.features.frames import FeatureConfig, Features, frame_features
from tonemorph.losses.unpaired import (
    LossWeights,
    UnpairedLoss,
    binned_means,
    column_quantiles,
    quantiles,
)

SR = 48000
CFG = FeatureConfig(sample_rate=SR)
LEVEL_TERMS = ("level", "dynamics")


def line(seconds: float, seed: int, transpose: float = 0.0) -> np.ndarray:
    """Low-register notes at random velocities through one fixed smooth envelope.

    Every note has the same RMS before its velocity, so transposing changes pitch only.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros(n)
    pos = 0
    while pos < n:
        length = min(int(float(rng.choice([0.25, 0.5, 1.0])) * SR), n - pos)
        f0 = 82.4 * 2 ** ((rng.integers(0, 12) + transpose) / 12)
        vel = 10 ** (rng.uniform(-24, 0) / 20)
        t = np.arange(length) / SR
        h = np.arange(1, int(16000 / f0))[:256]
        phases = rng.uniform(0, 2 * np.pi, 256)[: len(h)]  # as many draws at any pitch
        note = (np.sin(2 * np.pi * f0 * h[:, None] * t + phases[:, None])
                / (1 + (f0 * h[:, None] / 1500) ** 2)).sum(0)
        note *= np.exp(-t / 0.4) * np.minimum(t / 0.003, 1)
        note *= np.minimum((length - np.arange(length)) / (0.01 * SR), 1)
        out[pos: pos + length] += vel * note / np.sqrt(np.mean(note ** 2))
        pos += length
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


def driven(x: np.ndarray) -> np.ndarray:
    """x through a tanh clipper with 20 dB of drive (level-dependent spectrum and crest)."""
    return np.tanh(10 * x) / 10


def feats(x: np.ndarray) -> Features:
    return frame_features(torch.from_numpy(np.asarray(x, np.float32))[None], CFG)


@pytest.fixture(scope="module")
def target() -> np.ndarray:
    return line(16.0, seed=1)


@pytest.fixture(scope="module")
def loss(target: np.ndarray) -> UnpairedLoss:
    return UnpairedLoss(feats(target))


def terms(loss: UnpairedLoss, x: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in loss.terms(feats(x)).items()}


def test_identical_signal_has_zero_loss(loss: UnpairedLoss, target: np.ndarray) -> None:
    total, t = loss(feats(target))
    assert float(total) == pytest.approx(0.0, abs=1e-5)
    assert all(v == pytest.approx(0.0, abs=1e-5) for v in t.values())


@pytest.mark.parametrize("gain_db", [6.0, -10.0])
def test_pure_level_change_moves_the_level_terms_by_the_change(
        loss: UnpairedLoss, target: np.ndarray, gain_db: float) -> None:
    t = terms(loss, target * 10 ** (gain_db / 20))
    for k in LEVEL_TERMS:
        assert t[k] == pytest.approx(abs(gain_db), abs=0.02), k
    for k in ("delta", "crest"):
        assert t[k] < 2e-3, k
    # the level-relative envelope moves only where empty bands sit on the fixed log-mel floor
    drive = terms(loss, driven(target))
    assert t["binned_env"] < 0.25 * drive["binned_env"]


@pytest.mark.xfail(strict=True, reason="known gap (issue 15): the joint term holds the absolute "
                   "frame level, so a pure 6-10 dB gain moves it as much as a 20 dB drive "
                   "does. Centring its level column passes +6 dB (-10 dB still moves the "
                   "cepstra of bands on the log-mel floor) and measured neutral (2026-12-05: "
                   "fr3_clean tuning chains at 2 input draws within the draws' spread, "
                   "fr3_jazz tuning mean 0.936 -> 0.936, the demo's choices unchanged), so "
                   "the stored results were kept")
@pytest.mark.parametrize("gain_db", [6.0, -10.0])
def test_pure_level_change_leaves_the_joint_term(loss: UnpairedLoss, target: np.ndarray,
                                                 gain_db: float) -> None:
    t = terms(loss, target * 10 ** (gain_db / 20))
    assert t["joint"] < 0.1 * terms(loss, driven(target))["joint"]


def test_static_eq_moves_no_level_or_dynamics_term(loss: UnpairedLoss,
                                                    target: np.ndarray) -> None:
    w0 = 2 * math.pi * 2000 / SR
    amp = 10 ** (6 / 40)
    sos = np.array([rbj_section("high_shelf", math.cos(w0), math.sin(w0) / (2 * 0.707), amp,
                                math.sqrt(amp))])
    eq = ss.sosfilt(sos, target)
    eq *= np.sqrt(np.mean(target ** 2) / np.mean(eq ** 2))  # the same RMS: spectrum only
    t = terms(loss, eq)
    for k in ("level", "dynamics", "delta"):
        assert t[k] < 0.1, k
    # the static spectrum is the cabinet's job (matched in closed form): it cancels in the
    # level-relative envelope, and moves it far less than a level-dependent change does
    drive = terms(loss, driven(target))
    assert t["binned_env"] < 0.25 * drive["binned_env"]
    assert drive["binned_env"] > 0.5


def test_transposed_target_moves_no_level_term(loss: UnpairedLoss,
                                               target: np.ndarray) -> None:
    drive = terms(loss, driven(target))
    for semitones in (-2.0, 2.0):
        t = terms(loss, line(16.0, seed=1, transpose=semitones))
        for k in ("level", "dynamics", "delta", "crest"):
            assert t[k] < 0.25, (semitones, k)  # vs 6 dB for a 6 dB change
        assert t["binned_env"] < 0.3 * drive["binned_env"], semitones


@pytest.mark.xfail(strict=True, reason="known gap (issue 15): the joint term's centroid and "
                   "low cepstra follow the fundamentals, so a whole-tone transposition moves "
                   "it more than half as much as a drive")
def test_transposed_target_moves_joint_term_little(loss: UnpairedLoss,
                                                  target: np.ndarray) -> None:
    drive = terms(loss, driven(target))
    for semitones in (-2.0, 2.0):
        t = terms(loss, line(16.0, seed=1, transpose=semitones))
        assert t["joint"] < 0.3 * drive["joint"], semitones


def test_a_different_performance_is_not_zero(loss: UnpairedLoss) -> None:
    # the terms do see what changes between two performances (how loud the notes are)
    t = terms(loss, line(16.0, seed=2))
    assert t["level"] > 0.3 and t["binned_env"] > 0.3


def test_loss_gradient_points_toward_the_target_level(loss: UnpairedLoss,
                                                      target: np.ndarray) -> None:
    x = torch.from_numpy(target)[None]
    for gain_db, sign in ((-6.0, -1.0), (6.0, 1.0)):
        g = torch.tensor(gain_db, requires_grad=True)
        total, _ = loss(frame_features(x * 10 ** (g / 20), CFG))
        (grad,) = torch.autograd.grad(total, g)
        assert sign * float(grad) > 0  # descending moves the gain back toward 0 dB


def test_silent_output_gets_a_large_loss(loss: UnpairedLoss) -> None:
    total, t = loss(feats(np.zeros(SR, np.float32)))
    assert float(total) > 100 and min(t.values()) >= 100


def test_quantiles_known_answers() -> None:
    v = torch.arange(101, dtype=torch.float32)
    q = quantiles(v, 4)
    assert torch.allclose(q, torch.tensor([12.5, 37.5, 62.5, 87.5]))
    assert torch.equal(quantiles(torch.tensor([]), 3), torch.zeros(3))
    # a shift moves every quantile by the shift: what the level terms rely on
    assert torch.allclose(quantiles(v + 3.0, 8) - quantiles(v, 8), torch.full((8,), 3.0))


def test_column_quantiles_are_numpys_and_each_columns_own() -> None:
    m = torch.randn(333, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    q = column_quantiles(m, 12)
    assert q.shape == (7, 12)
    # numpy's linear interpolation at the probabilities (i + 0.5) / n: an independent reference
    want = np.quantile(m.numpy(), (np.arange(12) + 0.5) / 12, axis=0).T
    np.testing.assert_allclose(q.numpy(), want, rtol=0, atol=1e-5)  # float32 positions
    # the batched sort gives each column exactly what the 1-D function gives it, gradient too
    cols = m.clone().requires_grad_(True)
    one = m.clone().requires_grad_(True)
    column_quantiles(cols, 12).square().sum().backward()
    torch.stack([quantiles(c, 12) for c in one.T]).square().sum().backward()
    assert torch.equal(column_quantiles(m, 12), torch.stack([quantiles(c, 12) for c in m.T]))
    assert torch.equal(cols.grad, one.grad)
    assert torch.equal(column_quantiles(m[:0], 5), torch.zeros(7, 5, dtype=torch.float64))


def test_binned_means_groups_by_level() -> None:
    level = torch.tensor([0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0])
    values = torch.stack([level, -level], dim=1)
    b = binned_means(level, values, 2)
    assert torch.allclose(b, torch.tensor([[1.5, -1.5], [11.5, -11.5]]))


def test_spectral_only_weights_switch_dynamics_off() -> None:
    w = LossWeights().spectral_only().as_dict()
    assert w["dynamics"] == w["delta"] == w["crest"] == w["joint"] == 0.0
    assert w["binned_env"] > 0 and w["level"] > 0
