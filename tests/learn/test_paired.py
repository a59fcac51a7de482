"""The paired training engine on a known linear system, grey-box capture of a known chain, and
`tonemorph learn --paired` end to end on small generated files (latency, ESR, refusals)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch
from signals import guitar_line, white_noise
from tones import SR, chain_with, render
from typer.testing import CliRunner

import tonemorph
from tonemorph.cli import app
from tonemorph.errors import AudioContentError, ParameterError
from tonemorph.learn.paired import _loudest_start, fit_paired_chain
from tonemorph.learn.train import SCORED_PER_STEP, fit_module, predict, segment_plan
from tonemorph.losses.paired import esr

runner = CliRunner()


class Fir(torch.nn.Module):
    """A causal FIR y[n] = sum_k w[k] x[n - k] as a (B, T) -> (B, T) module."""

    def __init__(self, taps: int):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(taps))
        self.warmup_samples = taps - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp = torch.nn.functional.pad(x[:, None], (len(self.w) - 1, 0))
        return torch.nn.functional.conv1d(xp, self.w.flip(0)[None, None])[:, 0]


H = np.array([0.6, -0.3, 0.2, 0.1, -0.05, 0.02])  # the unknown system of the engine tests


@pytest.fixture(scope="module")
def fir_pair() -> tuple[np.ndarray, np.ndarray]:
    x = white_noise(1.0, SR, amplitude=0.3, seed=5)[0]
    return x, scipy.signal.lfilter(H, [1.0], x).astype(np.float32)


def test_engine_recovers_a_known_fir(fir_pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = fir_pair
    fit = fit_module(Fir(len(H)), x, y, SR, steps=60, lr=0.05, mrstft_weight=0.0,
                     pre_emphasis=None, segment_samples=512, batch_size=4, val_every=20)
    w = fit.module.w.detach().numpy()
    np.testing.assert_allclose(w, H, atol=0.02)
    assert fit.esr < 1e-3 < fit.history[0][1]  # from ESR 1 (zero weights) to near 0
    assert fit.steps == 60 and fit.mrstft < 0.2
    # the trained module is what scipy computes with its weights
    ref = scipy.signal.lfilter(w, [1.0], x)
    np.testing.assert_allclose(predict(fit.module, x), ref, atol=1e-5)


def test_engine_with_default_loss_reduces_esr(fir_pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = fir_pair
    fit = fit_module(Fir(len(H)), x, y, SR, steps=20, lr=0.05, segment_samples=1024,
                     batch_size=2, val_every=10)
    assert fit.esr < 0.5 * fit.history[0][1]
    assert fit.esr == pytest.approx(min(e for _, e in fit.history), rel=1e-6)


def test_engine_is_deterministic_for_a_seed(fir_pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = fir_pair
    kw = {"steps": 6, "lr": 0.05, "mrstft_weight": 0.0, "segment_samples": 256,
          "batch_size": 2, "val_every": 3}
    a = fit_module(Fir(len(H)), x, y, SR, seed=3, **kw).module.w.detach().numpy()
    b = fit_module(Fir(len(H)), x, y, SR, seed=3, **kw).module.w.detach().numpy()
    c = fit_module(Fir(len(H)), x, y, SR, seed=4, **kw).module.w.detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_engine_refuses_silent_targets(fir_pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = fir_pair
    kw = {"steps": 2, "segment_samples": 256, "batch_size": 2}
    with pytest.raises(AudioContentError, match="validation target is silent"):
        fit_module(Fir(len(H)), x, np.zeros_like(y), SR, **kw)
    with pytest.raises(AudioContentError, match="training target is silent"):
        fit_module(Fir(len(H)), x, np.zeros_like(y), SR, validation=(x, y), **kw)


def test_predict_in_chunks_equals_one_call() -> None:
    m = Fir(len(H))
    with torch.no_grad():
        m.w.copy_(torch.from_numpy(H).float())
    x = white_noise(0.1, SR, seed=9)[0]
    with torch.no_grad():
        whole = m(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(predict(m, x, m.warmup_samples, chunk=333), whole, atol=1e-6)


def test_engine_refuses_bad_pairs(fir_pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = fir_pair
    with pytest.raises(ParameterError, match="one length"):
        fit_module(Fir(3), x, y[:-5], SR, steps=1)
    with pytest.raises(AudioContentError, match="too short"):
        fit_module(Fir(3), x[:2000], y[:2000], SR, steps=1)
    with pytest.raises(ParameterError):
        fit_module(Fir(3), x, y, SR, steps=0)
    with pytest.raises(AudioContentError, match="NaN"):
        fit_module(Fir(3), np.full(len(x), np.nan, np.float32), y, SR, steps=1)


# ------------------------------------------------------------------ grey-box capture, CLI

STAGES = ("drive", "cab")
TRUTH = {"drive.drive_db": 24.0, "drive.bias": 0.1, "out_gain_db": -3.0,
         "cab.band_db": list(np.linspace(6.0, -12.0, 64))}
LATENCY = 77  # samples the "interface" adds on top of the chain's own oversampler latency


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One CLI grey-box capture of a known chain (the expensive part, run once)."""
    d = tmp_path_factory.mktemp("paired")
    chain = chain_with(TRUTH, STAGES)
    x = guitar_line(6.5, SR, seed=3)
    y = np.concatenate([np.zeros((1, LATENCY), np.float32), render(chain, x)], axis=1)
    sf.write(d / "di.wav", x[0], SR, subtype="FLOAT")
    sf.write(d / "reamp.wav", y[0], SR, subtype="FLOAT")
    res = runner.invoke(app, ["learn", "--input", str(d / "di.wav"), "--target",
                              str(d / "reamp.wav"), "--paired", "--steps", "6", "--chain",
                              "drive,cab", "-o", str(d / "cap.tmodel")])
    return {"dir": d, "result": res, "chain": chain}


