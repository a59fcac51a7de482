"""Each chain stage (`tonemorph.chain.functional`) against an independent reference.

Biquads vs the numpy cookbook designs and scipy; the minimum-phase FIR vs its requested
magnitude and a linear-phase twin; the compressor vs its closed-form static curve, its time
constants and a plain-loop ballistics; the waveshaper vs tanh, harmonic structure and an
`upfirdn` reference of the 2x oversampling, plus a measurement of its aliasing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from tonemorph.chain import functional as F
from tonemorph.chain.chain import ChainConfig
from tonemorph.dsp import biquad as npbq
from tonemorph.dsp.units import one_pole_coef

SR = 48000


def _t(v: float) -> torch.Tensor:
    return torch.tensor([v], dtype=torch.float64)


def _row(kind: str, freq_hz: float, gain_db: float, q: float, sr: float = SR) -> np.ndarray:
    return F.rbj_biquad(kind, _t(freq_hz), _t(gain_db), _t(q), sr)[:, 0].numpy()


def _np_design(kind: str, freq_hz: float, gain_db: float, q: float, sr: float = SR) -> np.ndarray:
    if kind == "highpass":
        return npbq.highpass(freq_hz, q, sr)
    if kind == "lowpass":
        return npbq.lowpass(freq_hz, q, sr)
    if kind == "peaking":
        return npbq.peaking(freq_hz, gain_db, q, sr)
    if kind == "low_shelf":
        return npbq.low_shelf(freq_hz, gain_db, q, sr)
    return npbq.high_shelf(freq_hz, gain_db, q, sr)


BIQUAD_CASES = [
    ("highpass", 10.0, 0.0, 0.707),
    ("highpass", 120.0, 0.0, 2.0),
    ("lowpass", 6000.0, 0.0, 0.707),
    ("lowpass", 150.0, 0.0, 0.5),
    ("peaking", 800.0, 9.0, 1.4),
    ("peaking", 3000.0, -18.0, 6.0),
    ("peaking", 100.0, 12.0, 0.3),
    ("low_shelf", 200.0, 6.0, 0.707),
    ("low_shelf", 60.0, -18.0, 0.5),
    ("high_shelf", 3000.0, -9.0, 0.707),
    ("high_shelf", 12000.0, 18.0, 1.0),
]


# --------------------------------------------------------------------------------- biquads


@pytest.mark.parametrize(("kind", "freq_hz", "gain_db", "q"), BIQUAD_CASES)
def test_rbj_biquad_equals_numpy_cookbook_design(kind: str, freq_hz: float, gain_db: float,
                                                 q: float) -> None:
    got = _row(kind, freq_hz, gain_db, q)
    want = _np_design(kind, freq_hz, gain_db, q)
    assert got.shape == (6,) and got[3] == 1.0
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("kind", "freq_hz", "gain_db", "q"), BIQUAD_CASES)
def test_rbj_biquad_magnitude_matches_sosfreqz(kind: str, freq_hz: float, gain_db: float,
                                               q: float) -> None:
    row = _row(kind, freq_hz, gain_db, q)
    freqs = np.geomspace(5.0, 23900.0, 301)
    _, h = scipy.signal.sosfreqz(row[None], worN=freqs, fs=SR)
    np.testing.assert_allclose(npbq.freq_response_db(row, freqs, SR),
                               20 * np.log10(np.abs(h)), atol=1e-9)
    # the designed gain lands where the cookbook says it does
    at_f = 20 * np.log10(np.abs(scipy.signal.sosfreqz(row[None], worN=[freq_hz], fs=SR)[1][0]))
    # peaking: gain_db at the centre; shelves: half of it at the corner; high/low-pass: |H| = q
    expected = {"peaking": gain_db, "low_shelf": gain_db / 2, "high_shelf": gain_db / 2,
                "highpass": 20 * math.log10(q), "lowpass": 20 * math.log10(q)}[kind]
    assert at_f == pytest.approx(expected, abs=1e-9)


def test_rbj_biquad_is_differentiable_and_batched() -> None:
    f = torch.tensor([100.0, 1000.0], dtype=torch.float64, requires_grad=True)
    g = torch.tensor([3.0, -6.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.7, 2.0], dtype=torch.float64, requires_grad=True)
    rows = F.rbj_biquad("peaking", f, g, q, SR)
    assert rows.shape == (6, 2)
    np.testing.assert_allclose(rows[:, 1].detach().numpy(),
                               npbq.peaking(1000.0, -6.0, 2.0, SR), rtol=1e-12)
    assert torch.autograd.gradcheck(lambda a, b, c: F.rbj_biquad("peaking", a, b, c, SR),
                                    (f, g, q))


def test_rbj_biquad_unknown_kind_raises() -> None:
    with pytest.raises(ValueError, match="bandpass"):
        F.rbj_biquad("bandpass", _t(100.0), _t(0.0), _t(1.0), SR)


def _cascade() -> torch.Tensor:
    rows = [_row(*c) for c in (("highpass", 80.0, 0.0, 0.707), ("peaking", 800.0, 6.0, 1.2),
                               ("low_shelf", 200.0, -4.0, 0.707),
                               ("high_shelf", 4000.0, 5.0, 0.707))]
    return torch.from_numpy(np.stack(rows))


@pytest.mark.parametrize("n_fft", [64, 1024, 8192])
def test_sos_response_equals_sosfreqz(n_fft: int) -> None:
    sos = _cascade()
    got = F.sos_response(sos, n_fft).numpy()
    w = np.linspace(0.0, np.pi, n_fft // 2 + 1)  # sos_response's grid includes Nyquist
    _, want = scipy.signal.sosfreqz(sos.numpy(), worN=w)
    assert got.shape == (n_fft // 2 + 1,)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("sos", "atol"), [
    (_cascade(), 1e-12),
    # a 10 Hz high-pass is the slowest filter the ranges allow: its IR has not quite died out
    # after IIR_GRID samples, so the FFT-derived IR carries a little time aliasing
    (torch.from_numpy(_row("highpass", 10.0, 0.0, 0.707)[None]), 1e-8),
])
def test_sos_ir_equals_sosfilt_impulse(sos: torch.Tensor, atol: float) -> None:
    ir = F.sos_ir(sos).numpy()
    impulse = np.zeros(F.IIR_GRID)
    impulse[0] = 1.0
    ref = scipy.signal.sosfilt(sos.numpy(), impulse)
    assert ir.shape == (F.IIR_GRID,)
    np.testing.assert_allclose(ir, ref, rtol=0, atol=atol)


# --------------------------------------------------------------------------- minimum phase


def _smooth_cab_curve() -> tuple[torch.Tensor, np.ndarray]:
    """A cabinet-like curve (low cut, presence bump, high roll-off) on the chain's 8192 grid."""
    cfg = ChainConfig()
    hz = cfg.band_hz()
    bands = (6 * np.exp(-(np.log2(hz / 2000) / 0.7) ** 2)
             - 30 / (1 + np.exp(-4 * np.log2(hz / 5000)))
             - 20 / (1 + np.exp(4 * np.log2(hz / 90))))
    curve = F.log_band_matrix(hz, cfg.cab_fft, cfg.sample_rate) @ torch.from_numpy(bands)
    return curve, np.fft.rfftfreq(cfg.cab_fft, 1 / cfg.sample_rate)


