"""Mid/side EQ: the matched curve recovers a known filter; the streaming FIR equals scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from master_music import stereo_music
from signals import white_noise

from tonemorph.dsp.biquad import freq_response_db, high_shelf
from tonemorph.errors import ParameterError
from tonemorph.master.eq import (
    FirStream,
    band_values,
    design_fir,
    match_curve_db,
)

SR = 44100


def test_match_curve_recovers_a_shelf() -> None:
    x = white_noise(8.0, SR, seed=1)[0].astype(np.float64)
    sos = high_shelf(3000.0, 6.0, 0.707, SR)
    y = scipy.signal.sosfilt(sos, white_noise(8.0, SR, seed=2)[0].astype(np.float64))
    freqs, curve = match_curve_db(x, y, SR)
    truth = freq_response_db(sos, freqs, SR)
    # the curve is the shelf up to a broadband offset (loudness is matched elsewhere)
    band = (freqs > 100) & (freqs < 15000)
    diff = curve[band] - truth[band]
    assert np.max(np.abs(diff - np.median(diff))) < 1.0
    lo, hi = band_values(freqs, curve, (200.0, 10000.0))
    assert hi - lo == pytest.approx(6.0, abs=0.7)


def test_curve_is_clamped_and_power_preserving() -> None:
    x = stereo_music(6.0, SR, seed=3).mean(axis=0).astype(np.float64)
    y = scipy.signal.sosfilt(high_shelf(2000.0, 18.0, 0.707, SR), x)
    _, curve = match_curve_db(x, y, SR, max_gain_db=6.0)
    assert np.max(np.abs(curve)) <= 6.0 + 1e-9


@pytest.mark.parametrize("phase", ["linear", "minimum"])
@pytest.mark.parametrize("block", [1, 65, 4096, 8193])
def test_fir_stream_equals_convolution(phase: str, block: int) -> None:
    curve = np.linspace(-3.0, 3.0, 2049)
    ir, latency = design_fir(curve, 512, phase)
    assert latency == (256 if phase == "linear" else 0)
    x = white_noise(0.3 if block == 1 else 1.0, SR, channels=2, seed=4).astype(np.float64)
    fs = FirStream(np.stack([ir, ir[::-1]]))
    y = np.concatenate([fs.process(x[:, i : i + block]) for i in range(0, x.shape[1], block)],
                       axis=1)
    ref = np.stack([scipy.signal.lfilter(ir, 1.0, x[0]), scipy.signal.lfilter(ir[::-1], 1.0, x[1])])
    np.testing.assert_allclose(y, ref, atol=1e-10)


def test_streaming_spectrum_equals_the_offline_mean_log_spectrum() -> None:
    from tonemorph.master.eq import SpectrumAccumulator, mean_log_spectrum_db

    x = stereo_music(4.0, 16000, seed=7).astype(np.float64)
    x[:, :8000] = 0.0  # leading silence is gated out of both
    acc = SpectrumAccumulator(16000, 2)
    for i in range(0, x.shape[1], 777):
        acc.add(x[:, i : i + 777])
    _, mid = acc.mean_log_db("mid")
    _, mid_ref = mean_log_spectrum_db(x.mean(axis=0), 16000, hop=4096)
    _, side = acc.mean_log_db("side")
    _, side_ref = mean_log_spectrum_db((x[0] - x[1]) / 2, 16000, hop=4096)
    np.testing.assert_allclose(mid, mid_ref, atol=1e-9)
    np.testing.assert_allclose(side, side_ref, atol=1e-9)
    pooled = acc.merge(acc)
    np.testing.assert_allclose(pooled.mean_log_db("mid")[1], mid, atol=1e-9)


def test_streaming_spectrum_of_a_mono_file_in_odd_blocks() -> None:
    from tonemorph.master.eq import SpectrumAccumulator, mean_log_spectrum_db

    x = stereo_music(3.0, 16000, seed=8).astype(np.float64)[:1] * 0.3
    acc = SpectrumAccumulator(16000, 1)
    for i in range(0, x.shape[1], 5000):  # blocks that are no multiple of the frame
        acc.add(x[:, i : i + 5000])
    _, mono = acc.mean_log_db("mid")
    _, ref = mean_log_spectrum_db(x[0], 16000, hop=4096)
    np.testing.assert_allclose(mono, ref, atol=1e-9)
    with pytest.raises(ParameterError):
        acc.mean_log_db("side")


# ------------------------------------------------- the reference is other music (issue 13)


def _arranged(seconds: float, seed: int, bright_every: int) -> np.ndarray:
    """Generated music whose arrangement varies: every bright_every-th 2 s section adds a
    bright hi-hat-like noise part and drops the pad's low end (content, not mastering)."""
    x = stereo_music(seconds, SR, seed=seed).astype(np.float64)
    rng = np.random.default_rng(seed + 100)
    sec = 2 * SR
    for k, start in enumerate(range(0, x.shape[1], sec)):
        if k % bright_every == 0:
            n = min(sec, x.shape[1] - start)
            hat = scipy.signal.sosfilt(scipy.signal.butter(4, 6000, "highpass", fs=SR,
                                                           output="sos"),
                                       rng.standard_normal(n)) * 0.2
            x[:, start : start + n] += hat
            x[:, start : start + n] = scipy.signal.sosfilt(
                scipy.signal.butter(2, 300, "highpass", fs=SR, output="sos"),
                x[:, start : start + n], axis=-1)
    return x


