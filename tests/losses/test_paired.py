"""Paired losses against closed forms and plain numpy: ESR, pre-emphasis, STFT, MR-STFT."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import given
from hypothesis import strategies as st
from signals import guitar_line, white_noise

from tonemorph.errors import ParameterError
from tonemorph.losses.paired import (
    ESRLoss,
    MRSTFTLoss,
    PairedLoss,
    STFTLoss,
    esr,
    pre_emphasis,
    reference_power,
)
from tonemorph.metrics import MAG_POWER_EPS, esr_grade, mrstft_distance

SR = 48000


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


@given(st.floats(-3.0, 3.0))
def test_esr_of_scaled_target_is_closed_form(a: float) -> None:
    y = white_noise(0.05, SR, seed=2).astype(np.float64)
    assert float(esr(_t(a * y), _t(y))) == pytest.approx((1 - a) ** 2, rel=1e-9, abs=1e-12)


def test_esr_matches_numpy_over_the_batch() -> None:
    rng = np.random.default_rng(0)
    y, y_hat = rng.standard_normal((3, 500)), rng.standard_normal((3, 500))
    ref = np.sum((y - y_hat) ** 2) / np.sum(y ** 2)
    assert float(esr(_t(y_hat), _t(y))) == pytest.approx(ref, rel=1e-12)


def test_pre_emphasis_is_the_first_order_fir() -> None:
    x = white_noise(0.02, SR, seed=3)[0].astype(np.float64)
    ref = scipy.signal.lfilter([1.0, -0.85], [1.0], x)[1:]
    np.testing.assert_allclose(pre_emphasis(_t(x), 0.85).numpy(), ref, rtol=1e-12, atol=1e-14)
    with pytest.raises(ParameterError):
        pre_emphasis(_t(x), 1.0)


def test_esr_loss_with_pre_emphasis() -> None:
    rng = np.random.default_rng(1)
    y, y_hat = rng.standard_normal(800), rng.standard_normal(800)
    f = lambda v: scipy.signal.lfilter([1.0, -0.85], [1.0], v)[1:]
    ref = np.sum((f(y) - f(y_hat)) ** 2) / np.sum(f(y) ** 2)
    assert float(ESRLoss(0.85)(_t(y_hat), _t(y))) == pytest.approx(ref, rel=1e-10)
    plain = np.sum((y - y_hat) ** 2) / np.sum(y ** 2)
    assert float(ESRLoss(None)(_t(y_hat), _t(y))) == pytest.approx(plain, rel=1e-10)


def test_stft_loss_matches_a_plain_numpy_loop() -> None:
    n_fft, hop = 64, 16
    rng = np.random.default_rng(5)
    y, y_hat = rng.standard_normal(400), rng.standard_normal(400) * 0.5
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann

    def mags(v: np.ndarray) -> np.ndarray:
        p = np.pad(v, n_fft // 2, mode="reflect")
        frames = [p[i: i + n_fft] * w for i in range(0, len(p) - n_fft + 1, hop)]
        return np.sqrt(np.maximum(np.abs(np.fft.rfft(frames, axis=-1)) ** 2, 1e-8))

    m, m_hat = mags(y), mags(y_hat)
    ref = (np.linalg.norm(m - m_hat) / np.linalg.norm(m)
           + np.mean(np.abs(np.log(m) - np.log(m_hat))))
    assert float(STFTLoss(n_fft, hop)(_t(y_hat), _t(y))) == pytest.approx(ref, rel=1e-9)


def test_mrstft_loss_equals_the_numpy_metric() -> None:
    y = guitar_line(0.5, SR, seed=2)[0]
    y_hat = np.tanh(4 * y) * 0.3 + 0.001 * white_noise(0.5, SR, seed=1)[0]
    loss = float(MRSTFTLoss()(_t(y_hat)[None], _t(y)[None]))
    assert loss == pytest.approx(mrstft_distance(y_hat, y, SR), rel=1e-4)
    assert float(MRSTFTLoss()(_t(y)[None], _t(y)[None])) == 0.0


def test_paired_loss_is_the_weighted_sum() -> None:
    y = guitar_line(0.2, SR, seed=4)
    y_hat = 0.8 * y + 0.01 * white_noise(0.2, SR, seed=6)
    a, b = _t(y_hat), _t(y)
    expected = float(ESRLoss(0.85)(a, b)) + 0.5 * float(MRSTFTLoss()(a, b))
    assert float(PairedLoss(0.85, 0.5)(a, b)) == pytest.approx(expected, rel=1e-12)
    assert float(PairedLoss(None, 0.0)(a, b)) == pytest.approx(float(esr(a, b)), rel=1e-12)
    both = float(ESRLoss(0.85)(a, b)) + 0.5 * float(esr(a, b))
    assert float(PairedLoss(0.85, 0.0, plain_weight=0.5)(a, b)) == pytest.approx(both, rel=1e-12)


def test_reference_power_makes_the_esr_a_fixed_scale_mse() -> None:
    y = np.asarray(guitar_line(0.3, SR, seed=8), np.float64).reshape(-1)
    y_hat = 0.9 * y + 0.01 * np.asarray(white_noise(0.3, SR, seed=9)).reshape(-1)
    e = y[1:] - 0.85 * y[:-1]
    assert reference_power(y, 0.85) == pytest.approx(float(np.mean(e * e)), rel=1e-12)
    assert reference_power(_t(y), None) == pytest.approx(float(np.mean(y * y)), rel=1e-12)
    # with the whole signal's power as reference, the loss of the whole signal is its ESR
    p = reference_power(y, 0.85)
    whole = float(ESRLoss(0.85, reference_power=p)(_t(y_hat)[None], _t(y)[None]))
    assert whole == pytest.approx(float(ESRLoss(0.85)(_t(y_hat), _t(y))), rel=1e-9)
    # a quiet batch (-40 dB) with the same relative error weighs 10,000 times less, not the same
    quiet = float(ESRLoss(0.85, reference_power=p)(_t(0.01 * y_hat), _t(0.01 * y)))
    assert quiet == pytest.approx(whole * 1e-4, rel=1e-6)
    assert float(ESRLoss(0.85)(_t(0.01 * y_hat), _t(0.01 * y))) == pytest.approx(whole, rel=1e-6)
    with pytest.raises(ParameterError, match="silent"):
        ESRLoss(0.85, reference_power=0.0)


def test_gradients_are_exact() -> None:
    rng = np.random.default_rng(7)
    y = _t(rng.standard_normal((2, 40)))
    y_hat = _t(rng.standard_normal((2, 40))).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: ESRLoss(0.85)(v, y), (y_hat,))
    stft = STFTLoss(16)
    # fast mode (random directions): the full Jacobian costs hundreds of tiny STFT calls
    assert torch.autograd.gradcheck(lambda v: stft(v, y), (y_hat,), fast_mode=True)


def test_grades_and_bad_arguments() -> None:
    assert [esr_grade(v) for v in (0.005, 0.02, 0.05, 0.2)] == [
        "great", "not bad", "okay", "poor"]
    with pytest.raises(ParameterError, match="same shape"):
        esr(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ParameterError):
        STFTLoss(100)
    with pytest.raises(ParameterError):
        PairedLoss(mrstft_weight=-1.0)


@pytest.mark.parametrize("shape", [(3, 3000), (3000,), (2, 100)], ids=["batch", "1-d", "short"])
def test_stft_magnitudes_are_torch_stfts(shape: tuple[int, ...]) -> None:
    # centred frames, reflect padding (zeros for a signal shorter than half a frame)
    x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    loss = STFTLoss(512)
    w = loss.window.double()
    mode = "reflect" if shape[-1] > 256 else "constant"
    s = torch.stft(x, 512, 128, window=w, center=True, pad_mode=mode, return_complex=True)
    want = torch.sqrt(torch.clamp(s.real.square() + s.imag.square(), min=MAG_POWER_EPS))
    assert torch.equal(loss._mag(x), want)