def test_minimum_phase_ir_magnitude_follows_the_curve() -> None:
    curve, _ = _smooth_cab_curve()
    ir = F.minimum_phase_ir(curve, 2048).numpy()
    got_db = 20 * np.log10(np.abs(np.fft.rfft(ir, 8192)))
    c = curve.numpy()
    matters = c > c.max() - 30.0  # within 30 dB of the loudest part
    err = np.abs(got_db - c)[matters]
    print(f"min-phase cab: max error {err.max():.3f} dB where within 30 dB of the peak")
    assert err.max() < 0.1  # measured 0.027 dB


def test_minimum_phase_ir_front_loads_energy_vs_linear_phase() -> None:
    curve, _ = _smooth_cab_curve()
    n_taps, n_fft = 2048, 8192
    mp = F.minimum_phase_ir(curve, n_taps).numpy()
    # independent linear-phase twin: zero-phase IR of the same magnitude, centred, Hann window
    zero_phase = np.fft.irfft(10 ** (curve.numpy() / 20), n_fft)
    lp = np.roll(zero_phase, n_taps // 2)[:n_taps] * np.hanning(n_taps)
    e_mp = np.cumsum(mp**2) / np.sum(mp**2)
    e_lp = np.cumsum(lp**2) / np.sum(lp**2)
    # a minimum-phase filter has the most partial energy of all filters of its magnitude
    assert np.all(e_mp >= e_lp - 1e-3)
    assert e_mp[n_taps // 8] > 0.99
    assert e_lp[n_taps // 8] < 0.01
    assert int(np.argmax(np.abs(mp))) < 32


def test_minimum_phase_ir_zeros_inside_unit_circle() -> None:
    n_fft, n_taps = 256, 32
    f = np.linspace(0.0, 1.0, n_fft // 2 + 1)
    curve = torch.from_numpy(-12 * np.exp(-(((f - 0.3) / 0.1) ** 2)) + 6 * f)
    ir = F.minimum_phase_ir(curve, n_taps).numpy()
    roots = np.roots(ir)
    assert len(roots) == n_taps - 1
    assert np.max(np.abs(roots)) < 1.0
    got_db = 20 * np.log10(np.abs(np.fft.rfft(ir, n_fft)))
    assert np.max(np.abs(got_db - curve.numpy())) < 0.5


def test_minimum_phase_ir_flat_curve_is_an_impulse() -> None:
    ir = F.minimum_phase_ir(torch.zeros(4097, dtype=torch.float64), 1024).numpy()
    expected = np.zeros(1024)
    expected[0] = 1.0
    np.testing.assert_allclose(ir, expected, atol=1e-12)


# ------------------------------------------------------------------------------ compressor


def _closed_form_gr_db(level_db: np.ndarray, threshold_db: float, ratio: float) -> np.ndarray:
    """Hard-knee compressor: gain reduction (dB) above threshold, 0 below."""
    over = level_db - threshold_db
    return np.where(over > 0, (1 / ratio - 1) * over, 0.0)


@pytest.mark.parametrize(("threshold_db", "ratio"), [(-20.0, 4.0), (-40.0, 20.0), (0.0, 1.5),
                                                     (-70.0, 1.0)])
def test_gain_computer_matches_hard_knee_outside_the_knee(threshold_db: float,
                                                          ratio: float) -> None:
    level = np.linspace(-100.0, 20.0, 12001)
    got = F.gain_computer_db(torch.from_numpy(level), torch.tensor(threshold_db,
                             dtype=torch.float64), torch.tensor(ratio, dtype=torch.float64))
    got = got.numpy()
    outside = np.abs(level - threshold_db) > F.KNEE_DB / 2
    np.testing.assert_allclose(got[outside], _closed_form_gr_db(level, threshold_db,
                                                                ratio)[outside], atol=1e-12)
    assert np.all(got <= 0.0)
    assert np.all(np.diff(got) <= 1e-12)  # more level never means less reduction
    # the soft knee rounds the corner from below: at most KNEE_DB/8 * slope away from it
    inside = ~outside
    hard = _closed_form_gr_db(level, threshold_db, ratio)[inside]
    assert np.all(got[inside] <= hard + 1e-12)
    assert np.all(got[inside] >= hard + (1 / ratio - 1) * F.KNEE_DB / 8 - 1e-12)


@pytest.mark.parametrize("ratio", [1.5, 4.0, 20.0])
def test_gain_computer_continuous_with_continuous_slope_at_knee_edges(ratio: float) -> None:
    thr = torch.tensor(-24.0, dtype=torch.float64)
    r = torch.tensor(ratio, dtype=torch.float64)
    eps = 1e-7
    slope = 1 / ratio - 1
    for edge in (-F.KNEE_DB / 2, F.KNEE_DB / 2):
        lv = torch.tensor([edge - eps, edge + eps], dtype=torch.float64, requires_grad=True)
        g = F.gain_computer_db(lv - 24.0, thr, r)
        assert abs(float((g[1] - g[0]).detach())) < 1e-6
        (grad,) = torch.autograd.grad(g.sum(), lv)
        want = 0.0 if edge < 0 else slope
        np.testing.assert_allclose(grad.numpy(), [want, want], atol=1e-5)
    # in the middle of the knee: half the slope, and the classic T/R offset of a soft knee
    mid = F.gain_computer_db(torch.tensor([-24.0], dtype=torch.float64), thr, r)
    assert float(mid) == pytest.approx(slope * F.KNEE_DB / 8)


def _step_gain_db(attack_ms: float, release_ms: float, ratio: float = 20.0
                  ) -> tuple[np.ndarray, int, int, float]:
    """Gain (dB) of compressor_gain for a level step up at s0 and down at s1 (steady DC levels)."""
    hop = F.CONTROL_HOP
    s0 = 200 * hop
    s1 = s0 + int(10 * attack_ms * SR / 1000) // hop * hop + 400 * hop
    n = s1 + int(10 * release_ms * SR / 1000) // hop * hop + 400 * hop
    x = np.full(n, 10 ** (-60 / 20))
    x[s0:s1] = 10 ** (-10 / 20)  # 10 dB above the threshold
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)
    g = F.compressor_gain(torch.from_numpy(x)[None], SR, f64(-20.0), f64(ratio), f64(attack_ms),
                          f64(release_ms))[0].numpy()
    final_db = (1 / ratio - 1) * 10.0
    return 20 * np.log10(g), s0, s1, final_db


@pytest.mark.parametrize(("attack_ms", "release_ms"), [(5.0, 50.0), (20.0, 300.0),
                                                       (1.0, 1000.0)])
def test_compressor_time_constants(attack_ms: float, release_ms: float) -> None:
    g_db, s0, s1, final_db = _step_gain_db(attack_ms, release_ms)
    hop_ms = 1000 * F.CONTROL_HOP / SR
    assert np.all(np.abs(g_db[:s0]) < 1e-9)  # below threshold: no gain change
    assert g_db[s1 - 1] == pytest.approx(final_db, abs=1e-3)  # steady state: hard-knee value
    # attack: 1 - 1/e of the final reduction after attack_ms
    reached = s0 + int(np.argmax(g_db[s0:] <= (1 - 1 / math.e) * final_db))
    t_att = 1000 * (reached - s0) / SR
    # release: back to 1/e of the reduction after release_ms
    back = s1 + int(np.argmax(g_db[s1:] >= final_db / math.e))
    t_rel = 1000 * (back - s1) / SR
    print(f"attack {attack_ms} ms -> {t_att:.2f} ms, release {release_ms} ms -> {t_rel:.2f} ms")
    # the control path adds 1-2 hops of latency (hop level, then a ramp over the next hop)
    assert attack_ms - hop_ms <= t_att <= attack_ms + 3 * hop_ms
    assert release_ms - hop_ms <= t_rel <= release_ms + 3 * hop_ms
    assert abs(g_db[-1]) < 1e-3


def test_compressor_gain_is_causal() -> None:
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.standard_normal((1, 4800)) * 0.3)
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)
    args = (SR, f64(-30.0), f64(8.0), f64(2.0), f64(50.0))
    g = F.compressor_gain(x, *args)
    y = x.clone()
    y[:, 3000:] *= 4.0
    g2 = F.compressor_gain(y, *args)
    np.testing.assert_array_equal(g[:, :3000].numpy(), g2[:, :3000].numpy())
    assert not torch.equal(g[:, 3100:], g2[:, 3100:])


def _ballistics_loop(target: np.ndarray, a_att: float, a_rel: float) -> np.ndarray:
    y = np.zeros_like(target)
    for i in range(target.shape[0]):
        prev = 0.0
        for n in range(target.shape[1]):
            a = a_att if target[i, n] < prev else a_rel
            prev = a * prev + (1 - a) * target[i, n]
            y[i, n] = prev
    return y


def test_ballistics_equals_plain_loop() -> None:
    rng = np.random.default_rng(1)
    target = np.minimum(rng.normal(-6.0, 6.0, (3, 500)), 0.0)
    got = F.ballistics(torch.from_numpy(target), torch.tensor(0.8, dtype=torch.float64),
                       torch.tensor(0.97, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, _ballistics_loop(target, 0.8, 0.97), rtol=0, atol=1e-12)


def test_ballistics_gradcheck() -> None:
    rng = np.random.default_rng(2)
    target = torch.tensor(-np.abs(rng.normal(0.0, 8.0, (2, 12))), dtype=torch.float64,
                          requires_grad=True)
    a_att = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    a_rel = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(F.ballistics, (target, a_att, a_rel), eps=1e-6, atol=1e-7)


def test_time_coef_one_pole_reaches_1_minus_1_over_e_after_time_ms() -> None:
    rate = SR / F.CONTROL_HOP
    a = float(F.time_coef(torch.tensor(40.0, dtype=torch.float64), rate))
    hops = 40.0 * rate / 1000
    assert a**hops == pytest.approx(1 / math.e)


# --------------------------------------------------------------------------------- shaper


def test_soft_clip_is_tanh_within_1e_4_monotone_and_odd() -> None:
    u = torch.linspace(-20.0, 20.0, 400001, dtype=torch.float64)
    y = F.soft_clip(u)
    assert float((y - torch.tanh(u)).abs().max()) < 1e-4
    assert bool(torch.all(torch.diff(y) >= 0))
    assert torch.equal(F.soft_clip(-u), -y)
    assert float(y.abs().max()) <= 1.0 + 1e-12


def _shape(u: np.ndarray, drive: float, bias: float) -> np.ndarray:
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)
    return F.asym_shaper(torch.from_numpy(u), f64(drive), f64(bias)).numpy()


@pytest.mark.parametrize("drive", [0.1, 1.0, 10.0, 300.0])
def test_asym_shaper_without_bias_is_odd(drive: float) -> None:
    u = np.linspace(-2.0, 2.0, 4001)
    y = _shape(u, drive, 0.0)
    np.testing.assert_allclose(_shape(-u, drive, 0.0), -y, rtol=0, atol=1e-15)


@pytest.mark.parametrize("bias", [-0.9, -0.3, 0.0, 0.2, 0.9])
@pytest.mark.parametrize("drive", [0.1, 1.0, 30.0])
def test_asym_shaper_has_unit_small_signal_gain(drive: float, bias: float) -> None:
    h = 1e-7
    y = _shape(np.array([-h, 0.0, h]), drive, bias)
    assert y[1] == pytest.approx(0.0, abs=1e-15)  # silence in, silence out (no DC offset)
    assert (y[2] - y[0]) / (2 * h) == pytest.approx(1.0, abs=1e-6)


def _harmonic_db(y: np.ndarray, cycles: int, k: int) -> float:
    """Level (dB re the fundamental) of harmonic k of a signal holding `cycles` whole periods."""
    spec = np.abs(np.fft.rfft(y))
    return float(20 * np.log10(spec[k * cycles] / spec[cycles] + 1e-300))


def test_asym_shaper_bias_makes_even_harmonics() -> None:
    n, cycles = 4800, 10
    x = 0.5 * np.sin(2 * np.pi * cycles * np.arange(n) / n)
    sym = _shape(x, 10.0, 0.0)
    asym = _shape(x, 10.0, 0.3)
    h2_sym, h2_asym = _harmonic_db(sym, cycles, 2), _harmonic_db(asym, cycles, 2)
    h3_sym = _harmonic_db(sym, cycles, 3)
    print(f"2nd harmonic: bias 0 {h2_sym:.0f} dB, bias 0.3 {h2_asym:.1f} dB; 3rd {h3_sym:.1f} dB")
    assert h2_sym < -100.0
    assert h2_asym > -30.0
    assert h3_sym > -20.0  # the symmetric clipper makes odd harmonics


def _upfirdn_reference(x: np.ndarray, drive: float, bias: float, h: np.ndarray) -> np.ndarray:
    t = x.shape[-1]
    up = 2 * scipy.signal.upfirdn(h, x, up=2)[: 2 * t]
    v = _shape(up, drive, bias)
    return scipy.signal.upfirdn(h, v, down=2)[:t]


@pytest.mark.parametrize(("drive_db", "bias", "n"), [(0.0, 0.0, 1000), (24.0, 0.2, 4801),
                                                     (40.0, -0.7, 333)])
def test_shaper_2x_equals_upfirdn_reference(drive_db: float, bias: float, n: int) -> None:
    rng = np.random.default_rng(int(drive_db) + n)
    x = rng.standard_normal(n) * 0.3
    h = F.oversample_fir()
    drive = 10 ** (drive_db / 20)
    got = F.shaper_2x(torch.from_numpy(x)[None], torch.tensor(drive, dtype=torch.float64),
                      torch.tensor(bias, dtype=torch.float64), torch.from_numpy(h))[0].numpy()
    np.testing.assert_allclose(got, _upfirdn_reference(x, drive, bias, h), rtol=0, atol=1e-12)


def test_oversample_fir_is_a_halfband_lowpass() -> None:
    h = F.oversample_fir()
    assert len(h) == F.OVERSAMPLE_TAPS
    np.testing.assert_allclose(h, h[::-1], atol=1e-15)  # linear phase
    assert h.sum() == pytest.approx(1.0, abs=1e-9)  # unit DC gain at the 2x rate
    _, resp = scipy.signal.freqz(h, worN=[1000.0, 18000.0, 24000.0, 30000.0, 40000.0],
                                 fs=2 * SR)
    db = 20 * np.log10(np.abs(resp))
    assert abs(db[0]) < 0.01 and abs(db[1]) < 0.5
    assert db[2] == pytest.approx(-6.02, abs=0.1)
    assert db[3] < -50 and db[4] < -50


def _alias_db(drive_db: float, freq_hz: float = 5000.0, below_hz: float = SR / 2
              ) -> tuple[float, float]:
    """Largest non-harmonic component (dB re the fundamental) of a sine through shaper_2x."""
    n = SR
    t = np.arange(n) / SR
    x = 0.5 * np.sin(2 * np.pi * freq_hz * t)
    y = F.shaper_2x(torch.from_numpy(x)[None],
                    torch.tensor(10 ** (drive_db / 20), dtype=torch.float64),
                    torch.tensor(0.0, dtype=torch.float64),
                    torch.from_numpy(F.oversample_fir()))[0].numpy()
    seg = y[SR // 10: SR // 10 + 38400]  # 0.8 s: every harmonic and alias lands on a bin
    spec = np.abs(np.fft.rfft(seg * scipy.signal.windows.blackmanharris(len(seg))))
    f = np.fft.rfftfreq(len(seg), 1 / SR)
    db = 20 * np.log10(spec / spec.max() + 1e-20)
    harmonic = np.zeros(f.shape, bool)
    for k in range(1, int(SR / 2 / freq_hz) + 1):
        harmonic |= np.abs(f - k * freq_hz) < 20.0
    other = ~harmonic & (f > 20.0) & (f < below_hz)
    i = int(np.argmax(np.where(other, db, -np.inf)))
    return float(db[i]), float(f[i])


def test_shaper_2x_aliasing_at_30_db_drive_measured() -> None:
    worst, at = _alias_db(30.0)
    audible, at_audible = _alias_db(30.0, below_hz=16000.0)
    mild, at_mild = _alias_db(12.0)
    print(f"5 kHz sine at +30 dB drive, 48 kHz: largest alias {worst:.1f} dB at {at:.0f} Hz, "
          f"below 16 kHz {audible:.1f} dB at {at_audible:.0f} Hz; "
          f"+12 dB drive: {mild:.1f} dB at {at_mild:.0f} Hz")
    # measured: -25.4 dB at 23 kHz (5th harmonic 25 kHz sits in the halfband FIR's transition
    # band, -10.8 dB), -28.4 dB at 11 kHz, -30.2 dB at 1 kHz (19th harmonic 95 kHz folds at the
    # 96 kHz rate); +12 dB drive: -39 dB. Guard against regressions beyond these numbers.
    assert worst < -24.0
    assert audible < -27.0
    assert mild < -37.0


@pytest.mark.xfail(strict=True, reason="2x oversampling of a +30 dB drive leaves aliases "
                   "-25 dB (23 kHz) / -28 dB (11 kHz) / -30 dB (1 kHz) re the fundamental; "
                   "DESIGN.md 2.3 asks for 4x or ADAA where it matters")
def test_shaper_2x_aliasing_meets_design_goal_of_30_db() -> None:
    worst, _ = _alias_db(30.0)
    assert worst < -30.0


# --------------------------------------------------------------------------- peak limit


def _limit(x: np.ndarray, ceiling: float, sr: float = 48000.0) -> tuple[np.ndarray, np.ndarray]:
    """(gain, output) of the peak limit over x from rest; the output is L - 1 samples late."""
    from tonemorph.chain import kernels as K

    y, g = K.limit_block(x.astype(np.float32), ceiling, one_pole_coef(K.LIMIT_RELEASE_MS, sr),
                         *K.limit_state(sr))
    return g, y


def test_peak_limit_ramps_to_a_spike_over_its_lookahead_then_recovers_exponentially() -> None:
    from tonemorph.chain import kernels as K

    sr, c, p = 48000.0, 0.5, 100
    n = K.limit_lookahead(sr)
    assert n == 48  # 1 ms
    x = np.full(4800, 0.1 * c, np.float32)
    x[p] = 2 * c  # needs gain 1/2
    g, y = _limit(x, c, sr)
    # the output is x delayed by n - 1 samples, times the gain
    late = np.concatenate([np.zeros(n - 1, np.float32), x[: x.size - n + 1]])
    assert np.allclose(y, late * g, rtol=1e-7, atol=0)
    assert np.all(g[:p] == 1.0)
    # a straight ramp down over the look-ahead, not a step: 1 - k/n * (1 - 1/2)
    ramp = 1.0 - 0.5 * np.arange(1, n + 1) / n
    assert np.allclose(g[p: p + n], ramp, rtol=0, atol=1e-12)
    # the spike comes out n - 1 samples late, exactly at the ceiling
    assert y[p + n - 1] == pytest.approx(c, rel=1e-6)
    # closed form after the hold: the released gain 1 - (1/2) a^k, averaged over n samples
    a = math.exp(-1000.0 / (K.LIMIT_RELEASE_MS * sr))
    released = np.concatenate([np.full(n, 0.5), 1 - 0.5 * a ** np.arange(1, 4800 - p - n + 1)])
    expect = np.convolve(np.concatenate([np.ones(n - 1), released]), np.ones(n) / n, "valid")
    assert np.allclose(g[p:], expect, rtol=0, atol=1e-12)
    # after one release time constant (and the hold) the reduction has fallen to about 1/e
    n_tau = int(K.LIMIT_RELEASE_MS * sr / 1000)
    assert 1 - g[p + n + n_tau] == pytest.approx(0.5 / math.e, rel=0.03)


def test_peak_limit_equals_a_plain_sliding_minimum_release_and_mean() -> None:
    from tonemorph.chain import kernels as K

    # an independent reference: the window minimum by brute force, the release recursion,
    # the box mean by convolution, the output by delaying x
    sr, c = 44100.0, 0.25
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(6000) * 0.1 * (1 + 5 * (rng.random(6000) > 0.99))).astype(
        np.float32)
    g, y = _limit(x, c, sr)
    n = K.limit_lookahead(sr)
    a = np.abs(x.astype(np.float64))
    need = np.concatenate([np.ones(n - 1), np.where(a <= c, 1.0, c / np.maximum(a, 1e-30))])
    hold = np.lib.stride_tricks.sliding_window_view(need, n).min(axis=1)
    rel_coef = one_pole_coef(K.LIMIT_RELEASE_MS, sr)
    released, r = np.empty(x.size), 1.0
    for i, h in enumerate(hold):
        r = min(h, 1.0 - (1.0 - r) * rel_coef)
        released[i] = r
    mean = np.convolve(np.concatenate([np.ones(n - 1), released]), np.ones(n) / n, "valid")
    assert np.allclose(g, np.minimum(mean, 1.0), rtol=0, atol=1e-12)
    late = np.concatenate([np.zeros(n - 1), x[: x.size - n + 1].astype(np.float64)])
    assert np.allclose(y, late * g, rtol=1e-7, atol=1e-9)


def test_peak_limit_gain_moves_at_most_its_reduction_over_the_lookahead_per_sample() -> None:
    from tonemorph.chain import kernels as K

    # a loud, spiky signal: the gain never steps (the clicks and fizz of a gain that fell
    # at once on each waveform peak), it falls by at most (1 - min gain) / n per sample
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(48000) * 0.2 * (1 + 4 * (rng.random(48000) > 0.995))).astype(
        np.float32)
    g, _ = _limit(x, 0.3)
    n = K.limit_lookahead(48000.0)
    assert g.min() < 0.5
    assert np.max(-np.diff(g)) <= (1 - g.min()) / n + 1e-12


