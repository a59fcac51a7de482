"""Per-note spectra and the note-by-note static match (features/notes.py), against known
pitches and a scipy filter's response."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from tonemorph.chain.chain import ChainConfig
from tonemorph.features import notes as N
from tonemorph.features.notes import (
    MIN_NOTES,
    NOTE_FFT,
    NOTE_REF_HZ,
    NOTE_STEP,
    NoteSpectra,
    note_matched_db,
    note_spectra,
)
from tonemorph.learn.fit import NoteBands, band_power_db

SR = 48000


def _notes(semitones: list[int], seconds: float = 0.6, seed: int = 0) -> np.ndarray:
    """Held harmonic notes (harmonics to 10 kHz, 1/h) at semitones above 82.41 Hz, in turn."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    out = []
    for s in semitones:
        f0 = 82.41 * 2.0 ** (s / 12)
        note = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) / h
                   for h in range(1, 200) if f0 * h < 10000)
        out.append(0.2 * note * np.exp(-t / 2.0))
    return np.concatenate(out).astype(np.float32)


def test_note_spectra_finds_the_played_notes() -> None:
    x = _notes([0, 7, 12, 19], seconds=1.0)
    ns = note_spectra(x, SR)
    f0 = 82.41 * 2.0 ** (np.array([0, 7, 12, 19]) / 12)
    expected = np.unique(np.round(12 * np.log2(f0 / NOTE_REF_HZ) / NOTE_STEP).astype(int))
    np.testing.assert_array_equal(ns.notes, expected)
    assert np.all(ns.counts >= 10)  # about 1 s of steady frames each
    freqs = np.fft.rfftfreq(NOTE_FFT, 1 / SR)
    for p, hz in zip(ns.power, ns.f0_hz()):
        # the strongest bin is the fundamental (1/h harmonics), within the bin's pitch spread
        assert abs(np.log2(freqs[np.argmax(p)] / hz)) < NOTE_STEP / 12