def _shape_error(freqs: np.ndarray, curve: np.ndarray, truth: np.ndarray) -> float:
    band = (freqs > 60) & (freqs < 12000)
    d = curve[band] - truth[band]
    return float(np.max(np.abs(d - np.median(d))))


def test_other_music_through_a_shelf_gives_the_shelf_not_the_arrangement() -> None:
    from tonemorph.master.config import MasterConfig
    from tonemorph.master.eq import band_shape_db, curve_on_grid, mean_log_spectrum_db
    from tonemorph.master.fit import eq_curve

    sos = high_shelf(4000.0, 3.0, 0.707, SR)
    mix = _arranged(20.0, seed=1, bright_every=5).mean(axis=0)
    ref = scipy.signal.sosfilt(sos, _arranged(20.0, seed=2, bright_every=2).mean(axis=0))
    freqs, curve = eq_curve(mix, [(ref, 1.0)], SR, MasterConfig())
    truth = freq_response_db(sos, freqs, SR)
    # the naive long-term ratio chases the other song's hats and thinner low end
    naive = curve_on_grid(freqs, band_shape_db(*mean_log_spectrum_db(ref, SR))
                          - band_shape_db(*mean_log_spectrum_db(mix, SR)))
    assert _shape_error(freqs, naive, truth) > 5.0
    assert _shape_error(freqs, curve, truth) < 3.0


def test_content_differences_alone_make_little_eq() -> None:
    from tonemorph.master.config import MasterConfig
    from tonemorph.master.fit import eq_curve

    mix = _arranged(20.0, seed=3, bright_every=6).mean(axis=0)
    ref = _arranged(20.0, seed=4, bright_every=2).mean(axis=0)
    freqs, curve = eq_curve(mix, [(ref, 1.0)], SR, MasterConfig())
    band = (freqs > 40) & (freqs < 16000)
    assert np.ptp(curve[band]) < 3.0


def test_a_consistent_shelf_is_still_matched() -> None:
    from tonemorph.master.config import MasterConfig
    from tonemorph.master.fit import eq_curve

    sos = high_shelf(3000.0, 6.0, 0.707, SR)
    x = white_noise(12.0, SR, seed=5)[0].astype(np.float64)
    y = scipy.signal.sosfilt(sos, white_noise(12.0, SR, seed=6)[0].astype(np.float64))
    freqs, curve = eq_curve(x, [(y, 1.0)], SR, MasterConfig())
    assert _shape_error(freqs, curve, freq_response_db(sos, freqs, SR)) < 1.5

