"""Latency detection through amp and pedal chains in numpy: heavy asymmetric drive into a long
resonant cabinet, polarity inversion, band-limiting, a +40 dB fuzz, a compressor; known integer,
negative and sub-sample delays; refusal of a different performance, of noise and of a different
take of the same riff through the same chain."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from signals import guitar_line, riff_take, white_noise

from tonemorph.dsp.align import align_pair, detect_latency
from tonemorph.errors import AudioContentError

SR = 48000
TOL = 0.1e-3 * SR  # 0.1 ms in samples


def cab_ir(seconds: float = 0.05, seed: int = 0) -> np.ndarray:
    """A cabinet-like FIR: a close-miked speaker's sharp start, resonances (110 Hz to 3.2 kHz)
    ringing for tens of ms, low-passed at 5 kHz; causal, starting at tap 0."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    h = np.zeros(len(t))
    for f, tau, a in ((110, 0.02, 1.0), (420, 0.008, 0.6), (1800, 0.004, 0.8), (3200, 0.002, 0.5)):
        h += a * np.exp(-t / tau) * np.sin(2 * np.pi * f * t + rng.uniform(0.3, 1.2))
    h += 0.3 * rng.standard_normal(len(t)) * np.exp(-t / 0.003)
    h[0] += 2.0  # the direct sound
    h = scipy.signal.sosfilt(scipy.signal.butter(2, 5000, fs=SR, output="sos"), h)
    return h / np.abs(h).max()


def amp_cab(x: np.ndarray) -> np.ndarray:
    """Clean when soft, crunchy when hard: +40 dB into a biased (asymmetric) tanh stage, a mid
    scoop, +20 dB into a second one, a presence boost, cab_ir, and hiss 60 dB under the signal.
    The old whitened correlation over 80 Hz - 8 kHz refused it; its distortion products and
    the hiss left next to nothing coherent above 2 kHz."""
    u = 100.0 * scipy.signal.sosfilt(scipy.signal.butter(1, 500, "highpass", fs=SR,
                                                          output="sos"), x)
    u = np.tanh(u + 0.4) - np.tanh(0.4)
    u = scipy.signal.sosfilt(scipy.signal.butter(2, [300, 1500], "bandstop", fs=SR,
                                                 output="sos"), u)
    u = np.tanh(10.0 * u + 0.2) - np.tanh(0.2)
    u += 2 * scipy.signal.sosfilt(scipy.signal.butter(2, [2000, 5000], "bandpass", fs=SR,
                                                      output="sos"), u)
    y = scipy.signal.fftconvolve(u, cab_ir())[: len(x)]
    return y + 1e-3 * np.std(y) * np.random.default_rng(0).standard_normal(len(y))


def band_limit(x: np.ndarray) -> np.ndarray:
    """4 kHz low-pass (8th order) and 200 Hz high-pass (4th order) Butterworth."""
    sos = np.vstack([scipy.signal.butter(8, 4000, fs=SR, output="sos"),
                     scipy.signal.butter(4, 200, "highpass", fs=SR, output="sos")])
    return scipy.signal.sosfilt(sos, x)


def fuzz(x: np.ndarray) -> np.ndarray:
    """Hard clip after +40 dB of gain: a square wave of the input's sign."""
    return 0.5 * np.clip(100 * x, -1.0, 1.0)


def compressor(x: np.ndarray, threshold_db: float = -30.0, ratio: float = 8.0,
               attack_ms: float = 3.0, release_ms: float = 80.0) -> np.ndarray:
    """Feed-forward peak compressor (no look-ahead) with +12 dB make-up, a plain loop."""
    a_att = np.exp(-1 / (attack_ms * 1e-3 * SR))
    a_rel = np.exp(-1 / (release_ms * 1e-3 * SR))
    over = np.maximum(20 * np.log10(np.abs(x) + 1e-9) - threshold_db, 0) * (1 - 1 / ratio)
    gr = np.empty(len(x))
    g = 0.0
    for i, o in enumerate(over):
        a = a_att if o > g else a_rel
        g = a * g + (1 - a) * o
        gr[i] = g
    return x * 10 ** ((12 - gr) / 20)


CHAINS = {
    "amp+cab": amp_cab,
    "amp+cab inverted": lambda x: -amp_cab(x),
    "lp 4 kHz + hp 200 Hz": band_limit,
    "fuzz +40 dB": fuzz,
    "compressor": compressor,
}


def delay(y: np.ndarray, d: float) -> np.ndarray:
    """y delayed by d samples (negative: advanced, its start cut; fractional: FFT phase ramp)."""
    if d != int(d):
        m = 2 * len(y) + 2 * int(abs(d)) + 16
        f = np.fft.rfftfreq(m)
        z = np.fft.irfft(np.fft.rfft(y, m) * np.exp(-2j * np.pi * f * d), m)
        return z[: len(y) + max(int(d), 0)] if d > 0 else z[: len(y)]
    d = int(d)
    return np.concatenate([np.zeros(d), y]) if d >= 0 else y[-d:]


