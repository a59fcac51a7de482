"""Synthetic recovery: learning from an unpaired example of a known chain beats static match-EQ.

Target: a known ToneChain (drive +24 dB, bias 0.2, post-EQ cuts, +18 dB out) applied to guitar
line A; input: a different guitar line B. On a held-out line C the learned tone must land closer
(MR-STFT, after latency alignment) to the true chain's output than a match-EQ of C toward the
target does.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from signals import guitar_line
from tones import SR, TARGET, chain_with, render

import tonemorph
from tonemorph.dsp.loudness import integrated_lufs
from tonemorph.dsp.matcheq import apply_match_eq
from tonemorph.dsp.silence import long_silences_removed
from tonemorph.metrics import align, mrstft_distance


def _distance(est: np.ndarray, truth: np.ndarray) -> float:
    e, r, _ = align(est, truth, SR)
    return mrstft_distance(e, r, SR)


def test_unpaired_learning_beats_match_eq_on_held_out_take() -> None:
    true_chain = chain_with(TARGET)
    a = guitar_line(20.0, SR, seed=101)
    b = guitar_line(20.0, SR, seed=102)
    c = guitar_line(10.0, SR, seed=103)
    target = render(true_chain, a)
    truth = render(true_chain, c)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "10 s or more recommended" does not apply here
        tone = tonemorph.learn_tone((b, SR), (target, SR), quality="fast", seed=0)
    learned = tone.apply(c, SR)
    match_eq = apply_match_eq(c, target, SR)

    d_learned = _distance(learned, truth)
    d_match = _distance(match_eq, truth)
    d_identity = _distance(c, truth)
    tr = tone.training
    print(f"held-out MR-STFT to the true chain: learned {d_learned:.3f} ({tr['chosen']}, "
          f"drive {tone.parameters.get('drive.drive_db', float('nan')):.1f} dB, "
          f"{tr['seconds']:.0f} s), match-EQ {d_match:.3f}, identity {d_identity:.3f}; "
          f"candidates {tr['candidates']}")
    assert np.all(np.isfinite(learned)) and learned.shape == c.shape
    assert d_learned < d_match
    # the loudness guard's curve: the tone's gain on the learning take, 6 dB apart
    curve = tone.loudness_curve
    assert curve is not None and len(curve["input_lufs"]) == 7
    assert np.allclose(np.diff(curve["input_lufs"]), 6.0, atol=0.01)
    got = integrated_lufs(tone.apply(b, SR, loudness_guard=False), SR)
    assert got - integrated_lufs(b, SR) == pytest.approx(curve["gain_db"][4], abs=0.05)


@pytest.mark.parametrize("role", ["input", "target"])
def test_learning_refuses_stereo_whose_channels_cancel_in_the_mixdown(role: str) -> None:
    # learning hears the channels' mean: a polarity-inverted pair leaves silence, which the
    # fit used to meet with "quantile() input tensor must be non-empty"
    from tonemorph.errors import AudioContentError

    line = guitar_line(14.0, SR, seed=3)  # over 10 s of sound: no length warning on the way
    pair = {"input": (line, SR), "target": (line, SR)}
    pair[role] = (np.concatenate([line, -line]), SR)
    with pytest.raises(AudioContentError, match=f"{role}: its channels cancel"):
        tonemorph.learn_tone(pair["input"], pair["target"], quality="fast")


@pytest.mark.parametrize("seed", [1.5, "3", True, None])
def test_a_seed_that_is_no_whole_number_is_a_parameter_error(seed: object) -> None:
    # 1.5 raised numpy's own TypeError from deep inside the fit
    line = guitar_line(14.0, SR, seed=3)
    with pytest.raises(tonemorph.ParameterError, match=rf"whole number in 0\.\.\d+, got "
                                                       rf"{re.escape(repr(seed))}"):
        tonemorph.learn_tone((line, SR), (line, SR), quality="fast", seed=seed)


def _dc_cases() -> dict[str, tuple[str, np.ndarray, str]]:
    """name -> (role, the recording without an offset, what learning says of it)."""
    rng = np.random.default_rng(4)
    short = np.concatenate([guitar_line(3.0, SR, seed=8)[0], np.zeros(12 * SR)])
    return {"noise": ("input", 1e-4 * rng.standard_normal(15 * SR), r"is \(nearly\) silent"),
            "short": ("input", short, r"has 2\.\d s of sound; need at least 5 s"),
            "dc only": ("target", np.zeros(15 * SR), "is silent")}


@pytest.mark.parametrize("case", ["noise", "short", "dc only"])
def test_a_dc_offset_hides_no_silent_or_short_recording(case: str) -> None:
    # learning takes the offset off: a recording is judged as learned from, else 0.3 of DC
    # passed (nearly) silence or 3 s of playing as 15 s of sound
    from tonemorph.errors import AudioContentError

    role, audio, said = _dc_cases()[case]
    line = (guitar_line(14.0, SR, seed=3), SR)
    for offset, who in ((0.0, role), (0.3, f"{role} without its DC offset")):
        pair = {"input": line, "target": line}
        pair[role] = (np.float32(audio + offset)[None], SR)
        with pytest.raises(AudioContentError, match=f"^{who} {said}"):
            tonemorph.learn_tone(pair["input"], pair["target"], quality="fast")


def test_a_much_shorter_example_is_said() -> None:
    from tonemorph.api import INTERNAL_RATE, SHORT_TARGET_RATIO, _short_target

    take = np.zeros(60 * INTERNAL_RATE, np.float32)
    short = np.zeros(int(SHORT_TARGET_RATIO * take.size) - 1, np.float32)
    with pytest.warns(UserWarning, match=r"target is 30 s against a 60 s input.*--chain"):
        notes = _short_target(take, short, ["earlier"])
    assert notes[0] == "earlier" and len(notes) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _short_target(take, take[: take.size // 2], []) == []
        assert _short_target(short, take, []) == []  # a longer example is fine


def test_a_very_quiet_example_is_said_with_the_level_to_use() -> None:
    from tonemorph.api import _quiet_target

    line = guitar_line(6.0, SR, seed=7)[0]
    line = line / np.sqrt(np.mean(line**2))  # about 0 dBFS RMS
    with pytest.warns(UserWarning, match=r"plays at -5\d dBFS RMS.*--level \+3\d"):
        notes = _quiet_target((line * 10 ** (-52 / 20)).astype(np.float32), [])
    assert len(notes) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _quiet_target((line * 0.1).astype(np.float32), []) == []


def test_a_quiet_example_is_offered_no_level_the_knob_lacks(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    # the active gate stops at -70 dBFS: up to +50 dB to a usual level, past --level's 48
    from tonemorph.api import _quiet_target

    monkeypatch.setattr("tonemorph.api.active_rms_db", lambda x, sr: -69.6)
    with pytest.warns(UserWarning, match=r"--level \+48 for a usual .*raise it 2 dB more"):
        _quiet_target(np.zeros(SR, np.float32), [])


def test_a_register_gap_between_the_recordings_is_said() -> None:
    from tonemorph.api import REGISTER_GAP_SEMITONES, _register_gap

    low, high = 82.4, 82.4 * 2 ** (REGISTER_GAP_SEMITONES / 12)
    with pytest.warns(UserWarning, match=r"target plays notes down to 82 Hz, the input only "
                      r"down to 117 Hz.*play the low notes in the input"):
        notes = _register_gap({"target": low, "input": high}, ["earlier"])
    assert notes[0] == "earlier" and len(notes) == 2
    with pytest.warns(UserWarning, match=r"input plays notes down to 82 Hz, the target only "
                      r"down to 117 Hz.*an example with low notes"):
        _register_gap({"target": high, "input": low}, [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        near = low * 2 ** ((REGISTER_GAP_SEMITONES - 2) / 12)  # a whole-tone bin closer
        assert _register_gap({"target": low, "input": near}, []) == []
        assert _register_gap({"target": low}, []) == []  # no notes tracked in the input
        assert _register_gap({}, []) == []


def test_learn_records_the_register_gap_in_its_warnings(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    from tonemorph.chain.chain import ChainConfig, ToneChain
    from tonemorph.learn.fit import LearnResult

    def fake_fit(x, y, cfg, progress=None):
        chain = ToneChain(ChainConfig(stages=cfg.stages, sample_rate=cfg.sample_rate))
        return LearnResult(chain, 0.0, 1.0, {"stub": 1.0}, {"linear": 1.0}, "linear", 0, 0.01,
                           lowest_notes_hz={"target": 82.4, "input": 196.0})

    monkeypatch.setattr("tonemorph.api.fit_unpaired", fake_fit)
    line = guitar_line(14.0, SR, seed=3)  # over 10 s of sound: no length warning on the way
    with pytest.warns(UserWarning, match="target plays notes down to 82 Hz"):
        tone = tonemorph.learn_tone((line, SR), (line, SR), quality="fast")
    assert any("down to 196 Hz" in w for w in tone.training["warnings"])


def test_a_double_tracked_example_is_learned_channel_by_channel(monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    from tonemorph.chain.chain import ChainConfig, ToneChain
    from tonemorph.learn.fit import LearnResult

    seen = []

    def fake_fit(x, y, cfg, progress=None):
        seen.append(y)
        chain = ToneChain(ChainConfig(stages=cfg.stages, sample_rate=cfg.sample_rate))
        return LearnResult(chain, 0.0, 1.0, {"stub": 1.0}, {"linear": 1.0}, "linear", 0, 0.01)

    monkeypatch.setattr("tonemorph.api.fit_unpaired", fake_fit)
    left, right = guitar_line(12.0, SR, seed=4)[0], guitar_line(12.0, SR, seed=5)[0]
    with pytest.warns(UserWarning, match="hold different performances"):
        tone = tonemorph.learn_tone((left, SR), (np.stack([left, right]), SR), quality="fast")
    assert any("learned from each channel in turn" in w for w in tone.training["warnings"])
    joined, _ = long_silences_removed(np.concatenate([left, right]), SR)  # as learn_tone does
    assert seen[-1].shape == joined.shape
    assert np.allclose(seen[-1], joined, atol=1e-6)
    # one performance on two microphones (the second a little duller): mixed down as before
    duller = np.convolve(left, np.ones(3) / 3, mode="same").astype(np.float32)
    with pytest.warns(UserWarning, match="2 channels mixed down to mono"):
        tonemorph.learn_tone((left, SR), (np.stack([left, duller]), SR), quality="fast")
    assert seen[-1].shape == long_silences_removed(left, SR)[0].shape


@pytest.mark.parametrize("role", ["input", "target"])
def test_a_silent_second_channel_is_left_out_of_the_mix_to_mono(
        monkeypatch: pytest.MonkeyPatch, role: str) -> None:
    from tonemorph.chain.chain import ChainConfig, ToneChain
    from tonemorph.learn.fit import LearnResult

    seen = []

    def fake_fit(x, y, cfg, progress=None):
        seen.append({"input": x, "target": y}[role])
        chain = ToneChain(ChainConfig(stages=cfg.stages, sample_rate=cfg.sample_rate))
        return LearnResult(chain, 0.0, 1.0, {"stub": 1.0}, {"linear": 1.0}, "linear", 0, 0.01)

    monkeypatch.setattr("tonemorph.api.fit_unpaired", fake_fit)
    line = guitar_line(12.0, SR, seed=4)[0]
    stereo = np.stack([np.zeros_like(line), line])  # played into input 2 of 2
    pair = {"input": (line, SR), "target": (line, SR), role: (stereo, SR)}
    with pytest.warns(UserWarning, match="learned from channel 2 of 2"):
        tonemorph.learn_tone(pair["input"], pair["target"], quality="fast")
    tonemorph.learn_tone((line, SR), (line, SR), quality="fast")
    # at the level it was played (the mean of the two channels was 6 dB under it)
    assert np.array_equal(seen[0], seen[1])


def test_a_double_tracked_clean_example_learns_the_clean_tone() -> None:
    # two performances through one clean EQ, panned apart: their mean is one evener, 3 dB
    # quieter take (learned from it: 0.56 MR-STFT on a held-out line); channel by channel 0.12
    chain = chain_with({"post_eq.high_hz": 3000.0, "post_eq.high_db": -6.0,
                        "post_eq.low_db": 3.0})
    left = render(chain, guitar_line(12.0, SR, seed=21))[0]
    right = render(chain, guitar_line(12.0, SR, seed=22))[0]
    take, held_out = guitar_line(12.0, SR, seed=23)[0], guitar_line(8.0, SR, seed=24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tone = tonemorph.learn_tone((take, SR), (np.stack([left, right]), SR), quality="fast")
    assert tone.training["chosen"] == "linear"
    assert _distance(tone.apply(held_out[0], SR), render(chain, held_out)[0]) < 0.3


def test_long_silences_are_left_out_of_both_recordings(monkeypatch: pytest.MonkeyPatch) -> None:
    # 40 s of silence after 15 s of playing once made the take's stretches mostly silence and
    # turned a compressed tone into a filter (loss 7.1 -> 19.6)
    from tonemorph.chain.chain import ChainConfig, ToneChain
    from tonemorph.learn.fit import LearnResult

    seen = []

    def fake_fit(x, y, cfg, progress=None):
        seen.append((x, y))
        chain = ToneChain(ChainConfig(stages=cfg.stages, sample_rate=cfg.sample_rate))
        return LearnResult(chain, 0.0, 1.0, {"stub": 1.0}, {"linear": 1.0}, "linear", 0, 0.01)

    monkeypatch.setattr("tonemorph.api.fit_unpaired", fake_fit)
    take, example = guitar_line(14.0, SR, seed=8), guitar_line(14.0, SR, seed=9)
    tone = tonemorph.learn_tone((take, SR), (example, SR), quality="fast")
    plain = seen[-1]
    padded = np.concatenate([np.zeros((1, 20 * SR), np.float32), take,
                             np.zeros((1, 40 * SR), np.float32)], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "much shorter example" warning either
        tone = tonemorph.learn_tone((padded, SR), (example, SR), quality="fast")
    x, y = seen[-1]
    np.testing.assert_array_equal(y, plain[1])
    # the playing as without the silence, a lead-in and a tail of 2.5 s at most around it
    assert 0 <= x.size - plain[0].size <= int(5.0 * SR) + 2048
    left_out = tone.training["input"]["silence_left_out_s"]
    assert left_out == pytest.approx((padded.shape[1] - x.size) / SR, abs=1e-3)
    assert tone.training["target"]["silence_left_out_s"] == pytest.approx(
        (example.shape[1] - y.size) / SR, abs=1e-3)
