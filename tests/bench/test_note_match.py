"""bench/bench_note_match.py: the static match of a case whose chain is a known filter comes
out at that filter, and the error measure on curves with a known answer."""

from __future__ import annotations

import bench_note_match as nm
import numpy as np
import scipy.signal
import soundfile as sf

from tonemorph.chain.config import ChainConfig

BAND_HZ = ChainConfig(sample_rate=nm.SR).band_hz()


def _line(notes_hz: list[float], seconds_each: float, seed: int) -> np.ndarray:
    """A monophonic line of harmonic notes (partials up to 18 kHz at 1/k, random phases) over
    a -80 dBFS hiss, at nm.SR: a band with no partial in it holds the hiss, not nothing."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds_each * nm.SR)) / nm.SR
    out = [0.2 * np.exp(-2.0 * t) * sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) / k
                                        for k in range(1, int(18000 / f0)))
           for f0 in notes_hz]
    x = np.concatenate(out)
    return (x + 1e-4 * rng.standard_normal(x.size)).astype(np.float32)


def test_a_known_filter_is_found(tmp_path) -> None:
    # the chain: a resonance at 1.2 kHz; A and B play the same notes in another order
    b, a = scipy.signal.iirpeak(1200.0, 2.0, fs=nm.SR)

    def chain(x: np.ndarray) -> np.ndarray:
        return (x + 1.8 * scipy.signal.lfilter(b, a, x)).astype(np.float32)

    notes = [196.0, 220.0, 247.0, 262.0, 294.0, 330.0]
    a_in, b_in = _line(notes, 1.5, 0), _line(notes[::-1], 1.5, 1)
    for name, x in (("A_target", chain(a_in)), ("B_input", b_in), ("B_truth", chain(b_in))):
        sf.write(tmp_path / f"{name}.wav", x, nm.SR, subtype="FLOAT")
    curves = nm.curves(tmp_path)
    at = int(np.argmin(np.abs(BAND_HZ - 1200.0)))
    assert curves["truth"][at] - np.median(curves["truth"]) > 6.0  # the resonance is there
    err = nm.errors(curves, BAND_HZ)
    assert err["notes"] < 1.0 and err["plain"] < 1.0  # same notes: both find it


def test_errors_are_rms_over_their_bands() -> None:
    truth = np.sin(np.arange(BAND_HZ.size))
    mid = (BAND_HZ > 100) & (BAND_HZ < 8000)
    low = (BAND_HZ >= 80) & (BAND_HZ <= 400)
    off = np.where(mid, 3.0, 40.0)  # far off outside the scored range: not counted
    err = nm.errors({"truth": truth, "plain": truth + off, "notes": truth - off}, BAND_HZ)
    assert np.isclose(err["plain"], 3.0) and np.isclose(err["notes"], 3.0)
    expected_low = np.sqrt(np.mean(np.where(mid, 3.0, 40.0)[low] ** 2))
    assert np.isclose(err["plain_low"], expected_low)
