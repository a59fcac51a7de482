"""DC offset removal for learning: a constant offset is taken out of the input (its mean) and
of the example (a high-pass, which leaves no offset between notes where a drive's offset
followed them), a signal's own small mean is left alone, and learning reports what it
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
    remove_dc,
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


def test_the_high_pass_leaves_no_offset_between_notes() -> None:
    # notes whose offset follows them (as an asymmetric drive's does), silence between them
    t = np.arange(4 * SR) / SR
    on = (t % 1.0) < 0.5
    x = (0.3 * np.sin(2 * np.pi * 220.0 * t) + 0.05) * on
    gaps = ~on & ((t % 1.0) > 0.8)  # the last 200 ms of each gap
    assert np.max(np.abs(remove_dc(x, SR)[0][gaps])) < 0.005
    y, _ = without_offset(x)  # the mean taken off: an offset in every gap
    assert np.min(np.abs(y[gaps])) > 0.02


def test_a_steady_offset_is_told_from_one_that_follows_the_notes() -> None:
    t = np.arange(4 * SR) / SR
    on = (t % 1.0) < 0.5
    tone = 0.3 * np.sin(2 * np.pi * 220.0 * t)
    following = (tone + 0.05) * on  # an asymmetric drive's: gone between the notes
    steady = tone * on + 0.05  # an interface's: everywhere
    assert abs(steady_offset(following, remove_dc(following, SR)[0])) < 0.002
    assert steady_offset(steady, remove_dc(steady, SR)[0]) == pytest.approx(0.05, abs=0.002)


def test_only_a_steady_offset_over_the_gate_is_high_passed() -> None:
    t = np.arange(4 * SR) / SR
    on = (t % 1.0) < 0.5
    notes = 0.3 * np.sin(2 * np.pi * 220.0 * t) * on
    rms = float(np.sqrt(np.mean(notes ** 2)))
    y, offset = without_steady_offset(notes + 0.01, SR)
    assert offset == pytest.approx(0.01, rel=0.05)
    np.testing.assert_allclose(y, remove_dc(notes + 0.01, SR)[0])
    # under the learner's silence gate, or following the notes: left as it is
    small = notes + rms * 10 ** ((STEADY_OFFSET_RE_RMS_DB - 6.0) / 20)
    following = notes + 0.05 * on
    for x in (small, following, np.zeros(SR)):
        y, offset = without_steady_offset(x, SR)
        assert offset is None and y is x


def test_learning_removes_offsets_and_says_so() -> None:
    x = guitar_line(12.0, SR, seed=3)
    y = guitar_line(12.0, SR, seed=4) * 0.5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tone = tonemorph.learn_tone((x + 0.1, SR), (y + 0.1, SR), quality="fast",
                                    stages="cab")
        clean = tonemorph.learn_tone((x, SR), (y, SR), quality="fast", stages="cab")
    said = [n for n in tone.training["warnings"] if "DC offset" in n]
    assert len(said) == 2
    assert said[0].startswith("input: a DC offset of -20 dBFS")
    assert said[1].startswith("target: a DC offset of -20 dBFS")
    assert sum("DC offset" in str(w.message) for w in caught) == 2
    assert not any("DC offset" in n for n in clean.training["warnings"])
    # normalised by the music's level, not the offset's; the same cabinet and level learned
    assert tone.input_gain_db == pytest.approx(clean.input_gain_db, abs=0.1)
    band_db = [np.asarray(t.parameters["cab.band_db"]) for t in (tone, clean)]
    # (the high-pass's own effect on the target reaches the cabinet's lowest bands)
    heard = tone.config.band_hz() > 40.0
    np.testing.assert_allclose(band_db[0][heard], band_db[1][heard], atol=0.5)
    assert tone.parameters["out_gain_db"] == pytest.approx(clean.parameters["out_gain_db"],
                                                           abs=0.3)
