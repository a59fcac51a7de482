"""Long silences left out of a recording: the playing kept sample for sample, the pauses
shortened to a fixed length, nothing else touched."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from signals import guitar_line

from tonemorph.dsp.silence import SILENCE_HOP, long_silences_removed, silent_hops

SR = 48000


def _line(seconds: float, seed: int) -> np.ndarray:
    return guitar_line(seconds, SR, seed=seed)[0].astype(np.float64)


def _tone(seconds: float, hz: float) -> np.ndarray:
    """A steady sine (no decay into the gate: every sample of it plays)."""
    return 0.3 * np.sin(2 * np.pi * hz * np.arange(int(seconds * SR)) / SR)


def test_silent_hops_follow_the_gate() -> None:
    x = np.concatenate([np.zeros(10 * SILENCE_HOP), 0.5 * np.ones(10 * SILENCE_HOP),
                        1e-3 * np.ones(10 * SILENCE_HOP),  # -60 dBFS: 54 dB under the loud
                        1e-2 * np.ones(10 * SILENCE_HOP)])  # -40 dBFS: inside the gate
    silent = silent_hops(x)
    assert silent.tolist() == [True] * 10 + [False] * 10 + [True] * 10 + [False] * 10


def test_lead_in_tail_and_pauses_are_shortened_to_keep_s() -> None:
    a, b = _tone(3.0, 220.0), _tone(2.0, 330.0)
    gap = np.zeros(20 * SR)
    x = np.concatenate([gap, a, gap, b, gap])
    y, left_out = long_silences_removed(x, SR, keep_s=0.5)
    # each pause keeps 0.5 s (a lead-in and a tail their half), to a hop each side
    kept_silence = y.size - a.size - b.size
    assert abs(kept_silence / SR - (0.25 + 0.5 + 0.25)) <= 4 * SILENCE_HOP / SR
    assert left_out == pytest.approx((x.size - y.size) / SR)
    # the playing itself, sample for sample, in order
    played = np.concatenate([a, b])
    np.testing.assert_array_equal(y[np.abs(y) > 0], played[np.abs(played) > 0])


def test_short_pauses_and_silent_files_are_left_alone() -> None:
    x = np.concatenate([_tone(2.0, 220.0), np.zeros(int(0.3 * SR)), _tone(2.0, 330.0)])
    y, left_out = long_silences_removed(x, SR, keep_s=0.5)
    assert y is x and left_out == 0.0
    z = np.zeros(5 * SR)
    y, left_out = long_silences_removed(z, SR)
    assert y is z and left_out == 0.0


@settings(max_examples=25, deadline=None)
@given(lead=st.floats(0.0, 5.0), tail=st.floats(0.0, 5.0), level_db=st.floats(-40.0, 0.0))
def test_the_same_playing_comes_out_whatever_silence_surrounds_it(lead: float, tail: float,
                                                                  level_db: float) -> None:
    core = _line(2.0, 5) * 10 ** (level_db / 20)
    x = np.concatenate([np.zeros(int(lead * SR)), core, np.zeros(int(tail * SR))])
    y, _ = long_silences_removed(x, SR, keep_s=0.5)
    # at most a lead-in and a tail of 0.25 s (and the hops they start in) are left; what
    # went besides is under the gate: notes' last decay, not their sound
    assert y.size - core.size <= int(0.5 * SR) + 2 * SILENCE_HOP
    assert np.isclose(np.sum(y ** 2), np.sum(core ** 2), rtol=1e-3)