def test_note_spectra_of_silence_and_of_noise_are_empty() -> None:
    assert note_spectra(np.zeros(SR, np.float32), SR).notes.size == 0
    noise = np.random.default_rng(1).normal(0, 0.1, SR).astype(np.float32)
    assert note_spectra(noise, SR).notes.size == 0
    assert note_spectra(np.zeros(100, np.float32), SR).power.shape == (0, NOTE_FFT // 2 + 1)


def _band_levels(ns: NoteSpectra, band_hz: np.ndarray) -> np.ndarray:
    return np.array([band_power_db(torch.from_numpy(p), band_hz, SR) for p in ns.power])


def test_note_match_recovers_a_filter_that_the_long_term_match_misses() -> None:
    # the example plays low notes the learning take lacks: the long-term spectra differ
    # there by the notes, the note-by-note comparison only by the filter
    sos = scipy.signal.butter(2, [300, 3000], btype="bandpass", fs=SR, output="sos")
    a = scipy.signal.sosfilt(sos, _notes([0, 2, 3, 5, 12, 14, 15, 17, 19], seed=1))
    b = _notes([12, 14, 15, 17, 19, 24, 26, 27, 29], seed=2)
    band_hz = np.geomspace(60, 6000, 40)
    na, nb = note_spectra(a.astype(np.float32), SR), note_spectra(b, SR)
    plain = (band_power_db(torch.from_numpy(na.power.T @ na.counts), band_hz, SR)
             - band_power_db(torch.from_numpy(nb.power.T @ nb.counts), band_hz, SR))
    curve = note_matched_db(_band_levels(na, band_hz), na, _band_levels(nb, band_hz), nb,
                            band_hz, plain)
    assert curve is not None
    _, h = scipy.signal.sosfreqz(sos, worN=band_hz, fs=SR)
    truth = 20 * np.log10(np.abs(h))
    shared = band_hz >= 0.8 * 82.41 * 2 ** (12 / 12)  # excited by the notes both play

    def err(c: np.ndarray, where: np.ndarray) -> float:
        d = (c - truth)[where]
        return float(np.sqrt(np.mean((d - d.mean()) ** 2)))

    assert err(curve, shared) < 2.0
    everywhere = np.ones_like(shared)
    assert err(plain, everywhere) > 1.5 * err(curve, everywhere)
    # below the shared notes the curve holds rather than boosting toward the example's notes
    assert np.max(curve[~shared]) <= curve[shared][0] + 1e-9


def test_note_match_needs_shared_notes_and_holds_below_them() -> None:
    band_hz = np.geomspace(50, 8000, 40)
    k = MIN_NOTES
    notes = NoteSpectra(np.arange(20, 20 + k), np.full(k, 10.0), np.zeros((k, 3)))
    f0 = notes.f0_hz()
    shape = np.sin(np.log(band_hz))  # what the "chain" does
    target_db, output_db = np.tile(shape, (k, 1)) + 3.0, np.zeros((k, band_hz.size))
    low = band_hz < 0.8 * f0.min()
    # the long-term match boosts the unexcited lows by 20 dB: not taken; cuts 20 dB: taken
    for offset, expect in ((20.0, None), (-20.0, -20.0)):
        plain = shape + 3.0
        plain[low] = shape[~low][0] + 3.0 + offset
        curve = note_matched_db(target_db, notes, output_db, notes, band_hz, plain)
        assert curve is not None
        np.testing.assert_allclose(curve[~low] - curve[~low].mean(),
                                   shape[~low] - shape[~low].mean(), atol=1e-6)
        held = curve[~low][0]
        np.testing.assert_allclose(curve[low], held if expect is None else held + expect,
                                   atol=1e-6)
    fewer = NoteSpectra(notes.notes[:-1], notes.counts[:-1], notes.power[:-1])
    assert note_matched_db(target_db[:-1], fewer, output_db[:-1], fewer, band_hz,
                           plain) is None
    rare = NoteSpectra(notes.notes, np.full(k, 2.0), notes.power)  # too few frames each
    assert note_matched_db(target_db, rare, output_db, rare, band_hz, plain) is None


def test_note_spectra_in_blocks_equal_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # the pitch is tracked block by block (bounded memory on a long take): same answer
    x = _notes([0, 5, 7, 12, 17, 19, 24], seconds=0.7, seed=5)
    whole = note_spectra(x, SR)
    monkeypatch.setattr(N, "NOTE_BLOCK_S", 0.9)  # frames split over six blocks
    blocks = note_spectra(x, SR)
    np.testing.assert_array_equal(blocks.notes, whole.notes)
    np.testing.assert_array_equal(blocks.counts, whole.counts)
    np.testing.assert_allclose(blocks.power, whole.power, rtol=1e-12)


def test_plain_share_is_the_notes_variance_over_variance_plus_bias() -> None:
    band_hz = np.geomspace(100, 6400, 7)  # one band per octave: no averaging of the gap
    k, sigma = 6, 2.0
    residual = np.where(np.arange(k)[:, None] % 2 == 0, sigma, -sigma) * np.ones((k, 7))
    w = np.full((k, 7), 10.0)
    gap = np.array([0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
    se2 = sigma ** 2 / (k - 1)  # equal weights: one note one observation
    np.testing.assert_allclose(N._plain_share(residual, w, gap, band_hz),
                               se2 / (se2 + gap ** 2), rtol=1e-9)
    w[:, 3] = 0.0  # no note heard there: nothing to blend
    assert N._plain_share(residual, w, gap, band_hz)[3] == 0.0


def test_note_match_leans_on_the_long_term_match_where_notes_scatter() -> None:
    band_hz = np.geomspace(200, 6000, 40)
    k = 8
    notes = NoteSpectra(np.arange(10, 10 + k), np.full(k, 10.0), np.zeros((k, 3)))
    shape = 6.0 * np.sin(np.log(band_hz))  # what the "chain" does
    rng = np.random.default_rng(3)
    scatter = rng.normal(0.0, 4.0, (k, band_hz.size))  # the notes disagree by ~4 dB
    target_db, output_db = shape + scatter, np.zeros((k, band_hz.size))
    # two takes of the same material: the long-term match is the chain, give or take 0.3 dB
    plain = shape + rng.normal(0.0, 0.3, band_hz.size)
    curve = note_matched_db(target_db, notes, output_db, notes, band_hz, plain)
    assert curve is not None

    def err(c: np.ndarray) -> float:
        d = c - shape
        return float(np.sqrt(np.mean((d - d.mean()) ** 2)))

    notes_only = shape + scatter.mean(0)
    assert err(curve) < 0.75 * err(notes_only)
    # where the long-term match is 12 dB off (another register) the notes are kept
    plain[band_hz < 600] += 12.0
    curve = note_matched_db(target_db, notes, output_db, notes, band_hz, plain)
    low = band_hz < 500
    assert np.max(np.abs((curve - shape)[low] - np.mean((curve - shape)[~low]))) < 5.0


def _held(notes: list[int], counts: list[float]) -> NoteSpectra:
    """Note spectra with only note bins and frame counts (flat spectra)."""
    return NoteSpectra(np.array(notes), np.array(counts, float),
                       np.ones((len(notes), NOTE_FFT // 2 + 1)))


def test_lowest_note_is_the_lowest_one_held_long_enough() -> None:
    f0 = lambda k: NOTE_REF_HZ * 2.0 ** (k * NOTE_STEP / 12)  # noqa: E731
    assert N.lowest_note_hz(_held([9, 5, 3], [40, 30, 20])) == pytest.approx(f0(3))
    # too few frames to be a note (a transition), or too rare beside the rest (a drive's
    # octave-down tracking error): the next one up
    few = N.MIN_FRAMES - 1
    assert N.lowest_note_hz(_held([9, 5, 3], [40, 30, few])) == pytest.approx(f0(5))
    rare = N.MIN_FRAMES + 1  # but under LOW_NOTE_SHARE of 1000 frames
    assert rare < N.LOW_NOTE_SHARE * 1000
    assert N.lowest_note_hz(_held([9, 3], [1000 - rare, rare])) == pytest.approx(f0(9))
    assert N.lowest_note_hz(_held([3], [few])) is None
    assert N.lowest_note_hz(_held([], [])) is None


def test_lowest_note_of_played_notes() -> None:
    # E2 up a fifth and an octave: the lowest held note's bin holds 82.4 Hz
    got = N.lowest_note_hz(note_spectra(_notes([7, 12, 0, 19]), SR))
    assert got is not None and abs(12 * np.log2(got / 82.41)) <= NOTE_STEP / 2 + 0.01


def test_note_bands_resolve_a_low_resonance_the_wide_bands_smear() -> None:
    # a cabinet's low resonance (+12 dB at 130 Hz): compared note by note, the same notes on
    # both sides, narrow bands follow it; the long-term match's half-octave bands flatten it
    b, a = scipy.signal.iirpeak(130, 3, fs=SR)
    played = [0, 2, 3, 5, 7, 9, 10, 12, 14, 15]
    example = _notes(played, seed=1)
    example = (example + 3.0 * scipy.signal.lfilter(b, a, example)).astype(np.float32)
    na, nb = note_spectra(example, SR), note_spectra(_notes(played[::-1], seed=2), SR)
    band_hz = ChainConfig().band_hz()
    _, h = scipy.signal.freqz(b, a, worN=band_hz, fs=SR)
    truth = 20 * np.log10(np.abs(1 + 3 * h))
    plain = (band_power_db(torch.from_numpy(na.power.T @ na.counts), band_hz, SR)
             - band_power_db(torch.from_numpy(nb.power.T @ nb.counts), band_hz, SR))
    low, high = (band_hz > 90) & (band_hz < 400), (band_hz > 1000) & (band_hz < 4000)

    def err(t_db: np.ndarray, in_db: np.ndarray) -> float:
        curve = note_matched_db(t_db, na, in_db, nb, band_hz, plain)
        assert curve is not None
        d = curve - truth
        return float(np.sqrt(np.mean((d[low] - d[high].mean()) ** 2)))

    narrow = err(*NoteBands(na, nb, SR).levels_db(band_hz))
    wide = err(_band_levels(na, band_hz), _band_levels(nb, band_hz))
    assert narrow < 2.5
    assert wide > 1.5 * narrow


def test_note_spread_is_small_where_the_notes_agree_and_large_where_they_do_not() -> None:
    # a filter seen by every note alike (each note its own level): the notes agree exactly;
    # each note's bands scattered by 8 dB on their own: they disagree by about that over the
    # square root of the notes
    band_hz = np.geomspace(100, 8000, 48)
    k = 5
    notes = NoteSpectra(np.arange(10, 10 + k), np.full(k, 10.0), np.zeros((k, 3)))
    shape = 6 * np.sin(np.log(band_hz))
    out_db = np.zeros((k, band_hz.size))
    agree = shape[None] + np.arange(k)[:, None] * 2.0
    assert N.note_match_spread_db(agree, notes, out_db, notes, band_hz) == pytest.approx(
        0.0, abs=1e-6)
    scatter = agree + np.random.default_rng(3).normal(0, 8.0, agree.shape)
    spread = N.note_match_spread_db(scatter, notes, out_db, notes, band_hz)
    assert N.MAX_NOTE_SPREAD_DB < spread < 8.0
    fewer = NoteSpectra(notes.notes[:2], notes.counts[:2], notes.power[:2])
    assert N.note_match_spread_db(agree[:2], fewer, out_db[:2], fewer, band_hz) is None


def test_notes_that_disagree_leave_the_cabinet_to_the_long_term_match() -> None:
    # the same learning take against an example whose notes agree and one whose do not:
    # NoteBands.agree says which, and the cabinet text says why it was matched as it was
    from tonemorph.chain.chain import ToneChain
    from tonemorph.learn.fit import cab_match

    take = note_spectra(_notes([0, 2, 4, 5, 7, 9, 11, 12], seconds=0.5, seed=4), SR)
    rng = np.random.default_rng(5)
    octave = np.log2(np.maximum(np.fft.rfftfreq(NOTE_FFT, 1 / SR), 1.0))
    ripple_db = 24.0 * np.sin(2 * np.pi * octave[None] + rng.uniform(0, 6.3, (take.notes.size, 1)))
    scattered = NoteSpectra(take.notes, take.counts, take.power * 10 ** (ripple_db / 10))
    chain = ToneChain(ChainConfig(stages=("pre_eq", "cab")))
    band_hz = chain.cfg.band_hz()
    same, apart = NoteBands(take, take, SR), NoteBands(scattered, take, SR)
    assert same.agree(band_hz) and same.spread_db(band_hz) == pytest.approx(0.0, abs=1e-6)
    assert not apart.agree(band_hz) and apart.spread_db(band_hz) > N.MAX_NOTE_SPREAD_DB
    assert cab_match(chain, same).startswith("note by note")
    assert "disagree by" in cab_match(chain, apart)


def test_a_moved_spectrum_keeps_its_power_with_its_partials_moved() -> None:
    p = np.zeros(NOTE_FFT // 2 + 1)
    p[100], p[300] = 4.0, 1.0
    for ratio in (2.0, 0.5, 2 ** (5 / 12)):
        moved = N._moved(p, ratio)
        assert moved.sum() == pytest.approx(p.sum())
        assert abs(int(np.argmax(moved)) - 100 * ratio) < 1.0
        upper = moved[int(200 * ratio):]  # the second partial, a quarter of the first
        assert abs(int(np.argmax(upper)) + int(200 * ratio) - 300 * ratio) < 1.0
    np.testing.assert_array_equal(N._moved(p, 1.0), p)


def test_transposition_is_nothing_when_the_takes_play_the_same_notes() -> None:
    x = _notes([0, 3, 5, 7, 12], seconds=0.7, seed=3)
    ns = note_spectra(x, SR)
    as_target, as_played = N.transposed_power(ns, ns)
    np.testing.assert_allclose(as_target, as_played, rtol=1e-12)
    few = NoteSpectra(ns.notes[: MIN_NOTES - 1], ns.counts[: MIN_NOTES - 1],
                      ns.power[: MIN_NOTES - 1])
    assert N.transposed_power(few, ns) is None and N.transposed_power(ns, few) is None
    bands = NoteBands(ns, ns, SR)
    np.testing.assert_allclose(bands.transposition_db(np.geomspace(60, 8000, 30)), 0.0,
                               atol=1e-9)
    assert NoteBands(few, ns, SR).transposition_db(np.geomspace(60, 8000, 30)) is None


def test_transposition_takes_the_register_out_of_a_long_term_match() -> None:
    # the example plays two octaves above the learning take, no note in common: the
    # long-term match reads the register as the filter (14 dB rms off); with the take's notes
    # moved to the example's what is left is the filter (4 dB: the notes' partials, not a
    # smooth spectrum, sample it)
    sos = scipy.signal.butter(2, [200, 4000], btype="bandpass", fs=SR, output="sos")
    a = scipy.signal.sosfilt(sos, _notes([24, 26, 29, 31, 33, 36], seed=7)).astype(np.float32)
    b = _notes([0, 2, 5, 7, 9, 11], seed=8)
    band_hz = np.geomspace(100, 6000, 40)
    na, nb = note_spectra(a, SR), note_spectra(b, SR)
    assert N.shared_notes(na, nb) < MIN_NOTES

    def long_term(ns: NoteSpectra) -> np.ndarray:
        return band_power_db(torch.from_numpy(ns.power.T @ ns.counts), band_hz, SR)

    plain = long_term(na) - long_term(nb)
    moved = NoteBands(na, nb, SR).transposition_db(band_hz)
    _, h = scipy.signal.sosfreqz(sos, worN=band_hz, fs=SR)
    truth = 20 * np.log10(np.abs(h))

    def err(c: np.ndarray) -> float:
        d = c - truth
        return float(np.sqrt(np.mean((d - d.mean()) ** 2)))

    assert err(plain) > 10.0 and err(plain - moved) < 0.35 * err(plain)
