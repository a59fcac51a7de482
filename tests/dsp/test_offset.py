"""DC offset removal for learning: a constant offset is taken out of the input, a signal's own
small mean is left alone, and learning reports what it removed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from signals import guitar_line

import tonemorph
from tonemorph.dsp.offset import OFFSET_RE_RMS_DB, offset_re_rms_db, without_offset

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


def test_learning_removes_an_input_offset_and_says_so() -> None:
    x = guitar_line(12.0, SR, seed=3)
    y = guitar_line(12.0, SR, seed=4) * 0.5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # the target's offset stays: it may be its sound's own (an asymmetric drive)
        tone = tonemorph.learn_tone((x + 0.1, SR), (y + 0.1, SR), quality="fast",
                                    stages="cab")
        clean = tonemorph.learn_tone((x, SR), (y + 0.1, SR), quality="fast", stages="cab")
    said = [n for n in tone.training["warnings"] if "DC offset" in n]
    assert len(said) == 1 and said[0].startswith("input: a DC offset of -20 dBFS")
    assert sum("DC offset" in str(w.message) for w in caught) == 1
    # normalised by the music's level, not the offset's
    assert tone.input_gain_db == pytest.approx(clean.input_gain_db, abs=0.1)