def test_cli_paired_reports_latency_and_held_out_scores(capture: dict) -> None:
    res = capture["result"]
    assert res.exit_code == 0, res.output
    doc = json.loads((capture["dir"] / "cap.tmodel").read_text())
    tr = doc["training"]
    # the chain's oversampler adds 23 samples of its own, centred on a linear-phase FIR whose
    # first taps are tiny: the response starts within a sample of their sum
    lag = tr["latency_samples"]
    assert abs(lag - (LATENCY + 23)) <= 1
    said = f"reamp latency {lag} samples ({1000 * lag / SR:+.2f} ms, measured and removed)"
    assert said in res.output
    assert "ESR" in res.output and "MR-STFT" in res.output
    assert tr["mode"] == "paired"
    assert tr["esr"] < 0.05 and tr["input"]["name"] == "di.wav"


def test_greybox_capture_recovers_the_chain(capture: dict) -> None:
    # on another take, the captured tone (fast path, latency removed) matches the true chain
    tone = tonemorph.load(capture["dir"] / "cap.tmodel")
    x = guitar_line(3.0, SR, seed=11)
    truth = render(capture["chain"], x)[0, 23:]
    out = tone.apply(x[0], SR)[: len(truth)]
    e = float(esr(torch.from_numpy(out).double(), torch.from_numpy(truth).double()))
    assert e < 0.05
    # the input was normalised by input_gain_db: the drive that hits the shaper is the same
    p = tone.parameters
    drive = p["drive.drive_db"] + p["trim_db"] + tone.input_gain_db
    assert drive == pytest.approx(TRUTH["drive.drive_db"], abs=4)


