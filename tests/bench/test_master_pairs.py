"""bench/bench_master_pairs.py: its case lists and the two masters that end below full scale."""

from __future__ import annotations

from pathlib import Path

import bench_master_pairs as mp
import numpy as np
import pytest

pytest.importorskip("pedalboard")


def _noise(peak_db: float, seconds: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, int(seconds * mp.RATE))).astype(np.float32)
    return x * np.float32(10 ** (peak_db / 20) / np.max(np.abs(x)))


def _peak_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(x[:, mp.RATE // 2:]))))  # after the attack


def test_the_published_cases_pair_one_tuning_and_one_held_out_chain_each() -> None:
    cases = mp.cases()
    assert len(cases) == 2 * len(mp.PAIRS)
    assert sum(mp.CHAINS[c].held_out for _, c, _, _ in cases) == len(mp.PAIRS)
    assert not {c for _, c, _, _ in cases} & set(mp.EXTRA_TUNING)


def test_the_wide_run_takes_every_pair_through_every_tuning_chain_and_no_held_out_one() -> None:
    cases = mp.cases(wide=True)
    chains = (*mp.TUNING, *mp.EXTRA_TUNING)
    assert len(cases) == len(mp.PAIRS) * len(chains)
    assert {(m, r, c) for _, c, m, r in cases} == {(m, r, c) for m, r in mp.PAIRS for c in chains}
    assert not any(mp.CHAINS[c].held_out for _, c, _, _ in cases)


def test_the_normalised_master_is_limited_then_turned_down(tmp_path: Path) -> None:
    # its limiter holds -0.3 dBFS before the -8 dB gain: a hot input peaks near -8.3 dBFS
    y = mp.CHAINS["t_norm"].process(_noise(-1.0), tmp_path)
    assert _peak_db(y) == pytest.approx(-8.3, abs=0.5)


def test_the_open_master_leaves_peaks_unlimited(tmp_path: Path) -> None:
    # no limiter: 6 dB more input comes out louder by what a 1.8:1 compressor leaves (>= 3 dB),
    # past full scale where the music goes there
    quiet, loud = (mp.CHAINS["t_open"].process(_noise(p), tmp_path) for p in (0.0, 6.0))
    assert _peak_db(loud) - _peak_db(quiet) > 3.0
    assert _peak_db(loud) > 0.0


def test_the_loud_run_takes_every_pair_through_the_loud_masters_only() -> None:
    cases = mp.cases(loud=True)
    assert {(m, r, c) for _, c, m, r in cases} == {(m, r, c) for m, r in mp.PAIRS
                                                   for c in mp.LOUD}
    assert not any(mp.CHAINS[c].held_out for _, c, _, _ in cases)


def test_the_loud_masters_are_louder_than_the_loud_tuning_chain_and_pass_0_dbtp(
        tmp_path: Path) -> None:
    from tonemorph.dsp.loudness import integrated_lufs, true_peak_dbtp

    # noise peaking at -20 dBFS: t_loud leaves it 4 dB under full scale; the loud masters take
    # it to the limiter, whose sample peaks let the true peak pass 0 dBTP on the louder one
    x = _noise(-20.0)
    lufs = {c: integrated_lufs(mp.CHAINS[c].process(x, tmp_path), mp.RATE)
            for c in ("t_loud", *mp.LOUD)}
    assert lufs["t_loud"] + 3.0 < lufs["t_hot"] < lufs["t_hotter"]
    y = mp.CHAINS["t_hotter"].process(x, tmp_path)
    assert _peak_db(y) <= 0.05 and true_peak_dbtp(y[:, mp.RATE // 2:], mp.RATE) > 0.5