def test_peak_limit_never_exceeds_the_ceiling_and_leaves_quieter_audio_alone() -> None:
    from tonemorph.chain import kernels as K

    rng = np.random.default_rng(0)
    x = (rng.standard_normal(48000) * 0.3).astype(np.float32)
    g, y = _limit(x, 0.6)
    assert np.max(np.abs(y)) <= 0.6 * (1 + 1e-6)
    assert np.all((g > 0) & (g <= 1))
    g, y = _limit(x, 10.0)  # above every sample: a pure delay
    late = K.limit_lookahead(48000.0) - 1
    assert np.all(g == 1.0) and np.array_equal(y[late:], x[: x.size - late])
    assert np.all(y[:late] == 0.0)


def test_peak_limit_is_odd_and_blocks_equal_offline() -> None:
    from tonemorph.chain.stages.limit import LimitOp

    rng = np.random.default_rng(1)
    x = (rng.standard_normal(10000) * 0.4).astype(np.float32)
    _, y = _limit(x, 0.5)
    _, y_neg = _limit(-x, 0.5)
    assert np.array_equal(y_neg, -y)
    op = LimitOp(0.5, 48000.0)
    blocks = np.concatenate([op(b) for b in np.array_split(x, [1, 30, 65, 700, 4096])])
    assert np.array_equal(blocks, y)


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
def test_peak_limit_latency_is_its_lookahead_less_one_at_every_rate(sr: int) -> None:
    from tonemorph.chain import kernels as K
    from tonemorph.chain.config import ChainConfig

    n = K.limit_lookahead(sr)
    assert n == round(sr / 1000)
    cfg = ChainConfig(stages=("drive", "limit"), sample_rate=sr)
    assert cfg.latency_samples == (K.OVERSAMPLE_TAPS - 1) // 2 + n - 1
    assert ChainConfig(stages=("drive",), sample_rate=sr).latency_samples == 23