def test_cli_refuses_unrelated_files(capture: dict) -> None:
    d = capture["dir"]
    sf.write(d / "other.wav", guitar_line(8.0, SR, seed=21)[0], SR)
    res = runner.invoke(app, ["learn", "--input", str(d / "other.wav"), "--target",
                              str(d / "reamp.wav"), "--paired", "-o", str(d / "x.tmodel")])
    assert res.exit_code == 2
    errors = [line for line in res.output.splitlines() if "error" in line]
    assert len(errors) == 1 and "do not look like the same performance" in errors[0]
    assert not (d / "x.tmodel").exists()


def test_cli_paired_argument_errors(capture: dict) -> None:
    d = capture["dir"]
    args = ["learn", "--input", str(d / "di.wav"), "--target", str(d / "reamp.wav")]
    res = runner.invoke(app, args + ["--arch", "lite", "-o", str(d / "y.tmodel")])
    assert res.exit_code == 2 and "--paired" in res.output
    res = runner.invoke(app, args + ["--paired", "--arch", "lite", "-o", str(d / "y.tmodel")])
    assert res.exit_code == 2 and ".nam" in res.output
    res = runner.invoke(app, args + ["--paired", "--arch", "huge", "-o", str(d / "y.nam")])
    assert res.exit_code == 2 and "architecture" in res.output


def test_api_refuses_very_different_lengths() -> None:
    x = guitar_line(12.0, SR, seed=1)
    with pytest.raises(AudioContentError, match="same performance"):
        tonemorph.learn_paired((x, SR), (x[:, : int(SR * 5.5)], SR))


def test_a_reamp_that_stopped_early_is_said() -> None:
    from tonemorph.api import _paired_pair

    x = guitar_line(12.0, SR, seed=1)
    with pytest.warns(UserWarning, match=r"target is 3\.0 s shorter than the input"):
        _paired_pair((x, SR), (x[:, : 9 * SR], SR))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")  # half a second short: a trimmed tail, nothing said
        _paired_pair((x, SR), (x[:, : int(11.5 * SR)], SR))
    assert not [w for w in said if "shorter" in str(w.message)]


def test_cli_paired_neural_writes_a_nam_file(capture: dict) -> None:
    d = capture["dir"]
    res = runner.invoke(app, ["learn", "--input", str(d / "di.wav"), "--target",
                              str(d / "reamp.wav"), "--paired", "--arch", "nano", "--steps", "1",
                              "-o", str(d / "cap.nam")])
    assert res.exit_code == 0, res.output
    doc = json.loads((d / "cap.nam").read_text())
    assert doc["version"] == "0.5.4" and doc["architecture"] == "WaveNet"
    tr = doc["metadata"]["training"]
    assert tr["mode"] == "paired" and tr["steps"] == 1
    assert f"latency {tr['latency_samples']} samples" in res.output
    assert abs(tr["latency_samples"] - (LATENCY + 23)) <= 1
    assert np.isfinite(tr["esr"]) and tr["nam_grade"] in ("great", "not bad", "okay", "poor")
    assert len(doc["weights"]) == 842  # NAM's nano WaveNet


# ------------------------------------------------------------------ heavy gain: loudness kept


