"""The formulas written once in `tonemorph.dsp` give the same numbers on numpy and on torch.

Biquads: `rbj_section` through the numpy designs, through the torch `rbj_biquad` (autograd) and
as a scipy `sosfreqz` response. Minimum phase: `cepstral_minimum_phase` on numpy and torch, the
requested magnitude, minimum phase (zeros inside the unit circle) and gradients. The chain's
compiled compressor gain (`chain.kernels`) against a plain loop, float32 and float64 levels.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch
from signals import guitar_line

from tonemorph.chain import functional as F
from tonemorph.chain import kernels as K
from tonemorph.dsp import biquad
from tonemorph.dsp.fir import cepstral_minimum_phase, minimum_phase_from_magnitude
from tonemorph.errors import ParameterError

SR = 48000
# (kind, numpy design, frequency Hz, gain dB, q)
CASES = [
    ("highpass", lambda f, g, q: biquad.highpass(f, q, SR), 35.0, 0.0, 0.707),
    ("lowpass", lambda f, g, q: biquad.lowpass(f, q, SR), 9000.0, 0.0, 1.3),
    ("peaking", lambda f, g, q: biquad.peaking(f, g, q, SR), 700.0, -9.0, 2.5),
    ("peaking", lambda f, g, q: biquad.peaking(f, g, q, SR), 4000.0, 12.0, 0.4),
    ("low_shelf", lambda f, g, q: biquad.low_shelf(f, g, q, SR), 150.0, 7.0, 0.707),
    ("low_shelf", lambda f, g, q: biquad.low_shelf(f, g, q, SR), 400.0, -5.0, 0.5),
    ("high_shelf", lambda f, g, q: biquad.high_shelf(f, g, q, SR), 3500.0, -8.0, 0.707),
    ("high_shelf", lambda f, g, q: biquad.high_shelf(f, g, q, SR), 10000.0, 4.0, 1.1),
]


def _t(v: float) -> torch.Tensor:
    return torch.tensor([v], dtype=torch.float64)


@pytest.mark.parametrize(("kind", "design", "freq_hz", "gain_db", "q"), CASES)
def test_torch_biquad_equals_numpy_design_and_scipy_response(kind, design, freq_hz: float,
                                                             gain_db: float, q: float) -> None:
    row_np = design(freq_hz, gain_db, q)
    row_t = F.rbj_biquad(kind, _t(freq_hz), _t(gain_db), _t(q), SR)[:, 0].numpy()
    np.testing.assert_allclose(row_t, row_np, rtol=1e-13, atol=1e-15)
    # the torch response on the rfft grid (as the chain filters) is scipy's
    n_fft = 4096
    _, h = scipy.signal.sosfreqz(row_np[None, :], worN=np.linspace(0, np.pi, n_fft // 2 + 1))
    got = F.sos_response(torch.from_numpy(row_t[None, :]), n_fft).numpy()
    np.testing.assert_allclose(got, h, rtol=1e-10, atol=1e-12)
    # and the numpy dB response
    freqs = np.geomspace(20.0, 20000.0, 50)
    _, hz = scipy.signal.sosfreqz(row_np[None, :], worN=freqs, fs=SR)
    np.testing.assert_allclose(biquad.freq_response_db(row_np, freqs, SR),
                               20 * np.log10(np.abs(hz)), atol=1e-9)


def test_rbj_section_is_array_agnostic_and_vectorised() -> None:
    f = np.array([100.0, 1000.0, 8000.0])
    g, q = np.array([-6.0, 3.0, 9.0]), np.array([0.5, 1.0, 2.0])
    w0 = 2 * math.pi * f / SR
    amp = 10 ** (g / 40)
    for kind in biquad.BIQUAD_KINDS:
        rows = np.stack(biquad.rbj_section(kind, np.cos(w0), np.sin(w0) / (2 * q), amp,
                                           np.sqrt(amp)))
        assert rows.shape == (6, 3)
        for i in range(3):
            one = biquad.rbj_section(kind, math.cos(w0[i]), math.sin(w0[i]) / (2 * q[i]),
                                     float(amp[i]), math.sqrt(amp[i]))
            np.testing.assert_array_equal(rows[:, i], np.array(one))
        assert np.all(rows[3] == 1.0)
    with pytest.raises(ParameterError, match="bandpass"):
        biquad.rbj_section("bandpass", 0.5, 0.1, 1.0, 1.0)


def test_shelf_and_peak_gradients() -> None:
    for kind in ("low_shelf", "high_shelf", "peaking"):
        f = torch.tensor([300.0, 5000.0], dtype=torch.float64, requires_grad=True)
        g = torch.tensor([4.0, -7.0], dtype=torch.float64, requires_grad=True)
        q = torch.tensor([0.7, 1.5], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b, c, k=kind: F.rbj_biquad(k, a, b, c, SR),
                                        (f, g, q))


def _smooth_curve_db(n_bins: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    knots = rng.normal(0.0, 6.0, 12)
    return np.interp(np.linspace(0, 11, n_bins), np.arange(12), knots)


@pytest.mark.parametrize("n_bins", [65, 1025])
def test_cepstral_minimum_phase_same_on_numpy_and_torch(n_bins: int) -> None:
    log_mag = _smooth_curve_db(n_bins, 1) * (math.log(10) / 20)
    ir_np = cepstral_minimum_phase(log_mag)
    ir_t = cepstral_minimum_phase(torch.from_numpy(log_mag), torch).numpy()
    assert ir_np.shape == (2 * (n_bins - 1),)
    np.testing.assert_allclose(ir_t, ir_np, rtol=0, atol=1e-13 * np.max(np.abs(ir_np)))
    # the requested magnitude, and minimum phase: every zero inside the unit circle
    np.testing.assert_allclose(np.log(np.abs(np.fft.rfft(ir_np))), log_mag, atol=1e-6)
    if n_bins == 65:
        assert np.max(np.abs(np.roots(ir_np))) < 1.0


def test_minimum_phase_concentrates_energy_first() -> None:
    """Among FIRs of one magnitude the minimum-phase one has the most energy in any prefix."""
    curve = _smooth_curve_db(1025, 2)
    ir = cepstral_minimum_phase(curve * (math.log(10) / 20))
    lin = np.fft.irfft(10 ** (curve / 20))  # zero phase, same magnitude
    lin = np.roll(lin, lin.size // 2)
    assert np.all(np.cumsum(ir**2) >= np.cumsum(lin**2) - 1e-12)


def test_chain_cab_and_numpy_fir_share_the_folding() -> None:
    curve = _smooth_curve_db(1025, 3)
    taps = 256
    core = cepstral_minimum_phase(curve * (math.log(10) / 20))[:taps]
    ir_t = F.minimum_phase_ir(torch.from_numpy(curve), taps).numpy()
    head = taps - taps // 8  # before the torch fade
    np.testing.assert_allclose(ir_t[:head], core[:head], rtol=0, atol=1e-14)
    # the numpy design on an 8x finer grid: same IR up to the interpolation of the curve
    ir_np = minimum_phase_from_magnitude(curve, taps, tail_fraction=0.0)
    assert np.sqrt(np.mean((ir_np[:head] - core[:head]) ** 2) / np.mean(core**2)) < 1e-2


def test_minimum_phase_ir_gradcheck() -> None:
    curve = torch.tensor(_smooth_curve_db(17, 4), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda c: F.minimum_phase_ir(c, 20), (curve,))


def _plain_compressor_gain(d: np.ndarray, hop: int, thr: float, ratio: float, knee: float,
                           a_att: float, a_rel: float, f32: bool) -> np.ndarray:
    """Plain-loop reference of `compressor_gain_block` from a fresh state (squares in d's dtype)."""
    g = np.empty(d.size)
    g2 = g1 = 1.0
    smooth = 0.0
    acc, count = 0.0, 0
    for n, v in enumerate(d):
        g[n] = g2 + (g1 - g2) * (count + 1) / hop
        acc += float(v * v)
        count += 1
        if count == hop:
            if f32:  # the log of the float32 mean square, in float32
                level = 10 * float(np.log10(np.float32(acc / hop) + np.float32(1e-10)))
            else:
                level = 10 * math.log10(acc / hop + 1e-10)
            over = level - thr
            slope = 1 / ratio - 1
            if 2 * over < -knee:
                target = 0.0
            elif 2 * over > knee:
                target = slope * over
            else:
                target = slope * (over + knee / 2) ** 2 / (2 * knee)
            a = a_att if target < smooth else a_rel
            smooth = a * smooth + (1 - a) * target
            g2, g1 = g1, 10 ** (smooth / 20)
            acc, count = 0.0, 0
    return g


# (detector dtype, float32 levels): the chain's sag/comp stages, the mastering density stage
@pytest.mark.parametrize(("dtype", "float32_level"), [(np.float32, True), (np.float64, False)])
@pytest.mark.parametrize("block", [1, 64, 65, 128, 8192, 8193])
def test_compressor_gain_block_equals_plain_loop_over_blocks(dtype: type, float32_level: bool,
                                                             block: int) -> None:
    x = guitar_line(0.4, SR, seed=5)[0].astype(dtype)
    args = (K.CONTROL_HOP, -30.0, 4.0, K.KNEE_DB, 0.6, 0.97)
    ref = _plain_compressor_gain(x, *args, float32_level)
    state = np.array([0.0, 0.0, 0.0, 1.0, 1.0])
    got = np.concatenate([K.compressor_gain_block(x[i : i + block], state, *args, float32_level)
                          for i in range(0, x.size, block)])
    # float32 levels: numpy's and numba's float32 log10 may differ in the last place
    np.testing.assert_allclose(got, ref, rtol=1e-6 if float32_level else 1e-12)
    assert np.min(got) < 0.5  # it compresses
    if float32_level:
        y = K.compressor_block(x, np.array([0.0, 0.0, 0.0, 1.0, 1.0]), *args)
        np.testing.assert_array_equal(y, (x * got).astype(np.float32))


@pytest.mark.parametrize("n", [64, 65, 1000, 1001])
@pytest.mark.parametrize("length", [40, 64, 1500])
def test_rfft_values_and_gradient_equal_torch_fft(n: int, length: int) -> None:
    # the adjoint by one inverse real FFT against torch's own (a complex FFT of n): the same
    # gradient for even and odd n, padded (length < n) and cut (length > n) input
    g = torch.Generator().manual_seed(n + length)
    x = torch.randn(3, length, dtype=torch.float64, generator=g)
    w = torch.randn(n // 2 + 1, dtype=torch.complex128, generator=g)
    grads = []
    for fn in (lambda v: torch.fft.rfft(v, n=n), lambda v: F.rfft(v, n)):
        v = x.clone().requires_grad_(True)
        y = fn(v)
        loss = (y * w).real.sum() + 0.1 * (y.abs() ** 2).sum()
        grads.append((y.detach(), torch.autograd.grad(loss, v)[0]))
    (y_ref, g_ref), (y_new, g_new) = grads
    assert torch.equal(y_new, y_ref)
    np.testing.assert_allclose(g_new.numpy(), g_ref.numpy(), rtol=1e-10,
                               atol=1e-10 * float(g_ref.abs().max()))


def test_rfft_gradcheck() -> None:
    x = torch.randn(2, 30, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: torch.view_as_real(F.rfft(v, 48)), (x,))
