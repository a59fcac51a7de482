"""Shared argument checks (`tonemorph.dsp.checks`): shapes, dtypes, rates and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from tonemorph.dsp.checks import MAX_CHANNELS, as_audio_2d, check_finite, check_rate
from tonemorph.errors import AudioContentError, ParameterError


def test_as_audio_2d_shapes_and_dtypes() -> None:
    one = as_audio_2d(np.arange(5, dtype=np.float32))
    assert one.shape == (1, 5) and one.dtype == np.float64
    kept = as_audio_2d(np.zeros((2, 5), np.float32), keep_float32=True)
    assert kept.dtype == np.float32
    assert as_audio_2d(np.zeros((2, 5), np.int16)).dtype == np.float64


@pytest.mark.parametrize(("x", "error", "match"), [
    (np.zeros((2, 3, 4)), ParameterError, "shaped"),
    (np.zeros((1, 0)), ParameterError, "shaped"),
    (np.zeros((MAX_CHANNELS + 1, 10)), ParameterError, "x.T"),
    (np.array([0.0, np.nan]), AudioContentError, "NaN"),
])
def test_as_audio_2d_refuses(x: np.ndarray, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        as_audio_2d(x, "x")


def test_check_rate() -> None:
    assert check_rate(44100) == 44100.0
    assert check_rate(np.float32(22050.0)) == 22050.0
    for bad in (0, -1.0, float("nan"), float("inf"), True, "48000"):
        with pytest.raises(ParameterError, match="sample_rate"):
            check_rate(bad)  # type: ignore[arg-type]


def test_check_finite_names_the_audio_and_passes_finite_samples() -> None:
    check_finite(np.zeros((2, 8)))
    for bad in (np.nan, np.inf, -np.inf):
        x = np.zeros((2, 8))
        x[1, 3] = bad
        with pytest.raises(AudioContentError, match="take contains NaN or infinite samples"):
            check_finite(x, "take")
