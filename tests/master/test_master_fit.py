"""Fitting steps: the balance is measured after the whole chain, so saturation does not add
brightness the EQ already matched; density on other music stays gentle."""

from __future__ import annotations

import numpy as np
import pytest
from master_music import stereo_music

from tonemorph.master.config import MasterConfig
from tonemorph.master.density import DensityParams
from tonemorph.master.eq import MATCH_BANDS_HZ, band_shape_db, mean_log_spectrum_db
from tonemorph.master.fit import MasterSettings, balance_after_chain, plan_for
from tonemorph.master.processor import render

SR = 16000


def _balance_error(settings: MasterSettings, x: np.ndarray, target_lufs: float,
                   intended: MasterSettings) -> float:
    """Max |output balance - (mix balance + the intended EQ)| (dB) over the bands below
    6 kHz, offset removed."""
    from tonemorph.dsp.loudness import integrated_lufs

    plan = plan_for(settings, SR, 2)
    gain = target_lufs - integrated_lufs(render(plan, x, limit=False), SR)
    y = render(plan.with_output_gain(gain), x)
    freqs, sx = mean_log_spectrum_db(x.mean(axis=0), SR)
    eq = np.interp(np.log(np.maximum(freqs, 1e-3)), np.log(np.maximum(intended.eq_freqs_hz,
                                                                          1e-3)),
                   intended.eq_mid_db)
    wanted = band_shape_db(freqs, sx + eq)
    got = band_shape_db(*mean_log_spectrum_db(y.mean(axis=0), SR))
    err = got - wanted
    keep = (np.asarray(MATCH_BANDS_HZ) > 40) & (np.asarray(MATCH_BANDS_HZ) < 6000)
    return float(np.max(np.abs(err[keep] - np.mean(err[keep]))))


def test_saturation_brightness_is_taken_back_by_the_eq() -> None:
    x = stereo_music(10.0, SR, seed=11, peak=0.5).astype(np.float64)
    freqs = np.fft.rfftfreq(4096, 1.0 / SR)
    heavy = DensityParams(threshold_db=-30.0, ratio=4.0, attack_ms=1.0, release_ms=50.0,
                          clip_db=-24.0)
    settings = MasterSettings(eq_freqs_hz=freqs, eq_mid_db=np.linspace(-1.0, 1.0, freqs.size),
                              density=heavy)
    before = _balance_error(settings, x, -12.0, settings)
    fixed = balance_after_chain(settings, x, SR, -12.0)
    after = _balance_error(fixed, x, -12.0, settings)
    assert before > 0.7  # the stage really does change the balance
    assert after < 0.6 * before


def test_neutral_density_leaves_the_eq_alone() -> None:
    x = stereo_music(6.0, SR, seed=12).astype(np.float64)
    freqs = np.fft.rfftfreq(4096, 1.0 / SR)
    settings = MasterSettings(eq_freqs_hz=freqs, eq_mid_db=np.linspace(-2, 2, freqs.size))
    assert balance_after_chain(settings, x, SR, -14.0) is settings
    assert MasterConfig().eq_prior_db > 0


def _stereo_noise(seconds: float, side_db: list[float], seed: int) -> np.ndarray:
    """White-noise stereo whose side/mid ratio (dB) steps through side_db every 2.5 s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    mid, side = rng.standard_normal(n) * 0.1, rng.standard_normal(n) * 0.1
    sec = int(2.5 * SR)
    gains = np.repeat([10 ** (side_db[k % len(side_db)] / 20) for k in range(n // sec + 1)],
                      sec)[:n]
    return np.stack([mid + side * gains, mid - side * gains])


def test_a_steady_width_difference_is_matched() -> None:
    from tonemorph.master.fit import fit_settings

    mix, ref = _stereo_noise(20.0, [-6.0], 1), _stereo_noise(20.0, [-12.0], 2)
    st = fit_settings(mix, [(ref, 1.0)], SR, MasterConfig(only="width"))
    assert 20 * np.log10(st.side_gain) == pytest.approx(-6.0, abs=1.0)


def test_a_width_that_is_the_arrangement_is_left_alone() -> None:
    from tonemorph.master.fit import fit_settings

    # the reference's width jumps between sections (a wide chorus, a near-mono verse): its
    # mean is 6 dB narrower than the mix's, but nothing says a mastering chain did it
    mix = _stereo_noise(20.0, [-6.0], 3)
    ref = _stereo_noise(20.0, [-30.0, -9.0], 4)
    from tonemorph.dsp.stereo import side_to_mid_db

    assert side_to_mid_db(ref) - side_to_mid_db(mix) < -5.0
    st = fit_settings(mix, [(ref, 1.0)], SR, MasterConfig(only="width"))
    assert abs(20 * np.log10(st.side_gain)) < 1.5
