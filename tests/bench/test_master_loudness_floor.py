"""bench/bench_master_loudness_floor.py: its statistics on signals with known answers."""

from __future__ import annotations

import bench_master_loudness_floor as mlf
import numpy as np
import pytest


def _sine(gain_db: float, seconds: float = 12.0, hz: float = 1000.0) -> np.ndarray:
    t = np.arange(int(seconds * mlf.mp.RATE)) / mlf.mp.RATE
    x = 10 ** (gain_db / 20) * np.sin(2 * np.pi * hz * t)
    return np.stack([x, x])  # stereo, as the pairs are


def test_a_steady_sine_has_one_loudness_and_a_3_db_crest() -> None:
    st = mlf.statistics(_sine(-20.0))
    # BS.1770: a 1 kHz sine peaking at -20 dBFS in both channels: mean square -23.01 dB per
    # channel, +3.01 for the two, -0.691 + K-weighting's +0.69 dB at 1 kHz: -20.0 LUFS; and
    # every block of a steady tone reads the same
    assert st["integrated"] == pytest.approx(-20.0, abs=0.1)
    for k in ("short-term q50", "short-term q95", "momentary q90", "momentary q95"):
        assert st[k] == pytest.approx(st["integrated"], abs=0.05)
    assert st["crest factor (dB)"] == pytest.approx(10 * np.log10(2.0), abs=0.05)


def test_gaps_follow_a_pure_gain() -> None:
    a, b = mlf.statistics(_sine(-12.0)), mlf.statistics(_sine(-18.0))
    for k in a:
        want = 0.0 if k == "crest factor (dB)" else 6.0  # a gain moves loudness, not crest
        assert a[k] - b[k] == pytest.approx(want, abs=0.05)


def test_per_case_table_puts_each_pair_on_a_row_and_each_chain_in_a_column() -> None:
    n = len(mlf.mp.CHAINS)
    rows = [(f"p{i}", chain, {"integrated": i + 0.1 * j})
            for i in range(2) for j, chain in enumerate(mlf.mp.CHAINS)]
    lines = mlf.per_case(rows, "integrated", "title")
    assert lines[1] == "title"
    assert lines[3] == "| pair | " + " | ".join(mlf.mp.CHAINS) + " |"
    assert lines[5] == "| p0 | " + " | ".join(f"{0.1 * j:+.2f}" for j in range(n)) + " |"
    assert lines[6] == "| p1 | " + " | ".join(f"{1 + 0.1 * j:+.2f}" for j in range(n)) + " |"
