"""DC offset removal for learning: a constant offset is taken out of the input (its mean) and
of the example (the offset its quietest blocks keep, which leaves a drive's note-following
offset alone), a signal's own small mean is left alone, and learning reports what it
removed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from signals import guitar_line

import tonemorph
from tonemorph.dsp.offset import (
    OFFSET_RE_RMS_DB,
    STEADY_OFFSET_RE_RMS_DB,
    offset_re_rms_db,
    steady_offset,
    without_offset,
    without_steady_offset,
)

SR = 48000


def test_a_constant_offset_is_removed() -> None:
    x = guitar_line(2.0, SR, seed=1)[0]
    y, mean = without_offset(x + 0.05)
    assert mean == pytest.approx(0.05 + float(np.mean(x)), abs=1e-6)
    np.testing.assert_allclose(y, x - np.mean(x), atol=1e-6)


def test_a_small_mean_and_silence_are_left_alone() -> None:
    x = guitar_line(2.0, SR, seed=2)[0]
    rms = float(np.sqrt(np.mean(x ** 2)))
    small = x + rms * 10 ** ((OFFSET_RE_RMS_DB - 6.0) / 20)  # 6 dB under the threshold
    assert offset_re_rms_db(small) < OFFSET_RE_RMS_DB
    y, mean = without_offset(small)
    assert mean is None and y is small
    y, mean = without_offset(np.zeros(100, np.float32))
    assert mean is None


def _notes_and_pauses() -> tuple[np.ndarray, np.ndarray]:
    """220 Hz notes (0.5 s) with 0.5 s pauses of digital silence, and where the notes are."""
    t = np.arange(4 * SR) / SR
    on = (t % 1.0) < 0.5
    return 0.3 * np.sin(2 * np.pi * 220.0 * t) * on, on


def test_a_steady_offset_is_told_from_one_that_follows_the_notes() -> None:
    notes, on = _notes_and_pauses()
    following = notes + 0.05 * on  # an asymmetric drive's: gone between the notes
    steady = notes + 0.05  # an interface's: everywhere
    assert abs(steady_offset(following)) < 1e-9
    assert steady_offset(steady) == pytest.approx(0.05, abs=1e-9)


def test_only_a_steady_offset_over_the_gate_is_taken_off() -> None:
    notes, on = _notes_and_pauses()
    y, offset = without_steady_offset(notes + 0.01)
    assert offset == pytest.approx(0.01, abs=1e-9)
    np.testing.assert_allclose(y, notes, atol=1e-9)  # the pauses back at zero, nothing else
    # under the learner's silence gate, or following the notes: left as it is
    rms = float(np.sqrt(np.mean(notes ** 2)))
    small = notes + rms * 10 ** ((STEADY_OFFSET_RE_RMS_DB - 6.0) / 20)
    following = notes + 0.05 * on
    for x in (small, following, np.zeros(SR)):
        y, offset = without_steady_offset(x)
        assert offset is None and y is x
    # the whole take's mean would have put an offset into the pauses
    y, _ = without_offset(following)
    assert np.min(np.abs(y[~on])) > 0.02


def test_learning_removes_offsets_and_says_so() -> None:
    x = guitar_line(12.0, SR, seed=3)
    y = guitar_line(12.0, SR, seed=4) * 0.5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tone = tonemorph.learn_tone((x + 0.1, SR), (y + 0.1, SR), quality="fast",
                                    stages="cab")
        clean = tonemorph.learn_tone((x, SR), (y, SR), quality="fast", stages="cab")
    # (the content checks' notes name the audio they judged: "input without its DC offset")
    said = [n for n in tone.training["warnings"] if "a DC offset of" in n]
    assert len(said) == 2
    assert said[0].startswith("input: a DC offset of -20 dBFS")
    assert said[1].startswith("target: a DC offset of -20 dBFS")
    assert sum("a DC offset of" in str(w.message) for w in caught) == 2
    assert not any("DC offset" in n for n in clean.training["warnings"])
    # normalised by the music's level, not the offset's; the same cabinet and level learned
    assert tone.input_gain_db == pytest.approx(clean.input_gain_db, abs=0.1)
    band_db = [np.asarray(t.parameters["cab.band_db"]) for t in (tone, clean)]
    np.testing.assert_allclose(band_db[0], band_db[1], atol=0.5)
    assert tone.parameters["out_gain_db"] == pytest.approx(clean.parameters["out_gain_db"],
                                                           abs=0.3)


def test_a_reamps_steady_offset_is_taken_off_for_a_paired_capture() -> None:
    from tonemorph.api import _paired_pair

    x = guitar_line(12.0, SR, seed=5)
    y = guitar_line(12.0, SR, seed=5) * 0.5  # the reamp: same notes, as long as the DI
    with pytest.warns(UserWarning, match="target: a DC offset of -20 dBFS"):
        _, with_offset, _ = _paired_pair((x, SR), (y + 0.1, SR))
    _, clean, _ = _paired_pair((x, SR), (y, SR))
    np.testing.assert_allclose(with_offset, clean, atol=1e-4)
