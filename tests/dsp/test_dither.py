"""TPDF dither: grid, error statistics (signal-independent first and second moments), seeds."""

from __future__ import annotations

import numpy as np
import pytest

from tonemorph.dsp.dither import Ditherer, bits_of_subtype, quantize, tpdf
from tonemorph.errors import ParameterError


def test_tpdf_is_triangular_on_plus_minus_one_lsb() -> None:
    d = tpdf((400_000,), np.random.default_rng(0))
    assert d.min() >= -1.0 and d.max() <= 1.0
    assert np.mean(d) == pytest.approx(0.0, abs=0.005)
    assert np.var(d) == pytest.approx(1.0 / 6.0, rel=0.02)  # two uniforms: 2 * 1/12
    hist, _ = np.histogram(d, bins=4, range=(-1, 1))
    # triangle: the inner quarters hold 3/8 each, the outer 1/8 each
    np.testing.assert_allclose(hist / d.size, [1 / 8, 3 / 8, 3 / 8, 1 / 8], atol=0.01)


@pytest.mark.parametrize("bits", [8, 16, 24])
def test_quantize_lands_on_the_grid(bits: int) -> None:
    x = np.random.default_rng(1).uniform(-0.9, 0.9, 10_000)
    q = quantize(x, bits, rng=np.random.default_rng(2))
    scale = 2.0 ** (bits - 1)
    np.testing.assert_array_equal(q * scale, np.round(q * scale))
    assert np.max(np.abs(q - x)) <= 1.5 / scale


@pytest.mark.parametrize("offset_lsb", [0.0, 0.25, 0.5, 0.8])
def test_error_moments_do_not_depend_on_the_signal(offset_lsb: float) -> None:
    scale = 2.0**15
    x = np.full(200_000, (1000 + offset_lsb) / scale)  # a DC level between grid points
    err = (quantize(x, 16, rng=np.random.default_rng(3)) - x) * scale
    assert np.mean(err) == pytest.approx(0.0, abs=0.01)  # no signal-dependent bias
    assert np.var(err) == pytest.approx(0.25, abs=0.01)  # 1/12 rounding + 1/6 dither
    plain = (quantize(x, 16, dither=False) - x) * scale
    assert np.ptp(plain) == 0.0  # undithered: a constant, signal-dependent error


def test_ditherer_is_seeded_and_clips_to_the_integer_range() -> None:
    x = np.linspace(-1.2, 1.2, 1000)[None, :]
    a, b = Ditherer(16, seed=7).process(x), Ditherer(16, seed=7).process(x)
    np.testing.assert_array_equal(a, b)
    assert a.max() <= 1.0 - 2.0**-15 and a.min() >= -1.0
    assert bits_of_subtype("pcm_16") == 16 and bits_of_subtype("FLOAT") is None
    with pytest.raises(ParameterError, match="bits"):
        Ditherer(1)


def test_digital_silence_stays_silent_and_the_rest_is_dithered_as_before() -> None:
    # the gap before a track: no +-1 LSB noise where the master is exactly zero
    x = np.concatenate([np.zeros(1000), np.linspace(-0.5, 0.5, 1000), np.zeros(1000)])[None]
    q = Ditherer(16, seed=5).process(x)
    assert not np.any(q[:, :1000]) and not np.any(q[:, 2000:])
    # the draws are taken for every sample: the music's samples get the same dither
    full = Ditherer(16, seed=5).process(x + (x == 0) * 0.3)
    np.testing.assert_array_equal(q[:, 1000:2000], full[:, 1000:2000])
    offline = quantize(x, 16, rng=np.random.default_rng(5))
    assert not np.any(offline[:, :1000]) and np.count_nonzero(offline[:, 1000:2000]) > 990
