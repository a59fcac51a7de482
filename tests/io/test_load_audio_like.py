"""`load_audio_like`: the one loader of "a path or an (audio, rate) tuple" (API and report)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from signals import white_noise

from tonemorph.errors import AudioContentError, AudioFileError, ParameterError
from tonemorph.io import load_audio_like

SR = 44100


def _write(tmp_path: Path) -> tuple[Path, np.ndarray]:
    x = white_noise(1.5, SR, amplitude=0.3, channels=2, seed=1).astype(np.float32)
    path = tmp_path / "take.wav"
    sf.write(path, x.T, SR, subtype="FLOAT")
    return path, x


def test_path_whole_and_first_seconds(tmp_path: Path) -> None:
    path, x = _write(tmp_path)
    for source in (path, str(path)):
        audio, rate, name = load_audio_like(source, "input")
        assert (rate, name) == (SR, "take.wav")
        assert audio.dtype == np.float32 and audio.shape == x.shape
        np.testing.assert_array_equal(audio, x)
    head, rate, _ = load_audio_like(path, "input", max_seconds=0.5)
    np.testing.assert_array_equal(head, x[:, : int(0.5 * SR)])


def test_arrays_one_or_two_dimensional() -> None:
    x = white_noise(0.2, SR, channels=2, seed=2)
    audio, rate, name = load_audio_like((x, SR), "target")
    assert (rate, name) == (SR, "<target array>") and audio.dtype == np.float32
    np.testing.assert_array_equal(audio, x.astype(np.float32))
    mono, _, _ = load_audio_like((x[0].astype(np.float64), np.int64(SR)), "target")
    assert mono.shape == (1, x.shape[1])
    cut, _, _ = load_audio_like((x, SR), "target", max_seconds=0.1)
    assert cut.shape == (2, int(0.1 * SR))


@pytest.mark.parametrize(("source", "error", "match"), [
    (42, ParameterError, "input must be a file path or an"),
    ((np.zeros(10),), ParameterError, "input must be a file path"),
    ((np.zeros((2, 3, 4)), SR), ParameterError, r"input audio must be \(channels, samples\)"),
    ((np.zeros((100, 10)), SR), ParameterError, r"\(channels, samples\)"),
    ((np.array([0.0, np.inf]), SR), AudioContentError, "NaN or Inf"),
    ("/no/such/file.wav", AudioFileError, "input"),
])
def test_refusals_name_the_role(source: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        load_audio_like(source, "input")  # type: ignore[arg-type]