class Gain(torch.nn.Module):
    """y = g x with one trainable gain (starts at 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.g = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g * x


def test_engine_selection_with_mrstft_is_not_won_by_silence() -> None:
    # a target uncorrelated with the input, of the same spectrum and level: ESR training
    # shrinks the gain towards 0 (the ESR-optimal gain), so ESR alone keeps the quietest state;
    # with MR-STFT in the selection score the kept state stays near the target's level
    x = white_noise(1.0, SR, amplitude=0.3, seed=5)[0]
    y = white_noise(1.0, SR, amplitude=0.3, seed=6)[0]
    kw = {"steps": 40, "lr": 0.05, "mrstft_weight": 0.0, "pre_emphasis": None,
          "segment_samples": 1024, "batch_size": 2, "val_every": 5}
    by_esr = fit_module(Gain(), x, y, SR, **kw)
    by_score = fit_module(Gain(), x, y, SR, select_mrstft_weight=1.0, **kw)
    g_esr, g_score = float(by_esr.module.g.detach()), float(by_score.module.g.detach())
    assert abs(g_esr) < 0.5 < g_score
    assert by_esr.esr == pytest.approx(min(e for _, e in by_esr.history), rel=1e-6)
    assert by_score.score >= by_score.esr  # the score adds a non-negative MR-STFT term
    with pytest.raises(ParameterError, match="select_mrstft_weight"):
        fit_module(Gain(), x, y, SR, select_mrstft_weight=-1.0, **kw)


def test_loudest_window_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(2)
    y = (rng.standard_normal(5000) * np.repeat(rng.uniform(0, 1, 50), 100)).astype(np.float32)
    length, hop = 700, 30
    energy = [float(np.sum(y[s: s + length].astype(np.float64) ** 2))
              for s in range(0, len(y) - length + 1, hop)]
    assert _loudest_start(y, length, hop) == hop * int(np.argmax(energy))
    assert _loudest_start(y, 6000, hop) == 0


LP_SOS = scipy.signal.butter(2, 2500, "low", fs=SR, output="sos")


def _allpass_sos(f_hz: float, q: float = 0.7) -> np.ndarray:
    """RBJ cookbook second-order allpass at f_hz (Hz) as one sos row."""
    w = 2 * np.pi * f_hz / SR
    a, c = np.sin(w) / (2 * q), np.cos(w)
    return np.array([1 - a, -2 * c, 1 + a, 1 + a, -2 * c, 1 - a]) / (1 + a)


# phase dispersion the grey-box chain (minimum-phase stages) cannot follow sample by sample
DISPERSION_SOS = np.stack([_allpass_sos(f) for f in (150, 400, 900, 1800, 3500)])


def _hard_clip_amp(x: np.ndarray) -> np.ndarray:
    """Another topology than the chain's: hard clip, lowpass 2.5 kHz, an allpass cascade."""
    u = scipy.signal.sosfilt(LP_SOS, np.clip(30 * x, -0.5, 0.5))
    return scipy.signal.sosfilt(DISPERSION_SOS, u).astype(np.float32)


def test_greybox_capture_keeps_the_loudness_of_a_heavy_clipper() -> None:
    # the waveform cannot be matched, so an ESR-judged capture came out 7-9 dB too quiet
    x = guitar_line(8.0, SR, seed=3)[0]
    tone = fit_paired_chain(x, _hard_clip_amp(x), SR, steps=20)
    x_new = np.concatenate([guitar_line(3.0, SR, seed=s)[0] for s in (11, 12, 13)])
    y_new = _hard_clip_amp(x_new)
    out = tone.apply(x_new, SR)[: len(y_new)]
    level_db = 10 * np.log10(np.mean(out.astype(np.float64) ** 2)
                             / np.mean(y_new.astype(np.float64) ** 2))
    assert abs(level_db) < 2.0
    assert np.isfinite(tone.training["output_level_change_db"])


@pytest.mark.parametrize("warm", [0, 1, 1023, 4092, 4096, 30000])
def test_segment_plan_keeps_scored_samples_and_bounds_the_warmup(warm: int) -> None:
    seg, batch = segment_plan(warm)
    assert seg * batch == SCORED_PER_STEP
    assert seg >= 8192 and seg & (seg - 1) == 0
    # warm-up at most 1/8 of a segment unless the segment is already a whole step
    assert warm <= seg / 8 or batch == 1


def test_segment_plan_for_a_nam_wavenet_and_short_audio() -> None:
    assert segment_plan(4092) == (32768, 4)  # NAM WaveNet presets: receptive field 4,093
    assert segment_plan(0) == (8192, 16)
    # a short training signal shrinks the segment (down to 8192) so that one fits
    assert segment_plan(4092, available=20000) == (8192, 16)
    assert segment_plan(4092, available=4092 + 16384) == (16384, 8)
