"""Distillation: a tiny LSTM trained for a few seconds on a simple chain's output gets much
closer to the chain than at init (held-out ESR), long time constants are flagged, and the
settled LSTM keeps silence near silence from the first sample."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from signals import guitar_line
from tones import CRUNCH, tone_with

from tonemorph.errors import ParameterError
from tonemorph.learn.distill import distill, long_time_constants, render_chain
from tonemorph.metrics import esr
from tonemorph.neural import NamLSTM
from tonemorph.neural.runner import BlockProcessor, torch_threads

SIMPLE = {"drive.drive_db": 12.0, "drive.bias": 0.1, "post_eq.high_db": -6.0}


def test_tiny_distillation_reduces_esr() -> None:
    tone = tone_with(SIMPLE, stages=("drive", "post_eq"))
    x = np.concatenate([guitar_line(3.0, 48000, seed=1)[0],
                        0.3 * guitar_line(3.0, 48000, seed=2)[0]])
    xh = guitar_line(1.0, 48000, seed=9)[0]
    yh = render_chain(tone, xh)
    with torch_threads(1):
        torch.manual_seed(0)
        m = NamLSTM(8, 1)
        m.settle()
        e0 = esr(BlockProcessor(m, 1).process(xh[None])[0], yh)
        r = distill(tone, m, steps=60, seconds=None, excitation=x, holdout=xh,
                    segment_samples=2048, lr=0.02)
        silence = r.module(torch.zeros(1, 4800))[0].detach().numpy()
    assert r.steps == 60 and len(r.history) >= 2
    assert r.esr < 0.25 * e0 and r.esr < 1.0
    assert r.grade in ("great", "not bad", "okay", "poor")
    # the exported initial state is the settled one: silence in, (near) constant silence out
    assert np.max(np.abs(silence - silence[-1])) < 1e-6
    assert np.max(np.abs(silence)) < 0.1 * float(np.sqrt(np.mean(yh ** 2)))


def test_long_time_constants_are_flagged() -> None:
    notes = long_time_constants(tone_with(CRUNCH), 4093)
    assert notes == ["sag release 100 ms", "comp release 120 ms"]
    assert long_time_constants(tone_with(CRUNCH), 1) == []  # recurrent: no window
    fast = dict(CRUNCH, **{"comp.release_ms": 20.0, "sag.release_ms": 20.0})
    assert long_time_constants(tone_with(fast), 4093) == []


def test_render_chain_is_the_fast_chain_with_latency_kept() -> None:
    tone = tone_with(SIMPLE, stages=("drive", "post_eq"))
    x = guitar_line(0.2, 48000)[0]
    y = render_chain(tone, x)
    ref = tone.fast_chain(sample_rate=48000).process(x)
    np.testing.assert_array_equal(y, ref)
    with pytest.raises(ParameterError):
        distill(tone, NamLSTM(4), seconds=None, steps=None, excitation=x, holdout=x)


def test_recurrent_models_learn_the_chain_without_its_latency() -> None:
    from tonemorph.learn.distill import _pair, target_advance
    from tonemorph.neural import WaveNet

    tone = tone_with(SIMPLE, stages=("drive", "post_eq"))
    assert tone.latency_samples == 23  # the shaper's 2x oversampling filter at 48 kHz
    assert target_advance(tone, NamLSTM(4)) == 23
    assert target_advance(tone, WaveNet.preset("nano")) == 0  # it sees 4,093 samples back
    clean = tone_with({"post_eq.high_db": -6.0}, stages=("post_eq",))
    assert target_advance(clean, NamLSTM(4)) == 0
    x = guitar_line(0.2, 48000)[0]
    xa, ya = _pair(tone, x, 23)
    np.testing.assert_array_equal(ya, render_chain(tone, x)[23:])
    assert len(xa) == len(ya) == len(x) - 23
    # what the LSTM learns is what `apply` plays: the tone with its latency removed
    played = tone.apply(x, 48000)
    assert np.sqrt(np.mean((played[: len(ya)] - ya) ** 2)) < 1e-3 * np.sqrt(np.mean(ya ** 2))


def test_tone_without_a_stage() -> None:
    from tonemorph.learn.distill import tone_without

    tone = tone_with(CRUNCH)
    amp = tone_without(tone, ["cab"])
    assert "cab" not in amp.config.stages and "cab.band_db" not in amp.parameters
    x = guitar_line(0.2, 48000)[0]
    ref = tone_with(CRUNCH, stages=tuple(s for s in tone.config.stages if s != "cab"))
    np.testing.assert_array_equal(render_chain(amp, x), render_chain(ref, x))
    with pytest.raises(ParameterError, match="no stage"):
        tone_without(amp, ["cab"])