@pytest.fixture(scope="module")
def dis() -> dict[str, np.ndarray]:
    """Two DIs: the synthetic guitar line and 8 s of the bundled (FluidSynth) guitar take."""
    # read directly: a dsp test need not import the learning stack behind tonemorph.demo
    with resources.as_file(resources.files("tonemorph") / "data" / "demo_input.flac") as p:
        audio, sr = sf.read(p, dtype="float32", always_2d=True)
    assert sr == SR
    audio = audio.T
    return {"synthetic": guitar_line(8.0, SR, seed=1)[0].astype(np.float64),
            "demo": audio.mean(axis=0)[: 8 * SR].astype(np.float64)}


def response_span(chain: str) -> tuple[int, int]:
    """Where the chain's response to a small click starts (1 % of its peak) and peaks
    (samples): the latency of the gear itself lies in between."""
    click = np.zeros(4096)
    click[0] = 1e-4
    h = np.abs(CHAINS[chain](click))
    return int(np.argmax(h >= 0.01 * h.max())), int(np.argmax(h))


@pytest.mark.parametrize("chain", list(CHAINS))
def test_known_delays_through_the_chain(dis: dict[str, np.ndarray], chain: str) -> None:
    # the latency found lies on the gear's own response (between its start and its peak, to
    # 0.1 ms) and moves with an added delay, positive, negative or long, to 0.1 ms
    start, peak = response_span(chain)
    for name, x in dis.items():
        y = CHAINS[chain](x)
        own = detect_latency(x, y, SR)
        assert own.confident, (name, own)
        assert start - TOL <= own.lag_samples <= peak + TOL, (name, own)
        for d in (77, -300, 24000):
            al = detect_latency(x, delay(y, d), SR)
            assert al.confident, (name, d, al)
            assert abs(al.lag_samples - d - own.lag_samples) <= TOL, (name, d, al)
            assert al.polarity == own.polarity


def test_polarity_inversion_is_found(dis: dict[str, np.ndarray]) -> None:
    # the same lag either way, the polarity flipped
    for x in dis.values():
        y = amp_cab(x)
        upright, inverted = detect_latency(x, y, SR), detect_latency(x, -y, SR)
        assert upright.confident and inverted.confident
        assert inverted.polarity == -upright.polarity
        assert inverted.lag_samples == upright.lag_samples
        assert inverted.lag_exact == pytest.approx(upright.lag_exact, abs=1e-6)


@pytest.mark.parametrize("chain", ["amp+cab", "fuzz +40 dB"])
def test_sub_sample_delays_through_the_chain(dis: dict[str, np.ndarray], chain: str) -> None:
    # a fractional delay moves the correlation peak by itself (a band-limited fractional delay
    # has no start of its own, so the onset is not compared)
    x = dis["synthetic"]
    y = CHAINS[chain](x)
    ref = detect_latency(x, y, SR).lag_exact
    for d in (12.5, -40.25):
        al = detect_latency(x, delay(y, d), SR)
        assert al.confident
        assert al.lag_exact - ref == pytest.approx(d, abs=0.35)


def test_a_different_performance_through_the_chain_is_refused(dis: dict[str, np.ndarray]) -> None:
    x = dis["synthetic"]
    for seed in (2, 3):
        other = guitar_line(8.0, SR, seed=seed)[0].astype(np.float64)
        assert not detect_latency(x, amp_cab(other), SR).confident
    with pytest.raises(AudioContentError, match="do not look like the same performance"):
        align_pair(dis["demo"], amp_cab(x), SR)


def test_noise_is_refused(dis: dict[str, np.ndarray]) -> None:
    noise = white_noise(8.0, SR, seed=5)[0].astype(np.float64)
    for x in dis.values():
        assert not detect_latency(x, noise, SR).confident
        assert not detect_latency(x, fuzz(noise), SR).confident


@pytest.mark.parametrize("jitter_ms", [3.0, 15.0])
def test_another_take_of_the_same_riff_is_refused(jitter_ms: float) -> None:
    # same notes, same rhythm, onsets within a few ms: still another performance
    a, b = (riff_take(8.0, SR, take=t, jitter_ms=jitter_ms)[0].astype(np.float64) for t in (1, 2))
    assert not detect_latency(a, b, SR).confident
    assert not detect_latency(a, amp_cab(b), SR).confident
    # ... while each take through the chain lines up with itself
    assert detect_latency(b, amp_cab(b), SR).confident
