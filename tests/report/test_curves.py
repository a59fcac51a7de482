"""Report curves against independent references: scipy on the chain's own coefficients, an
impulse through the torch chain, tanh, the soft-knee closed form and a steady sine through
the compressor stage."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tones import CRUNCH, SR, chain_with, tone_with

from tonemorph.chain.chain import ChainConfig, ToneChain
from tonemorph.errors import ParameterError
from tonemorph.report import curves as C

FREQS = C.response_freqs_hz(SR, 300)

eq_values = st.fixed_dictionaries({
    "pre_eq.hp_hz": st.floats(10.0, 900.0),
    "pre_eq.low_hz": st.floats(60.0, 900.0), "pre_eq.low_db": st.floats(-18.0, 18.0),
    "pre_eq.mid_hz": st.floats(100.0, 8000.0), "pre_eq.mid_db": st.floats(-18.0, 18.0),
    "pre_eq.mid_q": st.floats(0.3, 6.0),
    "pre_eq.high_hz": st.floats(800.0, 12000.0), "pre_eq.high_db": st.floats(-18.0, 18.0),
    "post_eq.low_hz": st.floats(60.0, 900.0), "post_eq.low_db": st.floats(-18.0, 18.0),
    "post_eq.mid_hz": st.floats(100.0, 8000.0), "post_eq.mid_db": st.floats(-18.0, 18.0),
    "post_eq.mid_q": st.floats(0.3, 6.0),
    "post_eq.high_hz": st.floats(800.0, 12000.0), "post_eq.high_db": st.floats(-18.0, 18.0),
})


@settings(max_examples=25, deadline=None)
@given(eq_values)
def test_eq_response_matches_scipy_on_the_chains_own_coefficients(values: dict) -> None:
    chain = chain_with(values)
    tone = tone_with(values)
    for stage in ("pre_eq", "post_eq"):
        with torch.no_grad():
            sos = chain.eq_sos(stage).numpy()
        _, h = scipy.signal.sosfreqz(sos, worN=FREQS, fs=SR)
        ref = 20 * np.log10(np.abs(h))
        np.testing.assert_allclose(C.eq_response_db(tone, stage, FREQS), ref, atol=1e-6)


def test_eq_response_known_points() -> None:
    tone = tone_with({"post_eq.mid_hz": 1000.0, "post_eq.mid_db": 6.0, "post_eq.mid_q": 1.0,
                      "post_eq.low_db": 0.0, "post_eq.high_db": 0.0})
    db = C.eq_response_db(tone, "post_eq", np.array([20.0, 1000.0, 20000.0]))
    np.testing.assert_allclose(db, [0.0, 6.0, 0.0], atol=0.05)


def test_cab_response_matches_freqz_and_follows_its_band_curve() -> None:
    rng = np.random.default_rng(3)
    bands = np.cumsum(rng.normal(0, 1.0, 64))
    bands = np.clip(bands - bands.mean(), -20, 20)
    tone = tone_with({"cab.band_db": bands.tolist()})
    with torch.no_grad():
        ir = chain_with({"cab.band_db": bands.tolist()}).cab_ir().numpy()
    _, h = scipy.signal.freqz(ir, worN=FREQS, fs=SR)
    got = C.cab_response_db(tone, FREQS)
    np.testing.assert_allclose(got, 20 * np.log10(np.abs(h)), atol=1e-6)
    # the FIR realises the learned band curve (control points interpolated in log-frequency)
    band_hz = tone.config.band_hz()
    mid = (band_hz > 150) & (band_hz < 12000)
    at_bands = C.cab_response_db(tone, band_hz[mid])
    assert np.max(np.abs(at_bands - bands[mid])) < 1.5


def test_linear_response_equals_an_impulse_through_the_torch_chain() -> None:
    values = {**CRUNCH, "cab.band_db": np.linspace(6, -12, 64).tolist()}
    stages = ("pre_eq", "post_eq", "cab")
    tone = tone_with(values, stages=stages, input_gain_db=-4.0)
    chain = ToneChain(ChainConfig(stages=stages, sample_rate=SR))
    chain.set_values({**chain.neutral_values(), **values})
    n = 1 << 16
    imp = np.zeros((1, n), np.float32)
    imp[0, 0] = 1.0
    with torch.no_grad():
        y = chain(torch.from_numpy(imp)).double().numpy()[0] * 10 ** (-4.0 / 20)
    spec = np.fft.rfft(y)
    f = np.fft.rfftfreq(n, 1 / SR)
    sel = np.flatnonzero((f > 30) & (f < 18000))[::7]
    measured = 20 * np.log10(np.abs(spec[sel]))
    np.testing.assert_allclose(C.linear_response_db(tone, f[sel]), measured, atol=0.05)


@pytest.mark.parametrize("drive_db,bias", [(0.0, 0.0), (18.0, 0.2), (40.0, -0.5)])
def test_shaper_curve_is_the_biased_tanh_clipper(drive_db: float, bias: float) -> None:
    tone = tone_with({"drive.drive_db": drive_db, "drive.bias": bias})
    g = 10 ** (drive_db / 20)
    x = np.linspace(-4 / g, 4 / g, 801)
    ref = (np.tanh(g * x + bias) - np.tanh(bias)) / (1 - np.tanh(bias) ** 2)
    y = C.shaper_curve(tone, x)
    np.testing.assert_allclose(y, ref, atol=3e-4 / (1 - math.tanh(bias) ** 2))
    slope = np.gradient(y, x)[400]
    assert slope == pytest.approx(g, rel=1e-3)  # small signals pass with the drive gain


def _soft_knee_out_db(level: float, thr: float, ratio: float, knee: float = 6.0) -> float:
    over = level - thr
    if 2 * over < -knee:
        return level
    if 2 * over > knee:
        return thr + over / ratio
    return level + (1 / ratio - 1) * (over + knee / 2) ** 2 / (2 * knee)


@pytest.mark.parametrize("stage", ["sag", "comp"])
def test_dynamics_curve_closed_form(stage: str) -> None:
    tone = tone_with({f"{stage}.threshold_db": -24.0, f"{stage}.ratio": 4.0})
    lv = np.linspace(-70, 0, 281)
    ref = np.array([_soft_knee_out_db(v, -24.0, 4.0) for v in lv])
    np.testing.assert_allclose(C.dynamics_curve_db(tone, stage, lv), ref, atol=1e-9)


def test_dynamics_curve_matches_a_steady_sine_through_the_compressor() -> None:
    values = {"comp.threshold_db": -30.0, "comp.ratio": 3.0, "comp.attack_ms": 1.0,
              "comp.release_ms": 20.0}
    tone = tone_with(values, stages=("comp",))
    chain = chain_with(values, stages=("comp",))
    t = np.arange(SR // 2) / SR
    for level_db in (-50.0, -31.0, -20.0, -6.0):
        amp = 10 ** (level_db / 20) * math.sqrt(2)
        x = (amp * np.sin(2 * np.pi * 1500.0 * t)).astype(np.float32)  # 32 samples a period
        with torch.no_grad():
            y = chain(torch.from_numpy(x)[None]).double().numpy()[0]
        out_db = 10 * np.log10(np.mean(y[SR // 4:] ** 2))
        assert out_db == pytest.approx(C.dynamics_curve_db(tone, "comp", [level_db])[0],
                                       abs=0.05)


def test_missing_stage_is_a_parameter_error() -> None:
    tone = tone_with({}, stages=("pre_eq", "cab"))
    for fn, args in ((C.shaper_curve, (np.zeros(3),)), (C.dynamics_curve_db, ("comp", [0.0])),
                     (C.eq_response_db, ("post_eq", FREQS))):
        with pytest.raises(ParameterError):
            fn(tone, *args)
