"""bench/bench_lossy_example.py: the MP3 copy of a case ends early, the rest is untouched."""

from __future__ import annotations

from pathlib import Path

import bench_lossy_example as le
import numpy as np
import soundfile as sf


def test_lossy_copy_cuts_only_the_example(tmp_path: Path) -> None:
    case = tmp_path / "case"
    case.mkdir()
    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal((48000 * 4, 1))).astype(np.float32)
    for name in ("A_target", "B_input", "C_input"):
        sf.write(case / f"{name}.wav", noise, 48000, subtype="FLOAT")
    ends = le.lossy_copy(case, tmp_path / "lossy", 0.9)
    assert 3000.0 < ends < 12000.0  # white noise is full band: the codec made the end
    for name in ("B_input", "C_input"):
        assert (tmp_path / "lossy" / f"{name}.wav").read_bytes() == (
            case / f"{name}.wav").read_bytes()
    y, sr = sf.read(tmp_path / "lossy" / "A_target.wav")
    assert sr == 48000 and y.size >= noise.size
    assert not (tmp_path / "lossy" / "A_target.mp3").exists()
