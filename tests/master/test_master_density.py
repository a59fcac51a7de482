"""Density stage: applied path == the tone chain's torch functions, streaming == offline, and the
unpaired fit finds compression on a dense reference and nothing on a copy of the mix."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from master_music import dense, stereo_music

from tonemorph.chain import functional as F
from tonemorph.master.density import NEUTRAL, DensityParams, DynamicsStage, fit_density

SR = 16000


def test_compressor_equals_the_torch_functional() -> None:
    x = stereo_music(2.0, SR, seed=1).astype(np.float64)
    p = DensityParams(threshold_db=-20.0, ratio=4.0, attack_ms=3.0, release_ms=80.0)
    y = DynamicsStage(p, SR, 2).process(x)
    mid = torch.from_numpy(x.mean(axis=0))[None]
    gain = F.compressor_gain(mid, SR, torch.tensor(-20.0, dtype=torch.float64),
                             torch.tensor(4.0, dtype=torch.float64),
                             torch.tensor(3.0, dtype=torch.float64),
                             torch.tensor(80.0, dtype=torch.float64))[0].numpy()
    np.testing.assert_allclose(y, x * gain, rtol=1e-6, atol=1e-9)


def test_saturation_equals_the_torch_2x_shaper() -> None:
    x = stereo_music(1.0, SR, seed=2).astype(np.float64)
    p = DensityParams(clip_db=-12.0)
    stage = DynamicsStage(p, SR, 2)
    y = np.concatenate([stage.process(x), stage.flush()], axis=1)
    drive = torch.tensor(10 ** (12 / 20), dtype=torch.float32)
    ref = F.shaper_2x(torch.from_numpy(x.astype(np.float32)), drive, torch.tensor(0.0),
                      torch.from_numpy(F.oversample_fir()).float()).numpy()
    np.testing.assert_allclose(y[:, : x.shape[1]], ref, atol=2e-5)
    assert np.max(np.abs(y)) <= 10 ** (-12 / 20) * 1.01  # saturates at the clip level


def test_neutral_passes_through_and_blocks_equal_offline() -> None:
    x = stereo_music(1.0, SR, seed=3).astype(np.float64)
    np.testing.assert_array_equal(DynamicsStage(NEUTRAL, SR, 2).process(x), x)
    p = DensityParams(-25.0, 3.0, 2.0, 60.0, -6.0)
    whole = DynamicsStage(p, SR, 2)
    offline = np.concatenate([whole.process(x), whole.flush()], axis=1)
    for block in (1, 65, 8193):
        s = DynamicsStage(p, SR, 2)
        parts = [s.process(x[:, i : i + block]) for i in range(0, x.shape[1], block)]
        np.testing.assert_allclose(np.concatenate(parts + [s.flush()], axis=1), offline,
                                   atol=1e-6)


def test_saturation_in_two_halves_on_a_pool_equals_one_pass() -> None:
    # the fit's evaluations saturate each half of the excerpt on its own core; block after
    # block, the stage must stay the stage it applies
    x = stereo_music(2.0, SR, seed=6).astype(np.float64)
    p = DensityParams(-25.0, 3.0, 2.0, 60.0, -3.0)
    one, split = DynamicsStage(p, SR, 2), DynamicsStage(p, SR, 2)
    with ThreadPoolExecutor(max_workers=1) as pool:
        for block in (9000, 40, 4097, x.shape[1]):  # 40: too short to split
            for i in range(0, x.shape[1], block):
                np.testing.assert_array_equal(split.process(x[:, i : i + block], pool=pool),
                                              one.process(x[:, i : i + block]))
    assert split.mean_gain_reduction_db == one.mean_gain_reduction_db


def _norm(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    return x * np.sqrt(np.mean(like**2) / np.mean(x**2))


def test_fit_finds_density_on_a_dense_reference() -> None:
    mix = stereo_music(8.0, SR, seed=4).mean(axis=0).astype(np.float64)
    ref = dense(stereo_music(8.0, SR, seed=5), SR).mean(axis=0).astype(np.float64)
    mix = _norm(mix, ref)
    params, stats = fit_density(mix, ref, SR, steps=30)
    # the loss includes what the stage's work costs (density only where it clearly pays)
    assert stats["loss"] < 0.75 * stats["loss_neutral"]
    assert params.ratio > 1.5 or params.clip_db < 0.0
    # the fitted stage, applied, makes the mix's crest factor approach the reference's
    y = DynamicsStage(params, SR, 1).process(mix[None])[0]
    crest = lambda v: 20 * np.log10(np.max(np.abs(v)) / np.sqrt(np.mean(v**2)))
    # part of the way only: the limiter that follows takes the peaks, and every dB of work
    # the stage does costs in the fit (a reference's dynamics are mostly its music)
    assert abs(crest(y) - crest(ref)) < 0.85 * abs(crest(mix) - crest(ref))


def test_fit_keeps_a_matching_mix_neutral() -> None:
    mix = stereo_music(8.0, SR, seed=6).mean(axis=0).astype(np.float64)
    params, stats = fit_density(mix, mix.copy(), SR, steps=10)
    assert params == NEUTRAL and stats["loss_neutral"] == pytest.approx(0.0, abs=1e-6)