def test_peak_limit_torch_is_delayed_and_passes_the_gradient_scaled_by_its_gain() -> None:
    from tonemorph.chain import kernels as K

    late = K.limit_lookahead(48000.0) - 1
    x = torch.zeros(1, 200)
    x[0, 10], x[0, 11], x[0, 120] = 0.9, 0.2, 0.3
    x.requires_grad_(True)
    y = F.peak_limit(x, 0.5, 48000.0)
    y.sum().backward()
    g, ref = _limit(x.detach().numpy()[0], 0.5)
    assert np.allclose(y.detach().numpy()[0], ref, atol=1e-7)
    # y[n] = x[n - late] g[n]: the gradient at x[j] is g[j + late] (none past the end)
    assert np.allclose(x.grad.numpy()[0, : 200 - late], g[late:], atol=1e-7)
    assert np.all(x.grad.numpy()[0, 200 - late:] == 0.0)
    # never engaged: a pure delay
    z = F.peak_limit(x.detach() * 0.1, 0.5, 48000.0)
    assert torch.equal(z[0, late:], x.detach()[0, : 200 - late] * 0.1)


def test_fft_len_is_the_smallest_even_5_smooth_size_at_least_n() -> None:
    def smooth(m: int) -> bool:
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        return m == 1

    for n in [*range(1, 2000), 72064, 90432, 131072, 131073]:
        m = F.fft_len(n)
        assert m >= n and m % 2 == 0 and smooth(m), n
        assert not any(c % 2 == 0 and smooth(c) for c in range(n, m)), n
    assert F.fft_len(90432) == 92160 < 131072  # a default segment's chain filter


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_asym_shaper_gradients_equal_autograd_of_its_formula(dtype: torch.dtype) -> None:
    # the closed-form backward (one compiled pass) against autograd through the expression,
    # clamped samples (|g u + b| > the clipper's limit) included
    g = torch.Generator().manual_seed(2)
    u = torch.randn(3, 500, dtype=dtype, generator=g) * 0.6
    u[0, :3] = torch.tensor([10.0, -10.0, 0.0], dtype=dtype)
    w = torch.randn(3, 500, dtype=dtype, generator=g)
    grads = []
    for fn in (lambda a, d, b: (F.soft_clip(d * a + b) - F.soft_clip(b))
               / (d * (1 - F.soft_clip(b) ** 2)), F.asym_shaper):
        args = [u.clone(), torch.tensor([8.0], dtype=dtype), torch.tensor([0.2], dtype=dtype)]
        args = [a.requires_grad_() for a in args]
        y = fn(*args)
        grads.append((y.detach(), torch.autograd.grad((y * w).sum(), args)))
    (y_ref, g_ref), (y_new, g_new) = grads
    assert torch.equal(y_new, y_ref)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for a, b in zip(g_new, g_ref):
        assert float((a - b).abs().max()) <= tol * float(b.abs().max())


def test_asym_shaper_gradcheck() -> None:
    g = torch.Generator().manual_seed(3)
    u = torch.randn(2, 40, dtype=torch.float64, generator=g).requires_grad_()
    drive = torch.tensor([3.0], dtype=torch.float64, requires_grad=True)
    bias = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(F.asym_shaper, (u, drive, bias))
